"""Admin — platform health: is data flowing, fresh and checked, and is the API answering?

Sources (all read-only, none of them per student, hence no row filter: the page has no dataset
in the policy and opening it is the admin-only decision):
- Dagster's record (`dashboards.dagster_record`): each asset's last materialization (lake tables,
  dbt marts: ingest and mart freshness) and the latest evaluation of every asset check;
- the outbox (`events.outbox`): events beyond the relay's cursor (`events.relay_cursors`, not yet
  on Redis Streams) and the oldest one's age; when the relay last moved;
- Redis Streams: every consumer group's lag (entries not yet delivered) and pending entries;
- the decision log (`governance.decisions`, one row per policy decision, i.e. per API request,
  dashboard page and SQL query): requests and denials per hour, p95 policy latency;
- calibration runs and promotions (`content.item_parameters`, one row per item and calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
from htmltools import Tag, TagChild
from redis.exceptions import RedisError
from shiny import App, Inputs, Outputs, Session, reactive, render, ui
from starlette.requests import Request

from dashboards.access import PageAccess
from dashboards.components import (
    Column,
    card,
    chart,
    data_table,
    empty_state,
    filter_select,
    grid,
    kpis,
    query_choice,
)
from dashboards.dagster_record import PipelineRecord, load_record
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)

NAME = "platform_health"
TITLE = "Platform health"
DESCRIPTION = (
    "Ingest and mart freshness, asset checks, outbox and consumer lag, request and denial rates,"
    " calibration runs."
)
WINDOWS = {"24": "Last 24 hours", "168": "Last 7 days", "720": "Last 30 days"}
DEFAULT_WINDOW = "24"
STALE_AFTER = timedelta(hours=26)  # a daily pipeline that missed a day


@dataclass(frozen=True, slots=True)
class HealthView:
    window: str
    now: datetime
    outbox: dict[str, Any]
    streams: tuple[dict[str, Any], ...]
    traffic: tuple[dict[str, Any], ...]  # per hour and decision kind
    calibrations: tuple[dict[str, Any], ...]
    pipeline: PipelineRecord


# The relay publishes the outbox in (txid, event_seq) order after its cursor (core/relay.py):
# the backlog is what lies beyond the cursor (a row subquery, so the index bounds the scan).
RELAY = "redis-streams"
AFTER_CURSOR = (
    "(o.txid, o.event_seq) > (select c.txid, c.event_seq from events.relay_cursors c"
    " where c.relay = %(relay)s)"
)
OUTBOX_SQL = f"""
select
    (select count(*) from events.outbox o where {AFTER_CURSOR}) as backlog,
    (select min(o.occurred_at) from events.outbox o where {AFTER_CURSOR}) as oldest_unpublished,
    (select max(event_seq) from events.outbox) as events_total,
    (select moved_at from events.relay_cursors where relay = %(relay)s) as relay_moved_at
"""

TRAFFIC_SQL = """
select date_trunc('hour', decided_at) as hour, decision,
       count(*) as requests, count(*) filter (where not allowed) as denied,
       percentile_cont(0.95) within group (order by latency_us) as p95_latency_us
from governance.decisions
where decided_at >= now() - make_interval(hours => %s)
group by 1, 2 order by 1, 2
"""

CALIBRATIONS_SQL = """
select calibration_id, count(*) as items, min(created_at) as created_at,
       count(*) filter (where promoted_at is not null) as promoted,
       count(*) filter (where is_live) as live, max(promoted_at) as last_promoted_at
