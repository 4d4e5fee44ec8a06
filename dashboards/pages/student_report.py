"""Student report: a student's ability (θ) over time with its 95 % interval, her skill profile,
and the lessons that address her weakest skills.

A student opens it for herself only (the policy's row filter for her is `student_key = her key`:
the marts come from the lake and know students by pseudonymous key, which the dashboards compute
from her id at sign-in); a teacher chooses among the students of her classes; an admin among
every student with data. The chosen student's key is computed at render time and the marts are
read by it; names come from `users.accounts`, never from `analytics`.
Marts: `fct_student_ability` (the page's policy dataset), `fct_student_skill_mastery`,
`agg_lesson_skills` (lessons naming a skill or cited by the tutor about it), limited to the
published lessons of courses assigned to the student's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    filter_select,
    grid,
    kpis,
)
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)
from dashboards.pages.scope import (
    member_names,
    person_key,
    scoped_sql,
    short_id,
    student_names_by_key,
    user_names,
)

NAME = "student_report"
TITLE = "Student report"
DESCRIPTION = (
    "Ability (θ) over time with its 95 % interval, skill profile, and lessons for the weakest"
    " skills."
)
BY_STUDENT = {"student_key": "student_key", "class_id": "class_id"}
WEAKEST = 3
MAX_ROWS = 2_000


@dataclass(slots=True)
class StudentView:
    student_id: str
    students: dict[str, str] = field(default_factory=dict)  # id -> name, the visible ones
    ability: list[dict[str, Any]] = field(default_factory=list)
    skills: list[dict[str, Any]] = field(default_factory=list)
    lessons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def weakest(self) -> list[str]:
        open_skills = [s for s in self.skills if not s["is_mastered"]]
        return [str(s["skill"]) for s in open_skills[:WEAKEST]]


async def visible_students(ctx: PageContext, access: PageAccess) -> dict[str, str]:
    """Students whose report the caller may open: herself; a teacher's class members; all."""
    subject = access.subject
    if subject.role == "student":
        return await user_names(ctx, [subject.user_id] if subject.user_id else [])
    if access.row_filter.mode == "all":
        rows = await ctx.resources.fetch_all(
            "select student_key from analytics.fct_student_ability"
            " union select student_key from analytics.fct_student_skill_mastery limit 2000"
        )
        return await student_names_by_key(ctx, [str(r["student_key"]) for r in rows])
    classes = [v for c in access.row_filter.conditions if c.column == "class_id" for v in c.values]
    names = await member_names(ctx, classes)
    return {k: v for k, v in names.items() if len(k) == 36}  # ids, not lake pseudonyms


