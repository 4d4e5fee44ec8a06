"""Item bank health for teachers and psychometricians: per item classical statistics (facility,
point-biserial, distractor analysis by score group), IRT parameters with standard errors, item
characteristic and information curves, test information of an exam, S-X² fit flags, drift
across calibration versions, exposure against the exam's target, and pilot items' progress
toward calibration. Filters: item status, exam (persisted in the URL).

Marts: `agg_item_bank_health` (the page's policy dataset, one row per item), `agg_item_distractors`
(indexed by exam), `agg_item_calibration_history`. Curves are computed here from the live
parameters (content.item_parameters: every threshold of graded items; only items the caller's
`agg_item_bank_health` rows show) with `psychometrics`, for
the drawn items only, vectorised over items × θ (microseconds: a mart of curve grids would save
nothing and add a table to keep in step with every calibration); the figures are plain dicts
(`components.chart`). The row filter (a teacher: the items she owns) is carried to every query by
`owner_key`: the marts come from the lake and know the owner by her pseudonymous key only.

In a session each filter has its own reactive calc: changing the status re-reads the items, their
parameters and history; changing the exam re-reads its items and distractors; the exam list is
read once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
    pct,
    query_choice,
)
from dashboards.pages.base import (
    PageContext,
    PageSpec,
    preloaded_page,
    session_access,
)
from dashboards.pages.scope import scoped_sql, short_id
from psychometrics import ItemParameters, category_probabilities, item_information

NAME = "item_bank_health"
TITLE = "Item bank health"
DESCRIPTION = (
    "Per item: facility, point-biserial, distractors, IRT parameters with standard errors,"
    " S-X² fit, drift, exposure and pilot progress; item and test information curves."
)
ALL = "all"
STATUSES = {ALL: "All items", "operational": "Operational", "pilot": "Pilot", "retired": "Retired"}
OWNER = {"owner_key": "owner_key"}
MAX_ROWS = 5_000
MAX_CURVES = 40
THETA = np.linspace(-4.0, 4.0, 49)  # a point every 1/6 (81 before: no visible difference)


@dataclass(frozen=True, slots=True)
class Filters:
    status: str = ALL
    exam_id: str = ""


@dataclass(slots=True)
class BankView:
    filters: Filters
    exams: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)  # live rows (all thresholds)
    exam_item_ids: list[str] = field(default_factory=list)
    distractors: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


async def load_exams(ctx: PageContext, access: PageAccess) -> dict[str, str]:
    """The exams the caller may choose (newest first): what the exam filter offers."""
    p, pp = scoped_sql(access.row_filter, OWNER, alias="e")
    rows = await ctx.resources.fetch_all(
        sql.SQL(
            "select e.exam_id::text as exam_id, e.exam_title as title"
            " from analytics.agg_exam_summaries e where {p}"
            " order by e.created_at desc, e.exam_title limit 500"
        ).format(p=p),
        pp,
    )
    return {str(r["exam_id"]): str(r["title"]) for r in rows}


@dataclass(frozen=True, slots=True)
class BankPart:
    """What the item-status filter selects: the items, their live parameters and history."""

    items: list[dict[str, Any]]
    params: list[dict[str, Any]]
    history: list[dict[str, Any]]


async def load_bank(ctx: PageContext, access: PageAccess, status: str) -> BankPart:
    fetch = ctx.resources.fetch_all
    rf = access.row_filter
    st = None if status == ALL else status
    p, pp = scoped_sql(rf, OWNER, alias="h")
    items = fetch(
        sql.SQL(
            "select h.* from analytics.agg_item_bank_health h where {p}"
            " and (%s::text is null or h.item_status = %s)"
            " order by h.is_sx2_misfit desc, h.is_over_exposed desc, h.response_count desc"
            " limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [*pp, st, st],
    )
    p, pp = scoped_sql(rf, OWNER, alias="i")
    params = fetch(
        sql.SQL(
            "select p.item_id::text as item_id, p.model, p.a, p.c, p.d from"
            " content.item_parameters p join analytics.agg_item_bank_health i"
            " on i.item_id = p.item_id"
            " where p.is_live and {p} and (%s::text is null or i.item_status = %s)"
            " order by p.item_id limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [*pp, st, st],
    )
    p, pp = scoped_sql(rf, OWNER, alias="c")
    history = fetch(
        sql.SQL(
            "select c.item_id::text as item_id, c.param_version, c.calibration_id, c.irt_model,"
            " c.a, c.se_a, c.b, c.se_b, c.sx2, c.sx2_p, c.is_sx2_misfit, c.drift_a, c.drift_b,"
            " c.calibration_response_count, c.is_live, c.created_at"
            " from analytics.agg_item_calibration_history c where {p}"
            " and (%s::text is null or c.item_status = %s)"
            " order by c.created_at desc, c.item_id limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [*pp, st, st],
    )
    return BankPart(*await asyncio.gather(items, params, history))  # three pool connections


@dataclass(frozen=True, slots=True)
class ExamPart:
    """What the exam filter selects: the exam's item ids and its distractor analysis."""

    item_ids: list[str] = field(default_factory=list)
    distractors: list[dict[str, Any]] = field(default_factory=list)


