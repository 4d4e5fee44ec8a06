"""Admin / analyst — usage: active students and teachers, exams, lessons and tutor sessions, by
class, from the dbt marts `agg_engagement_daily` / `agg_engagement_weekly` (attempts and
responses), `agg_content_engagement` (lesson views and completions), `agg_tutor_usage` (tutor
sessions) and, for teachers (no mart holds them), distinct teacher ids per day in the decision log.

Rows come through the policy's row filter for the page's dataset (`analytics.agg_engagement_daily`,
column `class_id`), applied to every mart alike; the teacher count only with an unfiltered view.
Nothing here names a student: counts by class and day only (the analyst's view holds no keys).
A mart that has not been built yet shows its empty state, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
from htmltools import Tag, TagChild
from psycopg import sql
from shiny import App, Inputs, Outputs, Session, reactive, render, ui
from starlette.requests import Request

from dashboards.access import PageAccess, row_filter_sql
from dashboards.components import (
    Column,
    card,
    chart,
    data_table,
    empty_state,
    filter_select,
    kpis,
    query_choice,
)
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)

NAME = "usage"
TITLE = "Usage"
DESCRIPTION = "Active students and teachers, exams, lessons and tutor sessions, by class."
PERIODS = {"30": "Last 30 days", "90": "Last 90 days", "365": "Last 365 days", "all": "All time"}
DEFAULT_PERIOD = "90"
GRAINS = {"day": "Per day", "week": "Per week"}
DEFAULT_GRAIN = "day"
FILTER_COLUMNS = frozenset({"class_id"})
MARTS = (
    "analytics.agg_engagement_daily",
    "analytics.agg_engagement_weekly",
    "analytics.agg_content_engagement",
    "analytics.agg_tutor_usage",
)
NO_MART = "the usage marts are built by the pipeline (`dreamseed pipeline`, or `make demo`)."


@dataclass(frozen=True, slots=True)
class UsageView:
    period: str
    grain: str
    series: tuple[dict[str, Any], ...]  # per day or week: active students, attempts
    classes: tuple[dict[str, Any], ...]  # per class over the period
    teachers: tuple[dict[str, Any], ...]  # per day: active teachers (unfiltered view only)
    built: bool
    teachers_shown: bool = False


def since_for(period: str, today: date | None = None) -> date | None:
    if period == "all":
        return None
    days = int(period) if period in PERIODS else int(DEFAULT_PERIOD)
    return (today or datetime.now(UTC).date()) - timedelta(days=days - 1)


SERIES = """
select {day} as day, sum(m.active_students) as active_students,
       sum(m.attempts_completed) as attempts_completed, sum(m.response_count) as responses
from {mart} m where {predicate} and ({since}::date is null or {day} >= {since}::date)
group by 1 order by 1
"""

CLASSES = """
with e as (
    select m.class_id, max(m.active_students) as peak_weekly_active,
           sum(m.attempts_completed) as attempts_completed, sum(m.response_count) as responses,
           round(sum(m.minutes_on_task)::numeric, 1) as minutes_on_task
    from analytics.agg_engagement_weekly m
    where {predicate} and ({since}::date is null or m.week_start >= {since}::date - 6)
    group by m.class_id
), t as (
    select m.class_id, sum(m.sessions) as tutor_sessions, sum(m.turns) as tutor_turns
    from analytics.agg_tutor_usage m
    where {predicate} and ({since}::date is null or m.usage_on >= {since}::date)
    group by m.class_id
), l as (
    select m.class_id, sum(m.views) as lesson_views, sum(m.completers) as lesson_completions
    from analytics.agg_content_engagement m where {predicate} group by m.class_id
)
select coalesce(c.name, k.class_id::text, '(no class)') as class_name, k.class_id::text,
       e.peak_weekly_active, e.attempts_completed, e.responses, e.minutes_on_task,
       t.tutor_sessions, t.tutor_turns, l.lesson_views, l.lesson_completions
