"""The checks a calibration's parameters must pass before promotion, as plain predicates
(the Dagster asset checks in `checks.py` and the promotion in `bank.py` both use them)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.settings import CalibrationSettings
from psychometrics import (
    ItemParameters,
    category_probabilities,
    normal_grid,
)


@dataclass(frozen=True)
class ParamRow:
    """Parameters of one item as stored (slope-intercept plus IRT thresholds)."""

    item_id: str
    model: str
    a: float
    d: tuple[float, ...]
    b: tuple[float, ...]
    c: float


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    failures: dict[str, str]
    metadata: dict[str, Any]


def check_finite(rows: Sequence[ParamRow]) -> CheckOutcome:
    bad = {
        r.item_id: "non-finite parameter"
        for r in rows
        if not all(math.isfinite(x) for x in (r.a, r.c, *r.b, *r.d)) or not r.b or not r.d
    }
    return CheckOutcome(not bad, bad, {"items": len(rows), "non_finite": len(bad)})


def check_bounds(rows: Sequence[ParamRow], cfg: CalibrationSettings) -> CheckOutcome:
    bad: dict[str, str] = {}
    for r in rows:
        problems = []
        if not cfg.a_min <= r.a <= cfg.a_max:
            problems.append(f"a={r.a:.3f} outside [{cfg.a_min}, {cfg.a_max}]")
        if any(not cfg.b_min <= b <= cfg.b_max for b in r.b):
            problems.append(f"b={list(r.b)} outside [{cfg.b_min}, {cfg.b_max}]")
        if not 0.0 <= r.c < cfg.c_max:
            problems.append(f"c={r.c:.3f} outside [0, {cfg.c_max})")
        if problems:
            bad[r.item_id] = "; ".join(problems)
    return CheckOutcome(not bad, bad, {"items": len(rows), "out_of_bounds": len(bad)})


def icc_rmsd(new: ParamRow, old: ParamRow, n_nodes: int = 61) -> float:
    """Root mean squared difference of the expected-score curves (the ICC of a dichotomous
    item) over theta ~ N(0, 1): sqrt(E[(E_new[X|theta] - E_old[X|theta])^2])."""
    grid = normal_grid(n_nodes, 6.0)
    p_new = category_probabilities(_items(new), grid.nodes)[0]  # (K, Q)
    p_old = category_probabilities(_items(old), grid.nodes)[0]
    if p_new.shape != p_old.shape:
        return math.inf
    k = np.arange(p_new.shape[0])[:, None]
    diff = (k * p_new).sum(axis=0) - (k * p_old).sum(axis=0)  # expected-score curves
    return float(np.sqrt((diff**2) @ grid.weights))


def _items(row: ParamRow) -> ItemParameters:
    return ItemParameters(row.model, np.array([row.a]), np.array([list(row.d)]), np.array([row.c]))


def check_drift(
    rows: Sequence[ParamRow], live: Mapping[str, ParamRow], cfg: CalibrationSettings
) -> CheckOutcome:
    """Items whose live version's curve differs by more than cfg.max_icc_rmsd are flagged."""
    bad: dict[str, str] = {}
    worst = 0.0
    compared = 0
    for r in rows:
        old = live.get(r.item_id)
        if old is None:
            continue
        compared += 1
        try:
            rmsd = icc_rmsd(r, old)
        except ValueError:
            rmsd = math.inf
        worst = max(worst, rmsd)
        if not rmsd <= cfg.max_icc_rmsd:
            bad[r.item_id] = (
                f"ICC RMSD {rmsd:.4f} > {cfg.max_icc_rmsd} (a {old.a:.3f} -> {r.a:.3f}, "
                f"b {old.b[0]:.3f} -> {r.b[0]:.3f})"
            )
    return CheckOutcome(
        not bad,
        bad,
        {
            "items": len(rows),
            "compared_with_live": compared,
            "drifted": len(bad),
            "max_icc_rmsd": round(worst, 5) if math.isfinite(worst) else "inf",
            "threshold": cfg.max_icc_rmsd,
        },
    )
