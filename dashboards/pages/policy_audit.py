"""Admin — policy audit: search the decision log (`governance.decisions`: every policy decision of
the APIs, the dashboards and the SQL door) by subject, action, decision kind, outcome and time
range, newest first, 50 per page; and the denial trend per day and reason over the same range.

Rows come through the policy's row filter for the page's dataset (`governance.decisions`, column
`subject_id`): an admin sees all; a role given the page later with an `own` scope would see only
its own decisions. Filters are bound parameters; the time range bounds every query (the
`decided_at` index), and the search needs no full scan of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    filter_text,
    kpis,
    query_choice,
    query_text,
)
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)

NAME = "policy_audit"
TITLE = "Policy audit"
DESCRIPTION = "Search the policy decision log; denial trends by reason."
RANGES = {"1": "Last 24 hours", "7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days"}
DEFAULT_RANGE = "7"
OUTCOMES = {"any": "Allowed or denied", "denied": "Denied", "allowed": "Allowed"}
PAGE_SIZE = 50
MAX_PAGE = 10_000
FILTER_COLUMNS = frozenset({"subject_id"})


@dataclass(frozen=True, slots=True)
class Search:
    days: str = DEFAULT_RANGE
    outcome: str = "any"
    subject: str = ""
    action: str = ""
    decision: str = ""
    page: int = 1

    @staticmethod
    def of(days: str, outcome: str, subject: str, action: str, decision: str, page: Any) -> Search:
        try:
            number = min(max(int(page), 1), MAX_PAGE)
        except (TypeError, ValueError):
            number = 1
        return Search(
            days if days in RANGES else DEFAULT_RANGE,
            outcome if outcome in OUTCOMES else "any",
            subject.strip()[:200],
            action.strip()[:200],
            decision.strip()[:200],
            number,
        )


@dataclass(frozen=True, slots=True)
class AuditView:
    search: Search
    rows: tuple[dict[str, Any], ...]
    matched: int
    trend: tuple[dict[str, Any], ...]  # per day and reason: denials


def where(access: PageAccess, search: Search) -> tuple[sql.Composable, list[Any]]:
    predicate, params = row_filter_sql(access.row_filter, FILTER_COLUMNS, table_alias="d")
    clauses: list[sql.Composable] = [
        predicate,
        sql.SQL("d.decided_at >= now() - make_interval(days => %s)"),
    ]
    params.append(int(search.days))
    if search.subject:
        clauses.append(sql.SQL("d.subject_id = %s"))
        params.append(search.subject)
    if search.action:
        clauses.append(sql.SQL("d.action ilike %s"))
        escaped = search.action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    if search.decision:
        clauses.append(sql.SQL("d.decision = %s"))
        params.append(search.decision)
    if search.outcome != "any":
        clauses.append(sql.SQL("d.allowed = %s"))
        params.append(search.outcome == "allowed")
    return sql.SQL(" and ").join(clauses), params


async def load_view(ctx: PageContext, access: PageAccess, search: Search) -> AuditView:
    condition, params = where(access, search)
    rows = await ctx.resources.fetch_all(
        sql.SQL(
            "select d.decided_at, d.decision, d.subject_id, d.subject_role, d.action,"
            " coalesce(d.resource->>'type', '') || coalesce(':' || (d.resource->>'id'), '')"
            " as resource, d.allowed, d.reason, d.latency_us, d.request_id"
            " from governance.decisions d where {} order by d.decided_at desc, d.decision_id"
            " limit {} offset %s"
        ).format(condition, sql.Literal(PAGE_SIZE)),
        [*params, (search.page - 1) * PAGE_SIZE],
    )
    counted = await ctx.resources.fetch_all(
        sql.SQL("select count(*) as n from governance.decisions d where {}").format(condition),
        params,
    )
    denied = Search(search.days, "denied", search.subject, search.action, search.decision)
    trend_condition, trend_params = where(access, denied)
    trend = await ctx.resources.fetch_all(
        sql.SQL(
            "select d.decided_at::date as day, coalesce(d.reason, '(none)') as reason,"
            " count(*) as denied from governance.decisions d where {} group by 1, 2 order by 1, 2"
        ).format(trend_condition),
        trend_params,
    )
    return AuditView(search, tuple(rows), int(counted[0]["n"]), tuple(trend))


def search_of(request: Request) -> Search:
    return Search.of(
        query_choice(request, "days", RANGES, DEFAULT_RANGE),
        query_choice(request, "outcome", OUTCOMES, "any"),
        query_text(request, "subject"),
        query_text(request, "action"),
        query_text(request, "decision"),
        request.query_params.get("page", "1"),
    )


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> AuditView:
    return await load_view(ctx, access, search_of(request))


# -- rendering ---------------------------------------------------------------------------------


def _short_id(value: object) -> str:
    text = str(value)
    return text if len(text) <= 13 else f"{text[:8]}…{text[-4:]}"


COLUMNS = (
    Column("decided_at", "time (UTC)", "date", fmt=lambda v: v.strftime("%m-%d %H:%M:%S")),
    Column("decision", "decision", fmt=lambda v: str(v).removeprefix("data.dreamseed.")),
    Column("subject_role", "role"),
    Column("subject_id", "subject", fmt=_short_id),  # the full id is in the cell's value / CSV
    Column("action", "action"),
    Column("resource", "resource"),
    Column("allowed", "allowed", fmt=lambda v: "allowed" if v else "denied"),
    Column("reason", "reason"),
    Column("latency_us", "latency µs", "number"),
)


def trend_chart(view: AuditView) -> TagChild:
    if not view.trend:
        return empty_state("no denials match this search in this range.")
    days = sorted({r["day"] for r in view.trend})
    fig = go.Figure()
    for reason in sorted({r["reason"] for r in view.trend}):
        counts = {r["day"]: int(r["denied"]) for r in view.trend if r["reason"] == reason}
        fig.add_bar(x=days, y=[counts.get(d, 0) for d in days], name=reason)
    fig.update_traces(xperiod=86_400_000, xperiodalignment="middle")
    fig.update_layout(
        barmode="stack",
        xaxis={"type": "date", "tickformat": "%d %b"},
        yaxis={"title": {"text": "denials"}},
    )
    return chart(fig, "Denied decisions per day, stacked by the policy's reason.", height=300)


def body(view: AuditView) -> TagChild:
    pages = max(1, -(-view.matched // PAGE_SIZE))
    first = (view.search.page - 1) * PAGE_SIZE + 1 if view.rows else 0
    denials = sum(int(r["denied"]) for r in view.trend)
    return ui.TagList(
        kpis(
            ("Decisions matched", f"{view.matched:,}", RANGES[view.search.days].lower()),
            ("Denied", f"{denials:,}", "in the same search"),
            ("Page", f"{view.search.page} of {pages}", f"{PAGE_SIZE} per page"),
            label="Policy audit key figures",
        ),
        card("Denial trend", trend_chart(view)),
        card(
            "Decisions",
            data_table(
                "decisions",
                COLUMNS,
                list(view.rows),
                caption=f"Decisions {first}–{first + len(view.rows) - 1} of {view.matched:,},"
                " newest first",
                empty="no decision matches this search; widen the range or clear a filter.",
                page_size=25,
                csv_name="decisions.csv",
            ),
        ),
    )


def filter_bar(view: AuditView) -> list[TagChild]:
    s = view.search
    page_input = ui.input_numeric("page", "Page", value=s.page, min=1, max=MAX_PAGE, step=1)
    page_input.attrs["data-ds-filter"] = "page"
    return [
        filter_select("days", "Time range", RANGES, s.days),
        filter_select("outcome", "Outcome", OUTCOMES, s.outcome),
        filter_text("subject", "Subject id", s.subject, placeholder="exact user id"),
        filter_text("action", "Action contains", s.action, placeholder="e.g. exams:read"),
        filter_text("decision", "Decision", s.decision, placeholder="e.g. dashboards.access"),
        page_input,
    ]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        AuditView,
        title=TITLE,
        description=DESCRIPTION,
        output_id="audit",
        body=body,
        filters=filter_bar,
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def view() -> AuditView | None:
            if access is None:  # fail closed
                return None
            search = Search.of(
                str(input.days()),
                str(input.outcome()),
                str(input.subject() or ""),
                str(input.action() or ""),
                str(input.decision() or ""),
                input.page(),
            )
            return await load_view(ctx, access, search)

        @render.ui
        async def audit() -> TagChild:
            current = await view()
            return ui.TagList() if current is None else body(current)

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(NAME, TITLE, DESCRIPTION, build, preload)