from (select class_id from e union select class_id from t union select class_id from l) k
left join e on e.class_id is not distinct from k.class_id
left join t on t.class_id is not distinct from k.class_id
left join l on l.class_id is not distinct from k.class_id
left join classes.classes c on c.class_id = k.class_id
order by class_name
"""

TEACHERS = """
select decided_at::date as day, count(distinct subject_id) as active_teachers
from governance.decisions
where subject_role = 'teacher' and allowed and (%s::date is null or decided_at >= %s::date)
group by 1 order by 1
"""


async def built(ctx: PageContext) -> bool:
    rows = await ctx.resources.fetch_all(
        "select bool_and(to_regclass(name) is not null) as ok from unnest(%s::text[]) as name",
        (list(MARTS),),
    )
    return bool(rows and rows[0]["ok"])


async def load_view(ctx: PageContext, access: PageAccess, period: str, grain: str) -> UsageView:
    period = period if period in PERIODS else DEFAULT_PERIOD
    grain = grain if grain in GRAINS else DEFAULT_GRAIN
    if not await built(ctx):
        return UsageView(period, grain, (), (), (), built=False)
    all_rows = access.row_filter.mode == "all"
    since = since_for(period)
    predicate, params = row_filter_sql(access.row_filter, FILTER_COLUMNS, table_alias="m")
    daily = grain == "day"
    series_sql = sql.SQL(SERIES).format(
        day=sql.SQL("m.activity_on" if daily else "m.week_start"),
        mart=sql.Identifier(
            "analytics", "agg_engagement_daily" if daily else "agg_engagement_weekly"
        ),
        predicate=predicate,
        since=sql.Placeholder(),
    )
    series = await ctx.resources.fetch_all(series_sql, [*params, since, since])
    classes_sql = sql.SQL(CLASSES).format(predicate=predicate, since=sql.Placeholder())
    classes = await ctx.resources.fetch_all(
        classes_sql, [*params, since, since, *params, since, since, *params]
    )
    teachers: list[dict[str, Any]] = []
    if all_rows:
        teachers = await ctx.resources.fetch_all(TEACHERS, (since, since))
    return UsageView(period, grain, tuple(series), tuple(classes), tuple(teachers), True, all_rows)


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> UsageView:
    return await load_view(
        ctx,
        access,
        query_choice(request, "period", PERIODS, DEFAULT_PERIOD),
        query_choice(request, "grain", GRAINS, DEFAULT_GRAIN),
    )


# -- rendering ---------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return int(value or 0)


def summary(view: UsageView) -> Tag:
    latest = view.series[-1] if view.series else None
    unit = "day" if view.grain == "day" else "week"
    week_ago = datetime.now(UTC).date() - timedelta(days=6)
    teachers_7d = max(
        (_int(t["active_teachers"]) for t in view.teachers if t["day"] >= week_ago), default=0
    )
    return kpis(
        (f"Active students (latest {unit})", f"{_int(latest and latest['active_students']):,}",
         latest["day"].isoformat() if latest else "no activity"),
        ("Active teachers", f"{teachers_7d:,}" if view.teachers_shown else "—",
         "busiest day of the last 7"),
        ("Exams completed", f"{sum(_int(c['attempts_completed']) for c in view.classes):,}",
         PERIODS[view.period].lower()),
        ("Lesson completions", f"{sum(_int(c['lesson_completions']) for c in view.classes):,}", "all time"),
        ("Tutor sessions", f"{sum(_int(c['tutor_sessions']) for c in view.classes):,}",
         PERIODS[view.period].lower()),
        ("Classes", f"{len(view.classes):,}", "with any activity"),
        label="Usage key figures",
    )  # fmt: skip


def activity_chart(view: UsageView) -> TagChild:
    if not view.series:
        return empty_state("no student activity in this period.")
    days = [r["day"] for r in view.series]
    fig = go.Figure()
    fig.add_bar(x=days, y=[_int(r["attempts_completed"]) for r in view.series],
                name="exams completed", marker_color="#9fd3b5")  # fmt: skip
    fig.add_scatter(x=days, y=[_int(r["active_students"]) for r in view.series],
                    name="active students", mode="lines+markers", line={"color": "#2f6f4f"})  # fmt: skip
    if view.teachers and view.grain == "day":
        fig.add_scatter(x=[t["day"] for t in view.teachers],
                        y=[_int(t["active_teachers"]) for t in view.teachers],
                        name="active teachers", mode="lines+markers", line={"color": "#8a5a00"})  # fmt: skip
    fig.update_layout(
        xaxis={"type": "date"}, yaxis={"title": {"text": "count"}, "rangemode": "tozero"}
    )
    unit = "day" if view.grain == "day" else "week"
    return chart(fig, f"Active students (summed over classes) and completed exams per {unit}.")


CLASS_COLUMNS = (
    Column("class_name", "class"),
    Column("peak_weekly_active", "peak weekly active students", "number"),
    Column("attempts_completed", "exams completed", "number"),
    Column("responses", "responses", "number"),
    Column("minutes_on_task", "minutes on task", "number"),
    Column("lesson_views", "lesson views", "number"),
    Column("lesson_completions", "lesson completions", "number"),
    Column("tutor_sessions", "tutor sessions", "number"),
    Column("tutor_turns", "tutor turns", "number"),
)


def body(view: UsageView) -> TagChild:
    if not view.built:
        return empty_state(NO_MART)
    return ui.TagList(
        summary(view),
        card("Activity over time", activity_chart(view)),
        card(
            "By class",
            data_table(
                "usage-by-class",
                CLASS_COLUMNS,
                list(view.classes),
                caption=f"Usage by class, {PERIODS[view.period].lower()} (lessons: all time)",
                empty="no class has any activity in this period.",
                csv_name="usage_by_class.csv",
            ),
        ),
    )


def filter_bar(view: UsageView) -> list[TagChild]:
    return [
        filter_select("period", "Period", PERIODS, view.period),
        filter_select("grain", "Chart", GRAINS, view.grain),
    ]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        UsageView,
        title=TITLE,
        description=DESCRIPTION,
        output_id="usage",
        body=body,
        filters=filter_bar,
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def view() -> UsageView | None:
            if access is None:  # fail closed
                return None
            return await load_view(ctx, access, str(input.period()), str(input.grain()))

        @render.ui
        async def usage() -> TagChild:
            current = await view()
            return ui.TagList() if current is None else body(current)

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(NAME, TITLE, DESCRIPTION, build, preload)
