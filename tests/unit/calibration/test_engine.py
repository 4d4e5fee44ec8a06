"""The calibration plan and the check predicates, without services."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from lake.calibration_io import BRONZE_RESPONSES, SILVER, ResponseSource
from orchestration.calibration.engine import CalibrationConfig, code_responses, plan_calibration
from orchestration.calibration.items import BankItem, Candidate
from orchestration.calibration.predicates import (
    ParamRow,
    check_bounds,
    check_drift,
    check_finite,
    icc_rmsd,
)
from orchestration.calibration.resources import recovery_against_truth

CFG = CalibrationConfig(min_item_responses=100, pilot_promote_responses=400, fit_min_persons=100)


def _responses(
    rng: np.random.Generator,
    a: np.ndarray,
    b: np.ndarray,
    n: int,
    items: list[str],
    prefix: str,
    given: np.ndarray | None = None,
) -> pa.Table:
    theta = rng.normal(size=n)
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    y = rng.random(p.shape) < p
    mask = np.ones_like(y) if given is None else given
    s, j = np.nonzero(mask)
    return pa.table(
        {
            "attempt_id": [f"{prefix}{x}" for x in s],
            "item_id": [items[x] for x in j],
            "is_correct": y[s, j],
        }
    )


def _bank(items: list[str], status: str = "operational") -> dict[str, BankItem]:
    return {i: BankItem(i, status, "key") for i in items}


def test_two_disconnected_banks_are_two_groups_and_recover_their_items() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.8, 1.8, 10), rng.normal(size=10)
    left, right = [f"L{j}" for j in range(5)], [f"R{j}" for j in range(5)]
    table = pa.concat_tables(
        [
            _responses(rng, a[:5], b[:5], 1500, left, "x"),
            _responses(rng, a[5:], b[5:], 1500, right, "y"),
        ]
    )
    plan = plan_calibration(code_responses(table), _bank(left + right), CFG)
    assert len(plan.groups) == 2 and {g["items"] for g in plan.groups} == {5}
    by_id = {c.item_id: c for c in plan.candidates}
    est_b = np.array([by_id[i].b[0] for i in left + right])
    assert math.sqrt(np.mean((est_b - b) ** 2)) < 0.2
    assert all(c.role == "operational" and c.is_promotable for c in plan.candidates)
    assert all(c.sx2 is not None and c.se_a is not None for c in plan.candidates)
    assert plan.n_responses_used == table.num_rows


def test_items_are_skipped_for_stated_reasons() -> None:
    rng = np.random.default_rng(2)
    items = [f"I{j}" for j in range(6)]
    table = _responses(rng, np.ones(6), np.zeros(6), 300, items, "p")
    few = _responses(rng, np.ones(1), np.zeros(1), 20, ["rare"], "q")
    bank = _bank([*items[:3], "rare"])
    bank["I3"] = BankItem("I3", "retired", "key")
    bank["I4"] = BankItem("I4", "operational", "graded")
    plan = plan_calibration(code_responses(pa.concat_tables([table, few])), bank, CFG)
    reasons = {s.item_id: s.reason for s in plan.skipped}
    assert reasons == {
        "I3": "retired",
        "I4": "not_dichotomous",
        "I5": "not_in_bank",
        "rare": "too_few_responses",
    }
    assert {c.item_id for c in plan.candidates} == {"I0", "I1", "I2"}


def test_pilots_wait_for_live_anchors_then_land_on_the_live_scale() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0.8, 1.8, 12)
    b = rng.normal(size=12)
    ops, pilots = [f"O{j}" for j in range(10)], ["P0", "P1"]
    given = np.ones((2000, 12), dtype=bool)
    given[500:, 11] = False  # P1 answered by 500 students only
    table = _responses(rng, a, b, 2000, ops + pilots, "s", given)
    bank = _bank(ops) | {p: BankItem(p, "pilot", "key") for p in pilots}
    plan = plan_calibration(code_responses(table), bank, CFG)
    assert {s.item_id: s.reason for s in plan.skipped} == {
        "P0": "no_live_anchors",
        "P1": "no_live_anchors",
    }
    live = {
        i: BankItem(
            i, "operational", "key", f"param-{i}", "2pl", float(a[j]), (float(-a[j] * b[j]),)
        )
        for j, i in enumerate(ops)
    }
    plan = plan_calibration(code_responses(table), live | {p: bank[p] for p in pilots}, CFG)
    pilot_rows = {c.item_id: c for c in plan.candidates if c.role == "pilot"}
    assert set(pilot_rows) == {"P0", "P1"}
    assert pilot_rows["P0"].anchors == 10 and pilot_rows["P0"].is_promotable
    assert pilot_rows["P1"].n_responses == 500 and pilot_rows["P1"].is_promotable
    assert abs(pilot_rows["P0"].b[0] - b[10]) < 0.25 and abs(pilot_rows["P1"].b[0] - b[11]) < 0.35
    held = plan_calibration(
        code_responses(table),
        live | {p: bank[p] for p in pilots},
        CalibrationConfig(min_item_responses=100, pilot_promote_responses=1000),
    )
    assert {c.item_id: c.is_promotable for c in held.candidates if c.role == "pilot"} == {
        "P0": True,
        "P1": False,
    }


def _row(item: str = "i", a: float = 1.0, b: float = 0.0, c: float = 0.0) -> ParamRow:
    return ParamRow(item, "2pl", a, (-a * b,), (b,), c)


def test_finite_and_bounds_predicates() -> None:
    assert check_finite([_row(), _row("j", 2.0, 1.0)]).passed
    bad = check_finite([_row(), ParamRow("x", "2pl", math.nan, (0.0,), (math.nan,), 0.0)])
    assert not bad.passed and set(bad.failures) == {"x"}
    cfg = CalibrationConfig()
    ok = check_bounds([_row(a=0.5, b=-3.9), _row("j", a=3.9, b=3.9)], cfg)
    assert ok.passed
    out = check_bounds([_row("lo", a=0.1), _row("hi", b=4.5), _row("c", c=0.6)], cfg)
    assert set(out.failures) == {"lo", "hi", "c"}


def test_drift_is_the_distance_between_curves() -> None:
    assert icc_rmsd(_row(), _row()) == 0.0
    small, large = icc_rmsd(_row(b=0.1), _row()), icc_rmsd(_row(b=1.0), _row())
    assert 0 < small < 0.05 < large
    assert icc_rmsd(_row(a=2.0), _row(a=1.0)) > 0
    cfg = CalibrationConfig(max_icc_rmsd=0.05)
    outcome = check_drift(
        [_row("same"), _row("moved", b=1.0), _row("new")],
        {"same": _row("same"), "moved": _row("moved")},
        cfg,
    )
    assert not outcome.passed and set(outcome.failures) == {"moved"}
    assert outcome.metadata["compared_with_live"] == 2


def test_recovery_report_reads_the_demo_truth_file(tmp_path: Path) -> None:
    truth = tmp_path / "true_item_parameters.json"
    truth.write_text(
        json.dumps({"i1": {"a": 1.0, "b": 0.5, "key": 2}, "i2": {"a": 2.0, "b": -1.0}})
    )
    cand = [
        Candidate("i1", "operational", "2pl", 1.1, (-1.1 * 0.5,), 0.0, None, None, 10, 0, 10, -1.0, True, 3, 0.0, 0.0, 1.0, 0, True),
        Candidate("zz", "operational", "2pl", 1.0, (0.0,), 0.0, None, None, 10, 0, 10, -1.0, True, 3, 0.0, 0.0, 1.0, 0, True),
    ]  # fmt: skip
    report = recovery_against_truth(cand, truth)
    assert report["items_compared"] == 1
    assert report["rmse_a"] == pytest.approx(0.1) and report["rmse_b"] == pytest.approx(0.0)
    assert recovery_against_truth(cand, tmp_path / "missing.json") == {}


@pytest.mark.parametrize("source", [BRONZE_RESPONSES, SILVER])
def test_response_sources_yield_one_row_per_attempt_and_item(source: ResponseSource) -> None:
    con = duckdb.connect()
    if source is BRONZE_RESPONSES:
        payload = (
            '{"attempt_id":"A","exam_id":"E","student_id":"S","item_id":"I","choice":1,'
            '"is_correct":true,"answered_at":"2026-03-02T10:00:00Z"}'
        )
        con.execute(
            "create table t as select * from (values"
            f" (1, 'exams.response.recorded.v1', '{payload}'),"
            f" (2, 'exams.response.recorded.v1', '{payload}'),"
            " (3, 'exams.attempt.completed.v1', '{}')"
            ") v(event_seq, event_type, payload)"
        )
    else:
        con.execute(
            "create table t as select * from (values"
            " (1, 'exams.response.recorded.v1', 'A', 'E', 'k', 'I', true,"
            "  timestamptz '2026-03-02 10:00:00+00'),"
            " (2, 'exams.response.recorded.v1', 'A', 'E', 'k', 'I', true,"
            "  timestamptz '2026-03-02 10:00:00+00')"
            ") v(event_seq, event_type, attempt_id, exam_id, student_key, item_id, is_correct,"
            " answered_at)"
        )
    rows = con.execute(source.sql.replace("{scan}", "t")).fetchall()
    assert len(rows) == 1 and rows[0][:5] == ("A", "E", rows[0][2], "I", True)


def _shifted(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, n: int, mean: float, sd: float
) -> pa.Table:
    theta = rng.normal(mean, sd, n)
    y = rng.random((n, a.size)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    s, j = np.nonzero(np.ones_like(y))
    return pa.table(
        {"attempt_id": [f"s{x}" for x in s], "item_id": [f"I{x}" for x in j], "is_correct": y[s, j]}
    )


def _live_bank(a: np.ndarray, b: np.ndarray) -> dict[str, BankItem]:
    return {
        f"I{j}": BankItem(
            f"I{j}", "operational", "key", f"param-{j}", "2pl", float(a[j]),
            (float(-a[j] * b[j]),), 0.0, "cal-1", 1,
        )
        for j in range(a.size)
    }  # fmt: skip


def _as_rows(plan_candidates: list[Candidate]) -> list[ParamRow]:
    return [ParamRow(c.item_id, c.model, c.a, c.d, c.b, c.c) for c in plan_candidates]


def test_a_recalibration_on_a_shifted_population_is_linked_to_the_live_scale() -> None:
    """Unchanged items, a population of N(0.6, 1.3^2) on the live scale: the free calibration
    standardises it, linking through the live items brings the parameters back, drift passes;
    without linking the same data fail the drift check."""
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.8, 1.8, 20), rng.normal(0, 1, 20)
    table = _shifted(rng, a, b, 3000, 0.6, 1.3)
    bank = _live_bank(a, b)
    live = {i: ParamRow(i, "2pl", e.live_a or 0, e.live_d, (b[j],), 0.0) for j, (i, e) in enumerate(bank.items())}  # fmt: skip
    plan = plan_calibration(code_responses(table), bank, CFG)
    (group,) = plan.groups
    linking = group["linking"]
    assert linking["method"] == "stocking-lord" and linking["anchors"] == 20
    assert linking["dropped_as_drifted"] == [] and linking["target_calibrations"] == ["cal-1"]
    # population constants within the anchors' and the examinees' sampling error
    tol_a = 3 * math.hypot(linking["se_A"], 1.3 / math.sqrt(3000))
    tol_b = 3 * math.hypot(linking["se_B"], 1.3 / math.sqrt(3000))
    assert abs(linking["A"] - 1.3) < tol_a and abs(linking["B"] - 0.6) < tol_b, linking
    assert group["latent_mean"] == pytest.approx(linking["B"], abs=1e-3)
    assert all(c.linking == linking for c in plan.candidates)
    est_b = np.array([c.b[0] for c in sorted(plan.candidates, key=lambda c: int(c.item_id[1:]))])
    assert math.sqrt(np.mean((est_b - b) ** 2)) < 0.15
    assert check_drift(_as_rows(plan.candidates), live, CFG).passed
    unlinked = plan_calibration(code_responses(table), bank, replace(CFG, linking="none"))
    assert unlinked.groups[0]["linking"]["method"] == "none"
    assert not check_drift(_as_rows(unlinked.candidates), live, CFG).passed


def test_drifted_anchors_are_dropped_from_the_link_and_still_fail_the_drift_check() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0.8, 1.8, 20), rng.normal(0, 1, 20)
    changed = b.copy()
    changed[:3] += 1.2
    table = _shifted(rng, a, changed, 3000, 0.6, 1.3)
    bank = _live_bank(a, b)
    live = {i: ParamRow(i, "2pl", e.live_a or 0, e.live_d, (b[j],), 0.0) for j, (i, e) in enumerate(bank.items())}  # fmt: skip
    plan = plan_calibration(code_responses(table), bank, CFG)
    linking = plan.groups[0]["linking"]
    assert sorted(linking["dropped_as_drifted"]) == ["I0", "I1", "I2"]
    assert linking["anchors"] == 17 and linking["anchors_available"] == 20
    assert abs(linking["B"] - 0.6) < 0.15 and abs(linking["A"] - 1.3) < 0.15
    outcome = check_drift(_as_rows(plan.candidates), live, CFG)
    assert set(outcome.failures) == {"I0", "I1", "I2"}


def test_too_few_live_anchors_leave_the_calibration_unlinked() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.uniform(0.8, 1.8, 8), rng.normal(0, 1, 8)
    table = _shifted(rng, a, b, 1000, 0.0, 1.0)
    bank = _live_bank(a, b)
    for j in range(4, 8):
        bank[f"I{j}"] = BankItem(f"I{j}", "operational", "key")
    plan = plan_calibration(code_responses(table), bank, CFG)
    linking = plan.groups[0]["linking"]
    assert linking["method"] == "none" and linking["anchors_available"] == 4
    assert "min_link_anchors=5" in linking["reason"]
    assert {c.linking["method"] for c in plan.candidates} == {"none"}
    with pytest.raises(ValueError, match="linking must be one of"):
        plan_calibration(code_responses(table), bank, replace(CFG, linking="magic"))