async def load_exam(ctx: PageContext, access: PageAccess, exam: str) -> ExamPart:
    """`exam` is one of `load_exams`' keys (a uuid the caller may see) or ''."""
    if not exam:
        return ExamPart()
    fetch = ctx.resources.fetch_all
    rows = await fetch(
        "select item_ids::text[] as item_ids from exams.exams where exam_id = %s::uuid", (exam,)
    )
    p, pp = scoped_sql(access.row_filter, OWNER, alias="d")
    distractors = await fetch(
        sql.SQL(
            "select d.item_id::text as item_id, d.score_group, d.choice, d.is_key,"
            " d.chosen_count, d.share from analytics.agg_item_distractors d"
            " where d.exam_id = %s::uuid and {p}"
            " order by d.item_id, d.choice, d.score_group limit {n}"
        ).format(p=p, n=sql.Literal(MAX_ROWS)),
        [exam, *pp],
    )
    return ExamPart(list(rows[0]["item_ids"]) if rows else [], distractors)


def resolve(f: Filters, exams: dict[str, str]) -> Filters:
    """Filters made valid: a known status, an exam the caller may see (else her newest)."""
    status = f.status if f.status in STATUSES else ALL
    return Filters(status, f.exam_id if f.exam_id in exams else next(iter(exams), ""))


def assemble(f: Filters, exams: dict[str, str], bank: BankPart, exam: ExamPart) -> BankView:
    return BankView(
        filters=f,
        exams=exams,
        items=bank.items,
        params=bank.params,
        exam_item_ids=exam.item_ids,
        distractors=exam.distractors,
        history=bank.history,
    )


async def load_view(ctx: PageContext, access: PageAccess, f: Filters) -> BankView:
    exams = await load_exams(ctx, access)
    f = resolve(f, exams)
    bank, exam = await asyncio.gather(
        load_bank(ctx, access, f.status), load_exam(ctx, access, f.exam_id)
    )
    return assemble(f, exams, bank, exam)


def filters_from(request: Request) -> Filters:
    return Filters(
        query_choice(request, "status", STATUSES, ALL), request.query_params.get("exam", "")
    )


async def preload(ctx: PageContext, access: PageAccess, request: Request) -> BankView:
    return await load_view(ctx, access, filters_from(request))


# -- psychometrics -----------------------------------------------------------------------------


def bank_parameters(rows: list[dict[str, Any]]) -> ItemParameters | None:
    """Live parameters as one ItemParameters (NaN-padded intercepts); None without rows.

    The 3PL's c is kept; models are mixed only as far as psychometrics allows (a bank is
    calibrated under one model), so the most common model is used for the whole set."""
    if not rows:
        return None
    models = [str(r["model"]) for r in rows]
    model = max(set(models), key=models.count)
    width = max(len(r["d"] or [0.0]) for r in rows)
    d = np.full((len(rows), width), np.nan)
    for j, r in enumerate(rows):
        values = [float(x) for x in (r["d"] or [0.0])]
        d[j, : len(values)] = values
    return ItemParameters(
        model=model,
        a=np.array([float(r["a"]) for r in rows]),
        d=d,
        c=np.array([float(r["c"] or 0.0) for r in rows]),
        names=tuple(str(r["item_id"]) for r in rows),
    )