async def load_view(ctx: PageContext, access: PageAccess, student_id: str) -> StudentView:
    students = await visible_students(ctx, access)
    ordered = dict(sorted(students.items(), key=lambda kv: kv[1]))
    fetch = ctx.resources.fetch_all
    p, pp = scoped_sql(access.row_filter, BY_STUDENT, alias="a")
    chosen = student_id if student_id in ordered else ""
    if not chosen and len(ordered) > 1:
        # No choice yet: open on the first (by name) whose θ the page can show, not on a
        # student with no scored exam (most of a class, until IRT-scored exams are taken).
        scored = await fetch(
            sql.SQL(
                "select distinct a.student_key from analytics.fct_student_ability a where {p}"
            ).format(p=p),
            pp,
        )
        with_theta = {str(r["student_key"]) for r in scored}
        chosen = next((k for k in ordered if person_key(ctx, k) in with_theta), "")
    chosen = chosen or next(iter(ordered), "")
    view = StudentView(chosen, ordered)
    key = person_key(ctx, chosen)
    if not chosen or key is None:
        return view
    view.ability = await fetch(
        sql.SQL(
            "select a.exam_title, a.theta, a.theta_se, a.theta_lower_95, a.theta_upper_95,"
            " a.completed_at from analytics.fct_student_ability a"
            " where a.student_key = %s and {p} order by a.completed_at limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [key, *pp],
    )
    p, pp = scoped_sql(access.row_filter, BY_STUDENT, alias="m")
    view.skills = await fetch(
        sql.SQL(
            "select m.skill, sum(m.response_count) as response_count,"
            " sum(m.correct_count) as correct_count,"
            " round((sum(m.correct_count) + 1)::numeric / (sum(m.response_count) + 2), 4)"
            " as mastery_estimate, bool_and(m.is_mastered) as is_mastered"
            " from analytics.fct_student_skill_mastery m where m.student_key = %s and {p}"
            " group by m.skill order by mastery_estimate, m.skill limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [key, *pp],
    )
    if view.weakest:
        view.lessons = await fetch(
            "select l.skill, l.lesson_title, c.title as course_title, l.mentions_skill,"
            " l.tutor_citations from analytics.agg_lesson_skills l"
            " join learning.courses c on c.course_id = l.course_id"
            " where l.skill = any(%s) and l.course_id in (select cc.course_id"
            " from learning.course_classes cc join classes.memberships m"
            " on m.class_id = cc.class_id where m.student_id::text = %s)"
            " order by array_position(%s, l.skill), l.tutor_citations desc, l.lesson_title"
            " limit 50",
            (view.weakest, chosen, view.weakest),
        )
    return view


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> StudentView:
    return await load_view(ctx, access, request.query_params.get("student", ""))


# -- rendering ---------------------------------------------------------------------------------


def ability_chart(view: StudentView) -> TagChild:
    if not view.ability:
        return empty_state(
            "no scored exams yet; θ appears once an adaptive or IRT-scored exam ends."
        )
    x = [r["completed_at"] for r in view.ability]
    theta = [as_float(r["theta"]) for r in view.ability]
    lower = [as_float(r["theta_lower_95"]) for r in view.ability]
    upper = [as_float(r["theta_upper_95"]) for r in view.ability]
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
    )
    fig.add_scatter(
        x=x,
        y=lower,
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(31,119,180,0.2)",
        name="95 % interval",
    )
    fig.add_scatter(
        x=x,
        y=theta,
        mode="lines+markers",
        name="θ",
        text=[str(r["exam_title"]) for r in view.ability],
    )
    fig.update_layout(xaxis={"title": {"text": "completed"}}, yaxis={"title": {"text": "θ"}})
    return chart(fig, "Ability θ after each scored exam, with its 95 % interval (shaded).")


def skills_chart(view: StudentView) -> TagChild:
    if not view.skills:
        return empty_state("no answers to skill-tagged items yet.")
    fig = go.Figure()
    fig.add_bar(
        x=[as_float(s["mastery_estimate"]) for s in view.skills],
        y=[str(s["skill"]) for s in view.skills],
        orientation="h",
        marker={"color": ["#2e7d32" if s["is_mastered"] else "#c62828" for s in view.skills]},
        text=[f"{s['correct_count']}/{s['response_count']}" for s in view.skills],
    )
    fig.update_layout(xaxis={"title": {"text": "mastery"}, "range": [0, 1]})
    return chart(
        fig,
        "Skill profile: smoothed share correct (green = mastered), weakest first.",
        height=max(220, 30 * len(view.skills) + 100),
    )


LESSON_COLUMNS = (
    Column("skill", "skill"),
    Column("lesson_title", "lesson"),
    Column("course_title", "course"),
    Column("why", "why"),
)


def lessons_table(view: StudentView) -> Tag:
    rows = [
        {
            **r,
            "why": ", ".join(
                x
                for x in (
                    "names the skill" if r["mentions_skill"] else "",
                    f"cited by the tutor {r['tutor_citations']}×" if r["tutor_citations"] else "",
                )
                if x
            ),
        }
        for r in view.lessons
    ]
    weakest = ", ".join(view.weakest) or "none"
    return data_table(
        "student-lessons",
        LESSON_COLUMNS,
        rows,
        caption=f"Lessons for the weakest skills ({weakest})",
        empty="no published lesson of the student's courses addresses these skills yet.",
        csv_name="student_lessons.csv",
    )


def view_body(view: StudentView) -> TagChild:
    if not view.student_id:
        return empty_state("no student to report on yet.")
    latest = view.ability[-1] if view.ability else None
    interval = (
        f"{as_float(latest['theta_lower_95']):.2f} to {as_float(latest['theta_upper_95']):.2f}"
        if latest and latest["theta_lower_95"] is not None
        else None
    )
    mastered = sum(1 for s in view.skills if s["is_mastered"])
    return ui.TagList(
        kpis(
            ("Student", view.students.get(view.student_id, short_id(view.student_id))),
            (
                "Latest θ",
                "—" if latest is None else f"{as_float(latest['theta']):.2f}",
                f"95 % interval {interval}" if interval else "",
            ),
            ("Scored exams", str(len(view.ability))),
            ("Skills mastered", f"{mastered} of {len(view.skills)}"),
            ("Weakest skill", view.weakest[0] if view.weakest else "—"),
        ),
        grid(card("Ability over time", ability_chart(view)), card("Skills", skills_chart(view))),
        card("Lessons for the weakest skills", lessons_table(view)),
    )


def filter_bar(view: StudentView) -> list[TagChild]:
    if len(view.students) <= 1:
        return []
    return [filter_select("student", "Student", view.students, view.student_id)]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        StudentView,
        title=TITLE,
        description=DESCRIPTION,
        output_id="student_view",
        body=view_body,
        filters=filter_bar,
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def current() -> StudentView:
            if access is None:  # fail closed
                return StudentView("")
            chosen = str(input.student()) if "student" in input else ""
            return await load_view(ctx, access, chosen)

        @render.ui
        async def student_view() -> TagChild:
            return view_body(await current())

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(name=NAME, title=TITLE, description=DESCRIPTION, build=build, preload=preload)

__all__ = ["PAGE", "StudentView", "load_view"]
