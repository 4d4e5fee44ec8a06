"""The item bank in PostgreSQL: read items and live parameters, write candidate versions, promote.

The SQL mirrors the content service (apis/content/parameters.py): the same per-item advisory lock
(`params:<item_id>`), version = max + 1, and the same outbox events in the same transaction
(`content.item_parameters.added.v1` / `.promoted.v1`), so the lake and the real-time consumers
see pipeline calibrations exactly like API ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.db import item_parameters_lock
from core.events import ItemParametersAddedV1, ItemParametersPromotedV1, parameter_provenance
from core.ids import new_id
from core.outbox import append_sync
from orchestration.calibration.engine import CalibrationConfig
from orchestration.calibration.items import BankItem, Candidate
from orchestration.calibration.predicates import (
    CheckOutcome,
    ParamRow,
    check_bounds,
    check_drift,
    check_finite,
)

PRODUCER = "orchestration.calibration"


def _lock(conn: psycopg.Connection[Any], item_ids: Iterable[str]) -> None:
    """Per-item locks in a fixed order (the content service takes the same ones)."""
    for item_id in sorted(set(item_ids)):
        item_parameters_lock(item_id).hold_sync(conn)


def load_bank(conn: psycopg.Connection[Any]) -> dict[str, BankItem]:
    rows = conn.execute(
        "select i.item_id::text as item_id, i.status, i.scoring, p.param_id::text as param_id,"
        " p.model, p.a, p.d, p.c, p.calibration_id, p.version from content.items i"
        " left join content.item_parameters p on p.item_id = i.item_id and p.is_live"
    ).fetchall()
    return {
        r[0]: BankItem(
            item_id=r[0],
            status=r[1],
            scoring=r[2],
            live_param_id=r[3],
            live_model=r[4],
            live_a=float(r[5]) if r[5] is not None else None,
            live_d=tuple(float(x) for x in r[6]) if r[6] is not None else (),
            live_c=float(r[7]) if r[7] is not None else 0.0,
            live_calibration_id=r[8],
            live_version=int(r[9]) if r[9] is not None else None,
        )
        for r in rows
    }


def _param_row(r: Mapping[str, Any]) -> ParamRow:
    return ParamRow(
        item_id=r["item_id"],
        model=r["model"],
        a=float(r["a"]),
        d=tuple(float(x) for x in r["d"]),
        b=tuple(float(x) for x in r["b"]),
        c=float(r["c"]),
    )


@dataclass(frozen=True)
class CandidateRow:
    param_id: str
    version: int
    is_live: bool
    is_promotable: bool
    params: ParamRow


def write_candidates(
    conn: psycopg.Connection[Any],
    candidates: Sequence[Candidate],
    *,
    calibration_id: str,
    provenance: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Insert one new (not live) version per candidate with its provenance, and the added
    events, in the caller's transaction. Returns the rows written (param_id, version, …)."""
    _lock(conn, (c.item_id for c in candidates))
    out = []
    for c in sorted(candidates, key=lambda x: x.item_id):
        prov = {
            **provenance,
            "role": c.role,
            "group_id": c.group_id,
            "n_responses": c.n_responses,
            "n_persons": c.n_persons,
            "anchors": c.anchors,
            "log_likelihood": c.log_likelihood,
            "converged": c.converged,
            "iterations": c.iterations,
            "max_change": c.max_change,
            "latent_mean": c.latent_mean,
            "latent_sd": c.latent_sd,
            "se": {"a": c.se_a, "b": c.se_b},
            "fit": {"statistic": "S-X2", "value": c.sx2, "df": c.sx2_df, "p": c.sx2_p},
            "is_promotable": c.is_promotable,
            "linking": c.linking,
        }
        b = list(c.b)
        row = conn.execute(
            "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
            " model, a, b, c, d, provenance) values (%s, %s, (select coalesce(max(version), 0) + 1"
            " from content.item_parameters where item_id = %s), %s, %s, %s, %s, %s, %s, %s::jsonb)"
            " returning param_id::text, version, created_at",
            (
                new_id(),
                c.item_id,
                c.item_id,
                calibration_id,
                c.model,
                c.a,
                b,
                c.c,
                list(c.d),
                json.dumps(prov),
            ),
        ).fetchone()
        assert row is not None
        param_id, version, created_at = str(row[0]), int(row[1]), row[2]
        append_sync(
            conn,
            ItemParametersAddedV1(
                param_id=param_id,
                item_id=c.item_id,
                version=version,
                calibration_id=calibration_id,
                model=c.model,
                a=c.a,
                b=b,
                c=c.c,
                created_at=created_at,
                **parameter_provenance(prov),
            ),
        )
        out.append(
            {
                "param_id": param_id,
                "item_id": c.item_id,
                "version": version,
                "created_at": created_at,
            }
        )
    return out