def expected_scores(items: ItemParameters) -> np.ndarray:
    """Item characteristic curves: expected item score Σ_k k·P_jk(θ), shape (J, Q)."""
    p = category_probabilities(items, THETA)
    k = np.arange(p.shape[1], dtype=np.float64)[None, :, None]
    return np.asarray((p * k).sum(axis=1), dtype=np.float64)


# -- rendering ---------------------------------------------------------------------------------


def _num(value: Any, digits: int = 2) -> str:
    x = as_float(value)
    if x is None:
        return "—"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.00"


def _pm(value: Any, se: Any) -> str:
    if as_float(value) is None:
        return "—"
    return _num(value) if as_float(se) is None else f"{_num(value)} ± {_num(se)}"


ITEM_COLUMNS = (
    Column("item", "item"),
    Column("item_status", "status"),
    Column("skills", "skills"),
    Column("response_count", "responses", "number"),
    Column("facility", "facility", "number", fmt=_num),
    Column("point_biserial", "point-biserial", "number", fmt=_num),
    Column("a_se", "a ± SE"),
    Column("b_se", "b ± SE"),
    Column("sx2_p", "S-X² p", "number", fmt=lambda v: _num(v, 3)),
    Column("fit", "fit"),
    Column("drift_b", "drift b", "number", fmt=_num),
    Column("exposure", "exposure / target"),
    Column("progress", "pilot progress"),
)


def items_table(view: BankView) -> Tag:
    rows = [
        {
            **r,
            "item": short_id(str(r["item_id"])),
            "a_se": _pm(r["a"], r["se_a"]),
            "b_se": _pm(r["b"], r["se_b"]),
            "fit": "misfit" if r["is_sx2_misfit"] else ("ok" if r["sx2_p"] is not None else "—"),
            "exposure": (
                "—"
                if r["max_exposure_rate"] is None
                else f"{pct(as_float(r['max_exposure_rate']))} / {pct(as_float(r['exposure_target']))}"
                + (" over" if r["is_over_exposed"] else "")
            ),
            "progress": (
                "—"
                if r["calibration_progress"] is None
                else f"{r['response_count']} / {r['calibration_min_responses']}"
                f" ({pct(as_float(r['calibration_progress']), 0)})"
            ),
        }
        for r in view.items
    ]
    return data_table(
        "bank-items",
        ITEM_COLUMNS,
        rows,
        caption="Items, misfitting and over-exposed first",
        empty="no items in your bank match this filter.",
        csv_name="item_bank_health.csv",
    )


def _rounded(values: np.ndarray) -> list[float]:
    """Curve values for the browser: 4 decimals are far below what a 360-pixel plot resolves."""
    return [round(float(v), 4) for v in values]


def _lines(names: tuple[str, ...], ys: np.ndarray, x: list[float]) -> list[dict[str, Any]]:
    return [
        {"type": "scatter", "mode": "lines", "x": x, "y": _rounded(y), "name": short_id(name)}
        for name, y in zip(names, ys, strict=True)
    ]


def _theta_axes(ytitle: str) -> dict[str, Any]:
    return {"xaxis": {"title": {"text": "θ"}}, "yaxis": {"title": {"text": ytitle}}}


def curves(view: BankView) -> TagChild:
    # Only the items drawn are computed (all at once, vectorised over items × θ), and the
    # figures are plain dicts with rounded values (see components.chart).
    items = bank_parameters(view.params[:MAX_CURVES])
    if items is None:
        return empty_state("no calibrated items match this filter; curves need live parameters.")
    icc, info = expected_scores(items), item_information(items, THETA)
    x = _rounded(THETA)
    fig_icc = {"data": _lines(items.names, icc, x), "layout": _theta_axes("expected score")}
    fig_info = {"data": _lines(items.names, info, x), "layout": _theta_axes("information")}
    note = f" (first {MAX_CURVES} items)" if len(view.params) > MAX_CURVES else ""
    return grid(
        card("Item characteristic curves", chart(fig_icc, f"Expected item score by θ{note}.")),
        card("Item information", chart(fig_info, f"Fisher information by θ{note}.")),
    )


