"""The self-running calibration loop at a realistic volume, in process.

A known 2PL bank (40 operational items) answered by 2,000 simulated students (80k responses)
plus 4 pilot items, written to the outbox in bulk (COPY, payloads encoded with the event contract),
ingested into Iceberg with `lake.ingest.ingest_outbox`, then the calibration assets and their
checks are materialized three times against one Dagster instance:

1. free 2PL calibration of the operational items -> parameters recover the truth (RMSE within
   sampling tolerance), checks pass, the version is promoted and is what the exam service reads;
   pilots wait (no live anchors yet);
2. same snapshot again -> no drift, promoted; pilots get fixed-anchor calibration, the ones with
   enough responses are promoted, the others are recorded but held back;
3. 1,000 more students for whom 10 items became much harder -> the drift check fails, the
   promotion step does not run, the live version stays the one of run 2.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import psycopg
import pytest

from core.events import ResponseRecordedV1, encode_payload
from core.ids import new_id
from core.settings import Settings
from lake.calibration_io import ITEM_PARAMETERS, read_responses
from lake.duck import connect
from lake.ingest import ingest_outbox, pending_events
from orchestration.calibration.assets import item_parameters, live_item_parameters
from orchestration.calibration.checks import calibration_checks
from orchestration.calibration.engine import CalibrationConfig
from orchestration.calibration.resources import CalibrationResource

pytestmark = pytest.mark.integration

N_ITEMS = 40
N_STUDENTS = 2_000
PILOTS = {0: 1_000, 1: 1_000, 2: 300, 3: 300}  # pilot index -> students answering it
CONFIG = CalibrationConfig(min_item_responses=200, pilot_promote_responses=500, max_icc_rmsd=0.05)
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
COPY_SQL = (
    "copy events.outbox (event_id, event_type, aggregate_id, occurred_at, payload) from stdin"
)


def _seed_bank(settings: Settings, n_items: int) -> tuple[str, list[str]]:
    teacher = str(new_id())
    item_ids = [str(new_id()) for _ in range(n_items)]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Teacher', 'teacher', 'x')",
            (teacher, f"{teacher}@example.org"),
        )
        with conn.cursor().copy(
            "copy content.items (item_id, owner_id, stem, options, answer_key, skills, status)"
            " from stdin"
        ) as copy:
            for j, item_id in enumerate(item_ids):
                status = "pilot" if j >= N_ITEMS else "operational"
                copy.write_row(
                    (item_id, teacher, f"Q{j}", '["A", "B", "C", "D"]', 0, "{algebra}", status)
                )
    return teacher, item_ids


def _write_responses(
    settings: Settings,
    exam_id: str,
    item_ids: list[str],
    answered: np.ndarray,  # (N, J) bool: item given to the student
    correct: np.ndarray,  # (N, J) bool
    day: datetime,
) -> int:
    """One attempt per student; one response event per answered item, COPYed in bulk."""
    rows = 0
    with psycopg.connect(settings.database_url) as conn, conn.cursor().copy(COPY_SQL) as copy:
        for s in range(answered.shape[0]):
            attempt, student = str(new_id()), str(new_id())
            started = day + timedelta(seconds=int(s))
            for j in np.flatnonzero(answered[s]):
                at = started + timedelta(seconds=30 * int(j))
                event = ResponseRecordedV1(
                    attempt_id=attempt,
                    exam_id=exam_id,
                    student_id=student,
                    item_id=item_ids[j],
                    choice=0 if correct[s, j] else 1,
                    is_correct=bool(correct[s, j]),
                    answered_at=at,
                )
                copy.write_row(
                    (str(new_id()), event.event_type, attempt, at, encode_payload(event).decode())
                )
                rows += 1
    return rows


def _ingest(settings: Settings, expected: int) -> None:
    deadline = time.monotonic() + 60
    while pending_events(settings) < expected:
        assert time.monotonic() < deadline, "outbox rows never became final"
        time.sleep(0.05)
    result = ingest_outbox(settings)
    assert result.rows >= expected


def _simulate(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    theta = rng.normal(0.0, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    return theta, rng.random(p.shape) < p


def _materialize(
    resource: CalibrationResource, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [item_parameters, live_item_parameters, *calibration_checks],
        resources={"calibration": resource},
        instance=instance,
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key
    }


def _live(settings: Settings, item_ids: list[str]) -> dict[str, tuple[str, float, float]]:
    """What the exam service reads: the live row of each item (apis/exams/queries.py)."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select item_id::text, calibration_id, a, b[1] from content.item_parameters"
            " where item_id = any(%s::uuid[]) and is_live",
            (item_ids,),
        ).fetchall()
    return {r[0]: (r[1], float(r[2]), float(r[3])) for r in rows}


