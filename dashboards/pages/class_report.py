"""Class report for teachers: per student the latest θ with its 95 % interval, the θ trend, skill
mastery, assignment completion and lateness, at-risk flags with their reasons, and exam score
distributions. Filters: class, exam, date range (persisted in the URL).

Marts (transforms/dbt/models/marts): `agg_student_risk` (the page's policy dataset: one row per
class member), `fct_student_ability`, `fct_student_skill_mastery`, `agg_assignment_completion`,
`fct_exam_attempts`. Every query carries the page's row filter (a teacher: the classes she
teaches) mapped onto the mart's columns (`dashboards.pages.scope.scoped_sql`). The marts know
students by pseudonymous key only (built from the lake); names are joined at render time, for
the members of the class in view only: their ids (OLTP `classes.memberships`) are hashed with
the lake's key (`member_names`), so names never enter `analytics`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
from htmltools import Tag, TagChild
from psycopg import sql
from shiny import App, Inputs, Outputs, Session, reactive, render, ui
from starlette.requests import Request

from dashboards.access import PageAccess
from dashboards.components import (
    Column,
    as_float,
    card,
    chart,
    data_table,
    empty_state,
    filter_date,
    filter_select,
    grid,
    kpis,
    pct,
    query_date,
)
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)
from dashboards.pages.scope import member_names, scoped_sql, short_id

NAME = "class_report"
TITLE = "Class report"
DESCRIPTION = (
    "Per student: latest ability (θ) with its 95 % interval, trend, skill mastery, assignments"
    " and at-risk flags; exam score distributions."
)
ALL = "all"
MAX_ROWS = 5_000
#: The policy dataset's columns (agg_student_risk) a row filter may name, mapped per mart.
BY_CLASS_AND_STUDENT = {"class_id": "class_id", "student_key": "student_key"}
BY_CLASS = {"class_id": "class_id"}
#: Students drawn in the trend and the heatmap (those listed first: at risk, lowest θ).
MAX_PLOTTED = 40
#: Without dates in the URL the report covers the last year (a date input always has a value).
DEFAULT_DAYS = 365


@dataclass(frozen=True, slots=True)
class Filters:
    class_id: str
    exam_id: str = ALL
    since: date | None = None
    until: date | None = None


@dataclass(slots=True)
class ClassReport:
    filters: Filters
    classes: dict[str, str] = field(default_factory=dict)  # class_id -> name (visible ones)
    exams: dict[str, str] = field(default_factory=dict)  # exam_id -> title (chosen class)
    names: dict[str, str] = field(default_factory=dict)
    students: list[dict[str, Any]] = field(default_factory=list)
    ability: list[dict[str, Any]] = field(default_factory=list)
    mastery: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)

    def name(self, student_key: Any) -> str:
        return self.names.get(str(student_key), short_id(str(student_key)))

    def plotted(self, student_keys: set[str]) -> list[str]:
        """Up to MAX_PLOTTED of `student_keys`, in the students table's order (at risk first)."""
        order = {str(r["student_key"]): k for k, r in enumerate(self.students)}
        ranked = sorted(student_keys, key=lambda s: (order.get(s, len(order)), self.name(s)))
        return ranked[:MAX_PLOTTED]

    def plotted_note(self, shown: int, total: int) -> str:
        return "" if shown == total else f" The first {shown} of {total} students (at risk first)."


async def visible_classes(ctx: PageContext, access: PageAccess) -> dict[str, str]:
    predicate, params = scoped_sql(access.row_filter, BY_CLASS_AND_STUDENT, alias="r")
    query = sql.SQL(
        "select distinct r.class_id::text as class_id, coalesce(c.name, r.class_id::text) as name"
        " from analytics.agg_student_risk r left join classes.classes c on c.class_id = r.class_id"
        " where {p} order by name limit 500"
    ).format(p=predicate)
    rows = await ctx.resources.fetch_all(query, params)
    return {str(r["class_id"]): str(r["name"]) for r in rows}


def _period(alias: str, column: str, f: Filters) -> tuple[sql.Composable, list[Any]]:
    col = sql.Identifier(alias, column)
    return (
        sql.SQL(
            "({s}::date is null or {c} >= {s}::date) and ({u}::date is null or {c} < {u}::date + 1)"
        ).format(c=col, s=sql.Placeholder(), u=sql.Placeholder()),
        [f.since, f.since, f.until, f.until],
    )