def test_information_chart(view: BankView) -> TagChild:
    if not view.filters.exam_id:
        return empty_state("you have no exams yet.")
    wanted = set(view.exam_item_ids)
    rows = [r for r in view.params if r["item_id"] in wanted]
    items = bank_parameters(rows)
    if items is None:
        return empty_state("none of this exam's items has live parameters yet.")
    info = item_information(items, THETA).sum(axis=0)
    x = _rounded(THETA)
    fig = {
        "data": [
            {"type": "scatter", "mode": "lines", "x": x, "y": _rounded(info),
             "name": "test information"},
            {"type": "scatter", "mode": "lines", "x": x, "name": "SE(θ)", "yaxis": "y2",
             "y": _rounded(1 / np.sqrt(np.maximum(info, 1e-9)))},
        ],
        "layout": {
            **_theta_axes("information"),
            "yaxis2": {"title": {"text": "SE(θ)"}, "overlaying": "y", "side": "right"},
        },
    }  # fmt: skip
    title = view.exams.get(view.filters.exam_id, "")
    return chart(
        fig, f"Test information of {title} ({len(rows)} calibrated items) and SE(θ) = 1/√I(θ)."
    )


DISTRACTOR_COLUMNS = (
    Column("item", "item"),
    Column("option", "option"),
    Column("lower", "lower third", "number", fmt=pct),
    Column("middle", "middle third", "number", fmt=pct),
    Column("upper", "upper third", "number", fmt=pct),
    Column("chosen", "answers", "number"),
)


def distractor_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (item, option) with the share choosing it in each score group."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        key = (str(r["item_id"]), int(r["choice"]))
        row = out.setdefault(
            key,
            {
                "item": short_id(key[0]),
                "option": f"{chr(65 + key[1]) if key[1] < 26 else key[1]}"
                + (" (key)" if r["is_key"] else ""),
                "chosen": 0,
            },
        )
        row[str(r["score_group"])] = as_float(r["share"])
        row["chosen"] += int(r["chosen_count"])
    return [out[k] for k in sorted(out)]


def distractor_table(view: BankView) -> Tag:
    return data_table(
        "bank-distractors",
        DISTRACTOR_COLUMNS,
        distractor_rows(view.distractors),
        caption="Share choosing each option, by score group (thirds of the exam's attempts)",
        empty="no completed attempts at this exam yet.",
        csv_name="item_distractors.csv",
    )


HISTORY_COLUMNS = (
    Column("item", "item"),
    Column("param_version", "version", "number"),
    Column("calibration_id", "calibration"),
    Column("a_se", "a ± SE"),
    Column("b_se", "b ± SE"),
    Column("drift_a", "drift a", "number", fmt=_num),
    Column("drift_b", "drift b", "number", fmt=_num),
    Column("sx2_p", "S-X² p", "number", fmt=lambda v: _num(v, 3)),
    Column("calibration_response_count", "responses", "number"),
    Column("live", "live"),
    Column("created_at", "written", "date"),
)


def history_table(view: BankView) -> Tag:
    rows = [
        {
            **r,
            "item": short_id(str(r["item_id"])),
            "a_se": _pm(r["a"], r["se_a"]),
            "b_se": _pm(r["b"], r["se_b"]),
            "live": "live" if r["is_live"] else "",
        }
        for r in view.history
    ]
    return data_table(
        "bank-history",
        HISTORY_COLUMNS,
        rows,
        caption="Calibration versions, newest first, with drift from the previous version",
        empty="no calibration has written parameters for your items yet.",
        csv_name="item_calibration_history.csv",
    )


def _against_target(
    rows: list[dict[str, Any]],
    value: Callable[[dict[str, Any]], float | None],
    target: Callable[[dict[str, Any]], float | None],
    names: tuple[str, str],
    yaxis: dict[str, Any],
) -> dict[str, Any]:
    """One bar per item (its value) with a marker at its target."""
    x = [short_id(str(r["item_id"])) for r in rows]
    return {
        "data": [
            {"type": "bar", "x": x, "y": [value(r) for r in rows], "name": names[0]},
            {"type": "scatter", "mode": "markers", "x": x, "y": [target(r) for r in rows],
             "name": names[1]},
        ],
        "layout": {"yaxis": yaxis},
    }  # fmt: skip