from content.item_parameters
group by calibration_id order by min(created_at) desc limit 100
"""


async def stream_lag(ctx: PageContext) -> list[dict[str, Any]]:
    """Every consumer group on the event streams (`<stream_prefix>*`): lag and pending."""
    redis = ctx.resources.redis()
    out: list[dict[str, Any]] = []
    prefix = ctx.settings.realtime.stream_prefix
    async for raw in redis.scan_iter(match=f"{prefix}*", _type="stream", count=500):
        stream = raw.decode() if isinstance(raw, bytes) else str(raw)
        for group in await redis.xinfo_groups(stream):
            name = group["name"]
            out.append(
                {
                    "stream": stream,
                    "group": name.decode() if isinstance(name, bytes) else str(name),
                    "lag": int(group.get("lag") or 0),
                    "pending": int(group.get("pending") or 0),
                }
            )
    return sorted(out, key=lambda r: (-r["lag"], r["stream"], r["group"]))


async def load_view(ctx: PageContext, window: str) -> HealthView:
    window = window if window in WINDOWS else DEFAULT_WINDOW
    outbox = (await ctx.resources.fetch_all(OUTBOX_SQL, {"relay": RELAY}))[0]
    traffic = await ctx.resources.fetch_all(TRAFFIC_SQL, (int(window),))
    calibrations = await ctx.resources.fetch_all(CALIBRATIONS_SQL)
    try:
        streams = await stream_lag(ctx)
    except (RedisError, OSError):
        streams = [{"stream": "(Redis unreachable)", "group": "", "lag": None, "pending": None}]
    return HealthView(
        window=window,
        now=datetime.now(UTC),
        outbox=outbox,
        streams=tuple(streams),
        traffic=tuple(traffic),
        calibrations=tuple(calibrations),
        pipeline=await load_record(ctx.settings),
    )


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> HealthView:
    return await load_view(ctx, query_choice(request, "window", WINDOWS, DEFAULT_WINDOW))


# -- rendering ---------------------------------------------------------------------------------


def age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def totals(view: HealthView) -> tuple[int, int]:
    requests = sum(int(r["requests"]) for r in view.traffic)
    denied = sum(int(r["denied"]) for r in view.traffic)
    return requests, denied


def summary(view: HealthView) -> Tag:
    requests, denied = totals(view)
    failing = sum(1 for c in view.pipeline.checks if c.status == "FAILED")
    lag = sum(int(s["lag"] or 0) for s in view.streams)
    newest = max(
        (a.last_materialized_at for a in view.pipeline.assets if a.last_materialized_at),
        default=None,
    )
    return kpis(
        ("Outbox backlog", f"{int(view.outbox['backlog'] or 0):,}",
         "oldest " + age(view.now, view.outbox["oldest_unpublished"])),
        ("Consumer lag", f"{lag:,}", f"{len(view.streams)} consumer groups"),
        ("Requests", f"{requests:,}", WINDOWS[view.window].lower()),
        ("Denied", f"{denied:,}", f"{100 * denied / requests:.1f} % of requests" if requests else "—"),
        ("Failing checks", str(failing), f"of {len(view.pipeline.checks)} asset checks"),
        ("Last materialization", age(view.now, newest), "any pipeline asset"),
        label="Platform health key figures",
    )  # fmt: skip


def traffic_chart(view: HealthView) -> TagChild:
    if not view.traffic:
        return empty_state(
            "no requests in this window; every API request and dashboard page writes a policy"
            " decision to governance.decisions."
        )
    hours = sorted({r["hour"] for r in view.traffic})
    requests = {h: 0 for h in hours}
    denied = {h: 0 for h in hours}
    for r in view.traffic:
        requests[r["hour"]] += int(r["requests"])
        denied[r["hour"]] += int(r["denied"])
    fig = go.Figure()
    fig.add_bar(x=hours, y=[requests[h] for h in hours], name="requests", marker_color="#2f6f4f")
    fig.add_scatter(
        x=hours, y=[denied[h] for h in hours], name="denied", mode="lines+markers",
        line={"color": "#b00020"},
    )  # fmt: skip
    fig.update_traces(xperiod=3_600_000, xperiodalignment="middle")
    fig.update_layout(
        xaxis={"title": {"text": "hour (UTC)"}, "type": "date", "tickformat": "%d %b %H:%M"},
        yaxis={"title": {"text": "count"}, "rangemode": "tozero"},
    )
    return chart(fig, "Requests (policy decisions) and denials per hour.")


def freshness_rows(view: HealthView) -> list[dict[str, Any]]:
    return [
        {
            "asset": a.asset,
            "last": a.last_materialized_at,
            "age": age(view.now, a.last_materialized_at),
            "status": "stale"
            if a.last_materialized_at is None or view.now - a.last_materialized_at > STALE_AFTER
            else "fresh",
        }
        for a in view.pipeline.assets
    ]


def check_rows(view: HealthView) -> list[dict[str, Any]]:
    return [
        {
            "check": c.check,
            "asset": c.asset,
            "status": c.status.lower(),
            "evaluated_at": c.evaluated_at,
            "failures": c.failures,
        }
        for c in view.pipeline.checks
    ]


NO_PIPELINE = "the pipeline has not run here yet; run `dreamseed pipeline` (or `make demo`)."


def body(view: HealthView) -> TagChild:
    per_kind: dict[str, dict[str, Any]] = {}
    for r in view.traffic:
        row = per_kind.setdefault(
            r["decision"], {"decision": r["decision"], "requests": 0, "denied": 0}
        )
        row["requests"] += int(r["requests"])
        row["denied"] += int(r["denied"])
    kinds = sorted(per_kind.values(), key=lambda r: -int(r["requests"]))
    for row in kinds:
        row["denied_rate"] = round(100 * row["denied"] / row["requests"], 2)
    return ui.TagList(
        summary(view),
        grid(
            card("Requests and denials", traffic_chart(view)),
            card(
                "By kind of decision",
                data_table(
                    "decision-kinds",
                    (Column("decision", "decision"), Column("requests", "requests", "number"),
                     Column("denied", "denied", "number"), Column("denied_rate", "denied %", "number")),
                    kinds, caption="Requests per decision kind", empty="no requests in this window.",
                    page_size=10,
                ),
            ),
        ),
        grid(
            card(
                "Ingest and mart freshness",
                data_table(
                    "freshness",
                    (Column("asset", "asset"), Column("last", "last materialized", "date"),
                     Column("age", "age"), Column("status", "status")),
                    freshness_rows(view), caption="Pipeline assets (lake tables, dbt marts)",
                    empty=NO_PIPELINE, page_size=15,
                ),
            ),
            card(
                "Asset checks",
                data_table(
                    "checks",
                    (Column("check", "check"), Column("asset", "asset"), Column("status", "latest"),
                     Column("evaluated_at", "evaluated", "date"),
                     Column("failures", "failures on record", "number")),
                    check_rows(view), caption="Latest evaluation of each asset check, failing first",
                    empty=NO_PIPELINE, page_size=15,
                ),
            ),
        ),
        grid(
            card(
                "Outbox and consumers",
                ui.p(
                    f"{int(view.outbox['events_total'] or 0):,} events written; relay last moved "
                    + age(view.now, view.outbox["relay_moved_at"]) + ".",
                    class_="ds-table-count",
                ),
                data_table(
                    "streams",
                    (Column("stream", "stream"), Column("group", "consumer group"),
                     Column("lag", "lag", "number"), Column("pending", "pending", "number")),
                    list(view.streams), caption="Consumer groups on the event streams",
                    empty="no consumer group has read the event streams yet (`dreamseed consume`).",
                    page_size=10,
                ),
            ),
            card(
                "Calibration runs and promotions",
                data_table(
                    "calibrations",
                    (Column("calibration_id", "calibration"), Column("created_at", "run at", "date"),
                     Column("items", "items", "number"), Column("promoted", "promoted", "number"),
                     Column("live", "live now", "number"),
                     Column("last_promoted_at", "last promotion", "date")),
                    list(view.calibrations), caption="Calibration runs, newest first",
                    empty="no calibration has run yet (`dreamseed irt calibrate` or the Dagster job).",
                    page_size=10,
                ),
            ),
        ),
    )  # fmt: skip


def filter_bar(view: HealthView) -> list[TagChild]:
    return [filter_select("window", "Requests over", WINDOWS, view.window)]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        HealthView,
        title=TITLE,
        description=DESCRIPTION,
        output_id="health",
        body=body,
        filters=filter_bar,
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        @reactive.calc
        async def view() -> HealthView | None:
            if access is None:  # fail closed: the gate did not vouch for this session
                return None
            return await load_view(ctx, str(input.window()))

        @render.ui
        async def health() -> TagChild:
            current = await view()
            return ui.TagList() if current is None else body(current)

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(NAME, TITLE, DESCRIPTION, build, preload)
