"""The calibration resource: Settings + thresholds, and the three things the assets do with them
(calibrate a pinned snapshot into candidate versions, evaluate a calibration, promote it)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from core.settings import Settings
from lake.calibration_io import (
    PinnedSnapshot,
    append_item_parameters,
    pin_snapshot,
    read_responses,
)
from orchestration.calibration import bank
from orchestration.calibration.engine import CalibrationConfig, code_responses
from orchestration.calibration.engine import plan_calibration as _plan
from orchestration.calibration.items import Candidate

TRUE_PARAMETERS_FILE = Path("demo") / "true_item_parameters.json"


@dataclass(frozen=True)
class CalibrationRun:
    """What one calibration did (becomes the asset's materialization metadata)."""

    calibration_id: str
    snapshot: PinnedSnapshot
    n_responses: int
    summary: dict[str, Any]
    written: list[dict[str, Any]]
    lake_snapshot_id: int | None
    seconds: float
    recovery: dict[str, Any] = field(default_factory=dict)


def recovery_against_truth(candidates: list[Candidate], truth_file: Path) -> dict[str, Any]:
    """RMSE of a and b against a simulator's true parameters (`{item_id: {"a", "b"}}`), when the
    demo left such a file; empty otherwise."""
    if not truth_file.is_file():
        return {}
    truth = json.loads(truth_file.read_text())
    pairs = [(c, truth[c.item_id]) for c in candidates if c.item_id in truth]
    if not pairs:
        return {}
    da = np.array([c.a - float(t["a"]) for c, t in pairs])
    db = np.array([c.b[0] - float(t["b"]) for c, t in pairs])
    return {
        "truth_file": str(truth_file),
        "items_compared": len(pairs),
        "rmse_a": round(float(np.sqrt(np.mean(da**2))), 4),
        "rmse_b": round(float(np.sqrt(np.mean(db**2))), 4),
    }


@dataclass(frozen=True)
class CalibrationResource:
    """Passed to the calibration assets and checks as the `calibration` resource."""

    settings: Settings
    #: The thresholds; default: the settings' `calibration` section (a test passes its own).
    config: CalibrationConfig | None = None

    @property
    def thresholds(self) -> CalibrationConfig:
        return self.config or self.settings.calibration

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.settings.database_url)

    def calibrate(self, *, run_id: str = "") -> CalibrationRun:
        started = time.perf_counter()
        cfg = self.thresholds
        snapshot = pin_snapshot(self.settings)
        history = read_responses(self.settings, snapshot)
        with self.connect() as conn:
            items = bank.load_bank(conn)
        plan = _plan(code_responses(history.responses), items, cfg)
        now = datetime.now(UTC)
        calibration_id = (
            f"{cfg.model}-s{snapshot.snapshot_id}-{now:%Y%m%dT%H%M%S%fZ}" if plan.candidates else ""
        )
        written: list[dict[str, Any]] = []
        lake_snapshot: int | None = None
        if plan.candidates:
            provenance = {
                "producer": bank.PRODUCER,
                "calibration_id": calibration_id,
                "model": cfg.model,
                "source_table": snapshot.table,
                "source_snapshot_id": str(snapshot.snapshot_id),
                "source_metadata_location": snapshot.metadata_location,
                "source_responses": history.n_responses,
                "config": cfg.to_dict(),
                "dagster_run_id": run_id,
            }
            with self.connect() as conn, conn.transaction():
                written = bank.write_candidates(
                    conn, plan.candidates, calibration_id=calibration_id, provenance=provenance
                )
            lake_snapshot = append_item_parameters(
                self.settings,
                _lake_rows(plan.candidates, written, calibration_id, snapshot, now),
                calibration_id=calibration_id,
                source=snapshot,
            )
        return CalibrationRun(
            calibration_id=calibration_id,
            snapshot=snapshot,
            n_responses=history.n_responses,
            summary=plan.summary(),
            written=written,
            lake_snapshot_id=lake_snapshot,
            seconds=time.perf_counter() - started,
            recovery=recovery_against_truth(
                plan.candidates, self.settings.state_dir / TRUE_PARAMETERS_FILE
            ),
        )

    def evaluate(self, calibration_id: str) -> bank.Evaluation:
        with self.connect() as conn:
            return bank.evaluate(conn, calibration_id, self.thresholds)[1]

    def promote(self, calibration_id: str) -> bank.Promotion:
        with self.connect() as conn, conn.transaction():
            return bank.promote(conn, calibration_id, self.thresholds)


def _none_if_nan(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _lake_rows(
    candidates: list[Candidate],
    written: list[dict[str, Any]],
    calibration_id: str,
    snapshot: PinnedSnapshot,
    created_at: datetime,
) -> list[dict[str, Any]]:
    by_item = {w["item_id"]: w for w in written}
    rows = []
    for c in candidates:
        w = by_item[c.item_id]
        rows.append(
            {
                "calibration_id": calibration_id,
                "param_id": w["param_id"],
                "item_id": c.item_id,
                "version": w["version"],
                "model": c.model,
                "role": c.role,
                "a": c.a,
                "b": list(c.b),
                "c": c.c,
                "d": list(c.d),
                "se_a": _none_if_nan(c.se_a),
                "se_b": _none_if_nan(c.se_b),
                "n_responses": c.n_responses,
                "group_id": c.group_id,
                "n_persons": c.n_persons,
                "log_likelihood": c.log_likelihood,
                "converged": c.converged,
                "iterations": c.iterations,
                "sx2": c.sx2,
                "sx2_df": c.sx2_df,
                "sx2_p": c.sx2_p,
                "is_promotable": c.is_promotable,
                "link_method": c.linking.get("method"),
                "link_a": c.linking.get("A"),
                "link_b": c.linking.get("B"),
                "link_anchors": c.linking.get("anchors"),
                "source_table": snapshot.table,
                "source_snapshot_id": int(snapshot.snapshot_id or 0),
                "created_at": created_at,
            }
        )
    return rows