def exposure_and_pilots(view: BankView) -> TagChild:
    exposed = [r for r in view.items if r["max_exposure_rate"] is not None]
    pilots = [r for r in view.items if r["calibration_progress"] is not None]
    parts: list[TagChild] = []
    if exposed:
        fig = _against_target(
            exposed,
            lambda r: as_float(r["max_exposure_rate"]),
            lambda r: as_float(r["exposure_target"]),
            ("exposure rate", "target"),
            {"title": {"text": "share of attempts"}, "range": [0, 1]},
        )
        parts.append(
            card("Exposure", chart(fig, "Highest exposure in an adaptive exam vs its target."))
        )
    else:
        parts.append(card("Exposure", empty_state("no adaptive exam has shown these items yet.")))
    if pilots:
        fig = _against_target(
            pilots,
            lambda r: int(r["response_count"]),
            lambda r: int(r["calibration_min_responses"]),
            ("responses", "needed for calibration"),
            {"title": {"text": "responses"}},
        )
        parts.append(
            card("Pilot items", chart(fig, "Responses so far vs the calibration minimum."))
        )
    else:
        parts.append(card("Pilot items", empty_state("no pilot items match this filter.")))
    return grid(*parts)


def view_body(view: BankView) -> TagChild:
    if not view.items:
        return empty_state(
            "no items to report on: your items appear here once they are in the bank and the"
            " marts are refreshed (`dreamseed pipeline`)."
        )
    calibrated = sum(1 for r in view.items if r["live_version"] is not None)
    return ui.TagList(
        kpis(
            ("Items", str(len(view.items))),
            ("Calibrated", str(calibrated)),
            ("S-X² misfit", str(sum(1 for r in view.items if r["is_sx2_misfit"])), "p < 0.01"),
            ("Over-exposed", str(sum(1 for r in view.items if r["is_over_exposed"]))),
            ("Pilot items", str(sum(1 for r in view.items if r["is_pilot"]))),
        ),
        card("Items", items_table(view)),
        curves(view),
        grid(
            card("Test information", test_information_chart(view)),
            card("Distractors", distractor_table(view)),
        ),
        exposure_and_pilots(view),
        card("Calibration history and drift", history_table(view)),
    )


def filter_bar(view: BankView) -> list[TagChild]:
    exams = view.exams or {"": "(no exams)"}
    return [
        filter_select("status", "Items", STATUSES, view.filters.status),
        filter_select("exam", "Exam (test information, distractors)", exams, view.filters.exam_id),
    ]


def page_ui(request: Request) -> Tag | ui.TagList:
    return preloaded_page(
        request,
        BankView,
        title=TITLE,
        description=DESCRIPTION,
        output_id="bank",
        body=view_body,
        filters=filter_bar,
    )


def build(ctx: PageContext) -> App:
    def server(input: Inputs, output: Outputs, session: Session) -> None:
        access = session_access(session)

        # One calc per filter, so a change re-reads only what it selects (the exam list once
        # per session; the status: items, parameters, history; the exam: its distractors).
        @reactive.calc
        async def exams() -> dict[str, str]:
            return {} if access is None else await load_exams(ctx, access)

        @reactive.calc
        async def filters() -> Filters:
            return resolve(Filters(str(input.status()), str(input.exam())), await exams())

        @reactive.calc
        async def bank_part() -> BankPart:
            if access is None:  # fail closed
                return BankPart([], [], [])
            status = str(input.status())  # this input only (a calc re-runs whatever changes)
            return await load_bank(ctx, access, status if status in STATUSES else ALL)

        @reactive.calc
        async def exam_part() -> ExamPart:
            if access is None:
                return ExamPart()
            exams_ = await exams()
            exam = str(input.exam())
            return await load_exam(ctx, access, exam if exam in exams_ else next(iter(exams_), ""))

        @render.ui
        async def bank() -> TagChild:
            f = await filters()
            return view_body(assemble(f, await exams(), await bank_part(), await exam_part()))

    app = App(page_ui, server)
    app.sanitize_errors = True
    return app


PAGE = PageSpec(name=NAME, title=TITLE, description=DESCRIPTION, build=build, preload=preload)