async def load_report(ctx: PageContext, access: PageAccess, f: Filters) -> ClassReport:
    report = ClassReport(f)
    report.classes = await visible_classes(ctx, access)
    if f.class_id not in report.classes:
        f = Filters(next(iter(report.classes), ""), f.exam_id, f.since, f.until)
        report.filters = f
    if not f.class_id:
        return report
    fetch = ctx.resources.fetch_all
    rf = access.row_filter
    exams = await fetch(
        "select exam_id::text as exam_id, title from exams.exams where class_id = %s"
        " order by created_at, title limit 500",
        (f.class_id,),
    )
    report.exams = {str(r["exam_id"]): str(r["title"]) for r in exams}
    if f.exam_id != ALL and f.exam_id not in report.exams:
        f = Filters(f.class_id, ALL, f.since, f.until)
        report.filters = f
    exam = None if f.exam_id == ALL else f.exam_id
    report.names = await member_names(ctx, [f.class_id])

    p, pp = scoped_sql(rf, BY_CLASS_AND_STUDENT, alias="r")
    report.students = await fetch(
        sql.SQL(
            "select * from analytics.agg_student_risk r where r.class_id = %s and {p}"
            " order by r.is_at_risk desc, r.is_low desc, r.is_falling desc,"
            " r.latest_theta nulls last, r.days_inactive desc limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [f.class_id, *pp],
    )
    p, pp = scoped_sql(rf, BY_CLASS_AND_STUDENT, alias="a")
    when, wp = _period("a", "completed_at", f)
    report.ability = await fetch(
        sql.SQL(
            "select a.student_key, a.exam_title, a.theta, a.theta_se,"
            " a.theta_lower_95, a.theta_upper_95, a.completed_at"
            " from analytics.fct_student_ability a where a.class_id = %s and {p} and {w}"
            " and (%s::text is null or a.exam_id::text = %s) order by a.completed_at limit {n}"
        ).format(p=p, w=when, n=sql.Literal(MAX_ROWS)),
        [f.class_id, *pp, *wp, exam, exam],
    )
    p, pp = scoped_sql(rf, BY_CLASS_AND_STUDENT, alias="m")
    report.mastery = await fetch(
        sql.SQL(
            "select m.student_key, m.skill, m.mastery_estimate,"
            " m.response_count, m.is_mastered from analytics.fct_student_skill_mastery m"
            " where m.class_id = %s and {p} order by m.skill limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [f.class_id, *pp],
    )
    p, pp = scoped_sql(rf, BY_CLASS, alias="g")
    # assignments open during the period: due on or after its start, opened before its end
    when = sql.SQL(
        "(%s::date is null or g.due_at >= %s::date) and (%s::date is null or g.open_at < %s::date + 1)"
    )
    wp = [f.since, f.since, f.until, f.until]
    report.assignments = await fetch(
        sql.SQL(
            "select coalesce(s.title, g.assignment_id::text) as title, g.assignment_kind,"
            " g.due_at, g.students_targeted, g.handed_in, g.handed_in_on_time, g.handed_in_late,"
            " g.completion_rate, g.late_rate from analytics.agg_assignment_completion g"
            " left join assignments.assignments s on s.assignment_id = g.assignment_id"
            " where g.class_id = %s and {p} and {w} order by g.due_at desc limit {n}"
        ).format(p=p, w=when, n=sql.Literal(MAX_ROWS)),
        [f.class_id, *pp, *wp],
    )
    p, pp = scoped_sql(rf, BY_CLASS_AND_STUDENT, alias="x")
    when, wp = _period("x", "completed_at", f)
    report.scores = await fetch(
        sql.SQL(
            "select x.exam_id::text as exam_id, x.score_pct from analytics.fct_exam_attempts x"
            " where x.class_id = %s and {p} and {w} and x.score_pct is not null"
            " and (%s::text is null or x.exam_id::text = %s) limit {n}"
        ).format(p=p, w=when, n=sql.Literal(MAX_ROWS * 10)),
        [f.class_id, *pp, *wp, exam, exam],
    )
    return report


def default_period(today: date | None = None) -> tuple[date, date]:
    """The date range shown when the URL names none: the last DEFAULT_DAYS days."""
    end = today or datetime.now(UTC).date()
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def filters_from(request: Request) -> Filters:
    since, until = default_period()
    return Filters(
        class_id=request.query_params.get("class", ""),
        exam_id=request.query_params.get("exam", ALL) or ALL,
        since=query_date(request, "since") or since,
        until=query_date(request, "until") or until,
    )


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> ClassReport:
    return await load_report(ctx, access, filters_from(request))


# -- rendering ---------------------------------------------------------------------------------


def _num(value: Any, digits: int = 2) -> str:
    x = as_float(value)
    if x is None:
        return "—"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.00"


def flags_text(row: dict[str, Any]) -> str:
    raised = [n for n in ("low", "falling", "inactive") if row.get(f"is_{n}")]
    return ", ".join(raised) if raised else "—"


STUDENT_COLUMNS = (
    Column("student", "student"),
    Column("latest_theta", "latest θ", "number", fmt=_num),
    Column("interval", "95 % interval"),
    Column("estimated_attempts", "attempts with θ", "number"),
    Column("theta_slope", "θ slope / attempt", "number", fmt=_num),
    Column("last_active_on", "last active", "date"),
    Column("flags", "at risk"),
    Column("risk_reasons", "why"),
)


def students_table(report: ClassReport) -> Tag:
    rows = [
        {
            **r,
            "student": report.name(r["student_key"]),
            "interval": (
                "—"
                if r["latest_theta_lower_95"] is None
                else f"{_num(r['latest_theta_lower_95'])} to {_num(r['latest_theta_upper_95'])}"
            ),
            "flags": flags_text(r),
        }
        for r in report.students
    ]
    return data_table(
        "class-students",
        STUDENT_COLUMNS,
        rows,
        caption="Students, at risk first",
        empty="this class has no members yet.",
        csv_name="class_report_students.csv",
    )


def trend_chart(report: ClassReport) -> TagChild:
    if not report.ability:
        return empty_state(
            "no scored attempts in this period; θ appears once students finish exams."
        )
    by_student: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in report.ability:
        by_student[str(r["student_key"])].append(r)
    fig = go.Figure()
    shown = report.plotted(set(by_student))
    for student in shown:
        rows = by_student[student]
        fig.add_scatter(
            x=[r["completed_at"] for r in rows],
            y=[as_float(r["theta"]) for r in rows],
            error_y={
                "type": "data",
                "array": [1.96 * (as_float(r["theta_se"]) or 0.0) for r in rows],
                "visible": True,
            },
            mode="lines+markers",
            name=report.name(student),
            text=[str(r["exam_title"]) for r in rows],
        )
    fig.update_layout(xaxis={"title": {"text": "completed"}}, yaxis={"title": {"text": "θ"}})
    return chart(
        fig,
        "θ per completed attempt with its 95 % interval (error bars), by student."
        + report.plotted_note(len(shown), len(by_student)),
    )


def mastery_chart(report: ClassReport) -> TagChild:
    if not report.mastery:
        return empty_state("no answers to skill-tagged items yet.")
    skills = sorted({str(r["skill"]) for r in report.mastery})
    everyone = {str(r["student_key"]) for r in report.mastery}
    students = report.plotted(everyone)
    cell = {
        (str(r["student_key"]), str(r["skill"])): as_float(r["mastery_estimate"])
        for r in report.mastery
    }
    fig = go.Figure(
        go.Heatmap(
            z=[[cell.get((s, k)) for k in skills] for s in students],
            x=skills,
            y=[report.name(s) for s in students],
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            colorbar={"title": {"text": "mastery"}},
        )
    )
    fig.update_layout(yaxis={"autorange": "reversed"})  # the students table's order, top down
    return chart(
        fig,
        "Skill mastery per student (Laplace-smoothed share correct; green = mastered)."
        + report.plotted_note(len(students), len(everyone)),
        height=max(260, 28 * len(students) + 120),
    )


ASSIGNMENT_COLUMNS = (
    Column("title", "assignment"),
    Column("assignment_kind", "kind"),
    Column("due_at", "due", "date"),
    Column("students_targeted", "students", "number"),
    Column("handed_in", "handed in", "number"),
    Column("handed_in_late", "late", "number"),
    Column("completion_rate", "completion", "number", fmt=pct),
    Column("late_rate", "late share", "number", fmt=pct),
)


def assignments_table(report: ClassReport) -> Tag:
    return data_table(
        "class-assignments",
        ASSIGNMENT_COLUMNS,
        report.assignments,
        caption="Assignments: completion and lateness",
        empty="no assignments open in this period.",
        csv_name="class_report_assignments.csv",
    )


def scores_chart(report: ClassReport) -> TagChild:
    if not report.scores:
        return empty_state("no completed exams in this period.")
    by_exam: dict[str, list[float]] = defaultdict(list)
    for r in report.scores:
        by_exam[str(r["exam_id"])].append(100 * (as_float(r["score_pct"]) or 0.0))
    fig = go.Figure()
    for exam_id, values in sorted(by_exam.items(), key=lambda kv: report.exams.get(kv[0], kv[0])):
        fig.add_histogram(
            x=values,
            name=report.exams.get(exam_id, short_id(exam_id)),
            xbins={"start": 0, "end": 100.01, "size": 10},
            opacity=0.75,
        )
    fig.update_layout(
        barmode="overlay",
        xaxis={"title": {"text": "score %"}, "range": [0, 100]},
        yaxis={"title": {"text": "attempts"}},
    )
    return chart(fig, "Exam score distribution (completed attempts, 10-point bins), by exam.")


def report_body(report: ClassReport) -> TagChild:
    if not report.classes:
        return empty_state(
            "no class to report on: your classes appear here once they have members and the"
            " marts are refreshed (`dreamseed pipeline`)."
        )
    at_risk = sum(1 for r in report.students if r["is_at_risk"])
    thetas = [t for r in report.students if (t := as_float(r["latest_theta"])) is not None]
    handed = sum(int(r["handed_in"] or 0) for r in report.assignments)
    targeted = sum(int(r["students_targeted"] or 0) for r in report.assignments)
    return ui.TagList(
        kpis(
            ("Students", str(len(report.students))),
            ("At risk", str(at_risk), "low, falling or inactive"),
            ("Mean latest θ", f"{sum(thetas) / len(thetas):.2f}" if thetas else "—"),
            ("Assignment completion", pct(handed / targeted) if targeted else "—"),
        ),
        card("Students", students_table(report)),
        grid(
            card("θ over time", trend_chart(report)),
            card("Skill mastery", mastery_chart(report)),
        ),
        grid(
            card("Assignments", assignments_table(report)),
            card("Exam scores", scores_chart(report)),
        ),
    )


def filter_bar(report: ClassReport) -> list[TagChild]:
    f = report.filters
    classes = report.classes or {"": "(no class)"}
    return [
        filter_select("class", "Class", classes, f.class_id),
        filter_select("exam", "Exam", {ALL: "All exams", **report.exams}, f.exam_id),
        filter_date("since", "From", f.since),
        filter_date("until", "To", f.until),
    ]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        ClassReport,
        title=TITLE,
        description=DESCRIPTION,
        output_id="report",
        body=report_body,
        filters=filter_bar,
    )


def _date(value: Any) -> date | None:
    return value if isinstance(value, date) else None


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def current() -> ClassReport:
            if access is None:  # fail closed: the gate did not vouch for this session
                return ClassReport(Filters(""))
            f = Filters(
                str(input["class"]() or ""),
                str(input.exam() or ALL),
                _date(input.since()),
                _date(input.until()),
            )
            return await load_report(ctx, access, f)

        @reactive.effect
        async def _exams() -> None:
            report = await current()
            ui.update_select(
                "exam", choices={ALL: "All exams", **report.exams}, selected=report.filters.exam_id
            )

        @render.ui
        async def report() -> TagChild:
            return report_body(await current())

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(name=NAME, title=TITLE, description=DESCRIPTION, build=build, preload=preload)

__all__ = ["PAGE", "ClassReport", "Filters", "load_report"]
