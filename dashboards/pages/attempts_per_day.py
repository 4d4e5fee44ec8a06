"""Completed exam attempts per day, from the dbt mart `analytics.agg_attempts_per_day`.

Mart contract (transforms/dbt/models/marts/agg_attempts_per_day.yml): one row per (UTC day,
class); `class_id` is null for exams not tied to a class (only roles with an unfiltered view see
those); `mean_score_pct` is a fraction in [0, 1] despite its name, shown here as a percentage.

Rows are limited by the policy's row filter for the page (a teacher: the classes she teaches; an
admin: all). The first page view is rendered on the server from rows preloaded by the page gate,
so the HTML already holds the chart and the table; the Shiny session then re-renders both when
the period changes, reading the same `PageAccess` from `session.http_conn.scope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from htmltools import Tag, TagChild
from psycopg import sql
from shiny import App, Inputs, Outputs, Session, reactive, render, ui
from starlette.requests import Request

from dashboards.access import PageAccess, row_filter_sql
from dashboards.auth import current_user
from dashboards.components import (
    Column,
    card,
    chart,
    data_table,
    empty_state,
    filter_select,
    prefilled,
    query_choice,
)
from dashboards.pages.base import (
    PRELOAD_SCOPE_KEY,
    PageContext,
    PageSpec,
    page_access,
    page_layout,
    session_access,
)

NAME = "attempts_per_day"
TITLE = "Completed exam attempts per day"
MART = ("analytics", "agg_attempts_per_day")
#: Columns of the mart a row filter may name.
FILTER_COLUMNS = frozenset({"completed_on", "class_id"})
PERIODS: dict[str, str] = {
    "30": "Last 30 days",
    "90": "Last 90 days",
    "365": "Last 365 days",
    "all": "All time",
}
DEFAULT_PERIOD = "90"
NO_CLASS = "(no class)"
MAX_ROWS = 20_000
PAGE_DESCRIPTION = "Completed exam attempts and mean score per day, by class."


@dataclass(frozen=True, slots=True)
class DayRow:
    completed_on: date
    class_id: str | None
    class_name: str
    attempt_count: int
    mean_score: float | None  # fraction in [0, 1]


@dataclass(frozen=True, slots=True)
class AttemptsView:
    period: str
    rows: tuple[DayRow, ...]

    @property
    def total_attempts(self) -> int:
        return sum(r.attempt_count for r in self.rows)

    @property
    def mean_score(self) -> float | None:
        return weighted_mean(self.rows)


def since_for(period: str, today: date | None = None) -> date | None:
    """First day shown for a period key; None for all time. Unknown keys fall back to default."""
    if period == "all":
        return None
    days = int(period) if period in PERIODS else int(DEFAULT_PERIOD)
    return (today or datetime.now(UTC).date()) - timedelta(days=days - 1)


def weighted_mean(rows: tuple[DayRow, ...] | list[DayRow]) -> float | None:
    """Mean score over attempts (each day/class mean weighted by its attempt count)."""
    scored = [r for r in rows if r.mean_score is not None and r.attempt_count > 0]
    weight = sum(r.attempt_count for r in scored)
    if weight == 0:
        return None
    return sum(float(r.mean_score or 0) * r.attempt_count for r in scored) / weight


def pct(fraction: float | None) -> str:
    return "–" if fraction is None else f"{100 * fraction:.1f}"


def build_query(access: PageAccess, since: date | None) -> tuple[sql.Composable, list[Any]]:
    predicate, params = row_filter_sql(access.row_filter, FILTER_COLUMNS, table_alias="a")
    query = sql.SQL(
        "select a.completed_on, a.class_id::text as class_id,"
        " coalesce(c.name, a.class_id::text, {no_class}) as class_name,"
        " a.attempt_count, a.mean_score_pct"
        " from {mart} a left join classes.classes c on c.class_id = a.class_id"
        " where {predicate} and ({since}::date is null or a.completed_on >= {since}::date)"
        " order by a.completed_on, class_name limit {limit}"
    ).format(
        mart=sql.Identifier(*MART),
        predicate=predicate,
        since=sql.Placeholder(),
        limit=sql.Literal(MAX_ROWS),
        no_class=sql.Literal(NO_CLASS),
    )
    return query, [*params, since, since]


async def load_view(ctx: PageContext, access: PageAccess, period: str) -> AttemptsView:
    period = period if period in PERIODS else DEFAULT_PERIOD
    query, params = build_query(access, since_for(period))
    rows = await ctx.resources.fetch_all(query, params)
    return AttemptsView(period, tuple(_day_row(r) for r in rows))


def _day_row(row: dict[str, Any]) -> DayRow:
    mean = row["mean_score_pct"]
    return DayRow(
        completed_on=row["completed_on"],
        class_id=None if row["class_id"] is None else str(row["class_id"]),
        class_name=str(row["class_name"]),
        attempt_count=int(row["attempt_count"] or 0),
        mean_score=float(mean) if isinstance(mean, Decimal | int | float) else None,
    )


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> AttemptsView:
    return await load_view(ctx, access, query_choice(request, "period", PERIODS, DEFAULT_PERIOD))


# -- rendering ---------------------------------------------------------------------------------


def build_figure(view: AttemptsView) -> dict[str, Any]:
    """Stacked bars of attempts per day (one trace per class) and the day's mean score.

    A plain figure dict (components.chart writes it without plotly's per-property validation,
    which for 20 classes × 90 days was most of a filter change); one pass over the rows."""
    days = sorted({r.completed_on for r in view.rows})
    column = {d: k for k, d in enumerate(days)}
    classes = sorted(
        {(r.class_name, r.class_id) for r in view.rows}, key=lambda c: (c[0], c[1] or "")
    )
    counts = {key: [0] * len(days) for key in classes}
    by_day: dict[date, list[DayRow]] = {d: [] for d in days}
    for r in view.rows:
        counts[(r.class_name, r.class_id)][column[r.completed_on]] += r.attempt_count
        by_day[r.completed_on].append(r)
    x = [d.isoformat() for d in days]
    period = {"xperiod": 86_400_000, "xperiodalignment": "middle"}
    data: list[dict[str, Any]] = [
        {"type": "bar", "x": x, "y": counts[key], "name": key[0], **period} for key in classes
    ]
    means = [weighted_mean(by_day[d]) for d in days]
    data.append({
        "type": "scatter", "x": x, "y": [None if m is None else round(100 * m, 2) for m in means],
        "name": "mean score %", "mode": "lines+markers", "yaxis": "y2", "connectgaps": True,
        **period,
    })  # fmt: skip
    layout = {
        "barmode": "stack",
        "xaxis": {"title": {"text": "day"}, "type": "date", "tickformat": "%d %b"},
        "yaxis": {"title": {"text": "completed attempts"}, "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": "mean score %"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 100],
        },
    }
    return {"data": data, "layout": layout}


def chart_html(view: AttemptsView) -> TagChild:
    if not view.rows:
        return empty_state(
            "no completed attempts in this period; attempts appear here once students finish"
            " exams and the marts are refreshed (`dreamseed pipeline`)."
        )
    return chart(
        build_figure(view),
        "Completed attempts per day, stacked by class, with the day's mean score (right axis).",
        height=420,
    )


TABLE_COLUMNS = (
    Column("completed_on", "day", "date"),
    Column("class_name", "class"),
    Column("attempt_count", "completed attempts", "number"),
    Column("mean_score_pct", "mean score %", "number"),
)


def table_tag(view: AttemptsView) -> TagChild:
    if not view.rows:
        return ui.TagList()
    mean = view.mean_score
    newest = sorted(view.rows, key=lambda r: (r.completed_on, r.class_name), reverse=True)
    rows = [
        {
            "completed_on": r.completed_on,
            "class_name": r.class_name,
            "attempt_count": r.attempt_count,
            "mean_score_pct": None if r.mean_score is None else round(100 * r.mean_score, 1),
        }
        for r in newest[:MAX_ROWS]
    ]
    return ui.TagList(
        ui.p(
            f"{view.total_attempts} completed attempts"
            + ("" if mean is None else f", mean score {pct(mean)} %"),
            class_="attempts-summary",
        ),
        data_table(
            "attempts-table",
            TABLE_COLUMNS,
            rows,
            caption="Completed attempts per day and class, newest first",
            empty="no completed attempts in this period.",
            csv_name="attempts_per_day.csv",
        ),
    )


def page_ui(request: Request) -> Tag | ui.TagList:
    view = request.scope.get(PRELOAD_SCOPE_KEY)
    access = page_access(request.scope)
    if not isinstance(view, AttemptsView) or access is None:  # the gate always sets both
        return ui.TagList(ui.p("Not available."))
    return page_layout(
        request,
        TITLE,
        card("Attempts and mean score", prefilled(ui.output_ui("chart"), chart_html(view))),
        card("By day and class", prefilled(ui.output_ui("table"), table_tag(view))),
        user=current_user(request.scope),
        description=PAGE_DESCRIPTION,
        filters=[filter_select("period", "Period", PERIODS, view.period)],
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def view() -> AttemptsView:
            if access is None:  # fail closed: the gate did not vouch for this session
                return AttemptsView(DEFAULT_PERIOD, ())
            return await load_view(ctx, access, str(input.period()))

        @render.ui
        async def chart() -> TagChild:
            return chart_html(await view())

        @render.ui
        async def table() -> TagChild:
            return table_tag(await view())

    app = App(page_ui, server)
    app.sanitize_errors = True  # database errors are logged, not shown to users
    return app


PAGE = PageSpec(
    name=NAME,
    title=TITLE,
    description=PAGE_DESCRIPTION,
    build=build,
    preload=preload,
)