def candidate_rows(conn: psycopg.Connection[Any], calibration_id: str) -> list[CandidateRow]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select param_id::text, item_id::text, version, model, a, b, c, d, is_live,"
            " coalesce((provenance ->> 'is_promotable')::boolean, true) as is_promotable"
            " from content.item_parameters where calibration_id = %s order by item_id",
            (calibration_id,),
        ).fetchall()
    return [
        CandidateRow(r["param_id"], r["version"], r["is_live"], r["is_promotable"], _param_row(r))
        for r in rows
    ]


def live_rows(
    conn: psycopg.Connection[Any], item_ids: Sequence[str], *, lock: bool = False
) -> dict[str, tuple[str, ParamRow]]:
    """The live (param_id, parameters) of each item that has one."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select param_id::text, item_id::text, model, a, b, c, d"
            " from content.item_parameters where item_id = any(%s::uuid[]) and is_live"
            + (" for update" if lock else ""),
            (list(item_ids),),
        ).fetchall()
    return {r["item_id"]: (r["param_id"], _param_row(r)) for r in rows}


@dataclass(frozen=True)
class Evaluation:
    finite: CheckOutcome
    bounds: CheckOutcome
    drift: CheckOutcome

    @property
    def passed(self) -> bool:
        return self.finite.passed and self.bounds.passed and self.drift.passed


def evaluate(
    conn: psycopg.Connection[Any],
    calibration_id: str,
    cfg: CalibrationConfig,
    *,
    lock: bool = False,
) -> tuple[list[CandidateRow], Evaluation]:
    """The three check predicates over a calibration's rows, against the current live rows.

    Every candidate is checked, promotable or not; drift compares with the live version (the
    candidate's own row excluded, so re-evaluating after promotion is stable)."""
    rows = candidate_rows(conn, calibration_id)
    params = [r.params for r in rows]
    live = live_rows(conn, [r.params.item_id for r in rows], lock=lock)
    own = {r.param_id for r in rows}
    previous = {item: p for item, (pid, p) in live.items() if pid not in own}
    return rows, Evaluation(
        check_finite(params), check_bounds(params, cfg), check_drift(params, previous, cfg)
    )


@dataclass(frozen=True)
class Promotion:
    promoted: list[dict[str, Any]]
    held_back: list[str]  # pilots below the response threshold
    promoted_at: datetime | None


def promote(
    conn: psycopg.Connection[Any], calibration_id: str, cfg: CalibrationConfig
) -> Promotion:
    """Make the calibration's promotable rows live, all or none, in the caller's transaction.

    The predicates are evaluated again under the item locks (a version promoted through the API
    after the checks ran cannot slip through); any failure raises and nothing changes."""
    rows = candidate_rows(conn, calibration_id)
    _lock(conn, (r.params.item_id for r in rows))
    rows, evaluation = evaluate(conn, calibration_id, cfg, lock=True)
    if not evaluation.passed:
        failures = {
            **evaluation.finite.failures,
            **evaluation.bounds.failures,
            **evaluation.drift.failures,
        }
        raise PromotionRefused(calibration_id, failures)
    todo = [r for r in rows if r.is_promotable and not r.is_live]
    held = [r.params.item_id for r in rows if not r.is_promotable]
    if not todo:
        return Promotion([], held, None)
    live = live_rows(conn, [r.params.item_id for r in todo])
    conn.execute(
        "update content.item_parameters set is_live = false"
        " where item_id = any(%s::uuid[]) and is_live",
        ([r.params.item_id for r in todo],),
    )
    updated = conn.execute(
        "update content.item_parameters set is_live = true, promoted_at = now()"
        " where param_id = any(%s::uuid[]) returning param_id::text, promoted_at",
        ([r.param_id for r in todo],),
    ).fetchall()
    if len(updated) != len(todo):
        raise RuntimeError(f"promoted {len(updated)} of {len(todo)} rows of {calibration_id}")
    promoted_at = updated[0][1]
    out = []
    for r in todo:
        previous = live.get(r.params.item_id)
        append_sync(
            conn,
            ItemParametersPromotedV1(
                param_id=r.param_id,
                item_id=r.params.item_id,
                version=r.version,
                calibration_id=calibration_id,
                previous_param_id=previous[0] if previous else None,
                promoted_at=promoted_at,
            ),
        )
        out.append(
            {
                "item_id": r.params.item_id,
                "param_id": r.param_id,
                "version": r.version,
                "previous_param_id": previous[0] if previous else None,
            }
        )
    return Promotion(out, held, promoted_at)


class PromotionRefused(RuntimeError):
    def __init__(self, calibration_id: str, failures: Mapping[str, str]) -> None:
        self.calibration_id = calibration_id
        self.failures = dict(failures)
        preview = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        super().__init__(
            f"calibration {calibration_id} not promoted: {len(failures)} item(s) fail the checks"
            f" ({preview})"
        )