def _rmse(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def test_calibration_recovers_promotes_and_refuses_drift(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t_start = time.perf_counter()
    settings = replace(settings, state_dir=tmp_path)  # a private demo truth file, below
    rng = np.random.default_rng(20261126)
    n_total = N_ITEMS + len(PILOTS)
    a = rng.uniform(0.7, 2.0, n_total)
    b = np.clip(rng.normal(0.0, 1.0, n_total), -2.5, 2.5)
    _, item_ids = _seed_bank(settings, n_total)
    # the demo's format: the simulator's true parameters by item id
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "true_item_parameters.json").write_text(
        json.dumps({i: {"a": a[j], "b": b[j], "key": 0} for j, i in enumerate(item_ids)})
    )
    exam_id = str(new_id())
    _, correct = _simulate(rng, a, b, N_STUDENTS)
    answered = np.zeros_like(correct)
    answered[:, :N_ITEMS] = True
    for p, n in PILOTS.items():
        answered[rng.choice(N_STUDENTS, n, replace=False), N_ITEMS + p] = True
    written = _write_responses(settings, exam_id, item_ids, answered, correct, T0)
    assert written == N_ITEMS * N_STUDENTS + sum(PILOTS.values())
    _ingest(settings, written)
    t_data = time.perf_counter()

    resource = CalibrationResource(settings, CONFIG)
    instance = dg.DagsterInstance.ephemeral()
    operational, pilots = item_ids[:N_ITEMS], item_ids[N_ITEMS:]

    # ---- run 1: operational items recovered, checked, promoted
    first = _materialize(resource, instance)
    assert first.success
    checks = _checks(first)
    assert checks == {
        "item_parameters_are_finite": True,
        "item_parameters_are_within_bounds": True,
        "item_parameters_drift_is_small": True,
    }
    meta = _materialized(first)
    cal1 = str(meta[ITEM_PARAMETERS]["calibration_id"])
    assert meta[ITEM_PARAMETERS]["operational_items"] == N_ITEMS
    assert meta[ITEM_PARAMETERS]["pilot_items"] == 0  # no live anchors yet
    assert meta["live_item_parameters"]["promoted"] == N_ITEMS
    live = _live(settings, item_ids)
    assert set(live) == set(operational)
    assert {cal for cal, _, _ in live.values()} == {cal1}
    est_a = np.array([live[i][1] for i in operational])
    est_b = np.array([live[i][2] for i in operational])
    rmse_a = _rmse(est_a - a[:N_ITEMS])
    rmse_b = _rmse(est_b - b[:N_ITEMS])
    # sampling tolerance for 2,000 examinees: SE(a) ~ 0.06-0.10, SE(b) ~ 0.04-0.10
    assert rmse_a < 0.15, rmse_a
    assert rmse_b < 0.15, rmse_b
    recovery = meta[ITEM_PARAMETERS]["recovery"]
    assert isinstance(recovery, dict) and recovery["items_compared"] == N_ITEMS
    assert recovery["rmse_a"] == pytest.approx(rmse_a, abs=1e-4)
    assert recovery["rmse_b"] == pytest.approx(rmse_b, abs=1e-4)

    # provenance: the pinned snapshot is recorded, and reading it again gives the same data
    with psycopg.connect(settings.database_url) as conn:
        prov = conn.execute(
            "select provenance from content.item_parameters where calibration_id = %s limit 1",
            (cal1,),
        ).fetchone()
    assert prov is not None
    provenance = prov[0]
    assert provenance["source_snapshot_id"] == meta[ITEM_PARAMETERS]["source_snapshot_id"]
    assert provenance["model"] == "2pl" and provenance["converged"] is True
    assert provenance["n_responses"] == N_STUDENTS
    assert provenance["fit"]["statistic"] == "S-X2" and provenance["fit"]["value"] is not None
    assert np.isfinite(provenance["log_likelihood"])
    # ... and each version's added event carries the provenance the marts read from the lake
    # (issue 18: stg_content__item_parameters), equal to the row's provenance JSON
    with psycopg.connect(settings.database_url) as conn:
        pairs = conn.execute(
            "select p.provenance, o.payload from content.item_parameters p join events.outbox o"
            " on o.event_type = 'content.item_parameters.added.v1'"
            " and o.payload ->> 'param_id' = p.param_id::text where p.calibration_id = %s",
            (cal1,),
        ).fetchall()
    assert len(pairs) == N_ITEMS
    for row_provenance, payload in pairs:
        assert payload["source_snapshot_id"] == row_provenance["source_snapshot_id"]
        assert payload["n_responses"] == row_provenance["n_responses"] == N_STUDENTS
        assert payload["role"] == row_provenance["role"] == "operational"
        for field, value in (
            ("se_a", row_provenance["se"]["a"]),
            ("se_b", row_provenance["se"]["b"]),
            ("sx2", row_provenance["fit"]["value"]),
            ("sx2_df", row_provenance["fit"]["df"]),
            ("sx2_p", row_provenance["fit"]["p"]),
        ):
            assert value is not None and payload[field] == pytest.approx(value, rel=1e-9), field

    # ---- run 2: same snapshot -> no drift; pilots anchored on the live bank
    second = _materialize(resource, instance)
    assert second.success
    assert all(_checks(second).values()), _checks(second)
    meta2 = _materialized(second)
    cal2 = str(meta2[ITEM_PARAMETERS]["calibration_id"])
    assert (
        meta2[ITEM_PARAMETERS]["source_snapshot_id"] == meta[ITEM_PARAMETERS]["source_snapshot_id"]
    )
    assert meta2[ITEM_PARAMETERS]["pilot_items"] == len(PILOTS)
    assert meta2["live_item_parameters"]["held_back_pilots"] == 2
    live2 = _live(settings, item_ids)
    promoted_pilots = [pilots[p] for p, n in PILOTS.items() if n >= CONFIG.pilot_promote_responses]
    assert set(live2) == set(operational) | set(promoted_pilots)
    assert {cal for cal, _, _ in live2.values()} == {cal2}
    pilot_idx = [N_ITEMS + p for p, n in PILOTS.items() if n >= CONFIG.pilot_promote_responses]
    pilot_da = np.array([live2[item_ids[j]][1] - a[j] for j in pilot_idx])
    pilot_db = np.array([live2[item_ids[j]][2] - b[j] for j in pilot_idx])
    assert np.all(np.abs(pilot_db) < 0.35), pilot_db
    assert np.all(np.abs(pilot_da) < 0.5), pilot_da

    # ---- run 3: 10 items became much harder for 1,000 new students -> drift blocks promotion
    drift_b = b.copy()
    drift_b[:10] += 1.5
    _, correct3 = _simulate(rng, a, drift_b, 1_000)
    answered3 = np.zeros_like(correct3)
    answered3[:, :N_ITEMS] = True
    more = _write_responses(
        settings, exam_id, item_ids, answered3, correct3, T0 + timedelta(days=7)
    )
    _ingest(settings, more)
    third = _materialize(resource, instance)
    checks3 = _checks(third)
    assert checks3["item_parameters_drift_is_small"] is False
    assert checks3["item_parameters_are_finite"] is True
    assert checks3["item_parameters_are_within_bounds"] is True
    meta3 = _materialized(third)
    assert "live_item_parameters" not in meta3  # the blocking check stopped the promotion
    cal3 = str(meta3[ITEM_PARAMETERS]["calibration_id"])
    assert (
        meta3[ITEM_PARAMETERS]["source_snapshot_id"] != meta[ITEM_PARAMETERS]["source_snapshot_id"]
    )
    assert _live(settings, item_ids) == live2
    drift = next(
        ev
        for ev in third.get_asset_check_evaluations()
        if ev.check_name == "item_parameters_drift_is_small"
    )
    flagged = drift.metadata["failures"].value
    assert isinstance(flagged, dict)
    assert set(flagged) <= set(operational[:10]) and len(flagged) >= 5
    # the candidate rows of run 3 exist, not live; promoting them by hand is refused too
    with pytest.raises(Exception, match="not promoted"):
        resource.promote(cal3)
    assert _live(settings, item_ids) == live2

    # ---- the Iceberg history holds every calibrated version with its provenance
    con = connect(settings)
    try:
        history = con.execute(
            f"select calibration_id, count(*), min(source_snapshot_id), bool_and(converged)"
            f" from {ITEM_PARAMETERS} group by calibration_id order by min(created_at)"
        ).fetchall()
    finally:
        con.close()
    assert [h[0] for h in history] == [cal1, cal2, cal3]
    assert [h[1] for h in history] == [N_ITEMS, N_ITEMS + len(PILOTS), N_ITEMS + len(PILOTS)]
    assert read_responses(settings).n_responses == written + more

    elapsed = time.perf_counter() - t_start
    with capsys.disabled():
        print(
            f"\ncalibration recovery (2PL, {N_ITEMS} items x {N_STUDENTS} students): "
            f"RMSE(a) = {rmse_a:.4f}, RMSE(b) = {rmse_b:.4f}; pilots |db| max "
            f"{np.max(np.abs(pilot_db)):.3f}, |da| max {np.max(np.abs(pilot_da)):.3f}; "
            f"drift flagged {len(flagged)}/10; data {t_data - t_start:.1f}s, total {elapsed:.1f}s"
        )
