"""Choosing the item from criterion values, with exposure control.

* ``none``: the best available item.
* ``randomesque`` (Kingsbury & Zara 1989): uniform draw among the ``k`` best.
* ``sympson-hetter`` (Sympson & Hetter 1985): walk down the ranked candidates
  and administer candidate ``i`` with probability ``K_i``; the last candidate is
  administered if all are rejected.  :func:`sympson_hetter_calibrate` finds
  ``K_i`` by the iterative simulation procedure of the same paper.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from psychometrics._types import BoolArray, FloatArray, IntArray

__all__ = ["choose", "sympson_hetter_calibrate"]

_SH_CANDIDATES = 10


def choose(
    criterion: FloatArray,
    available: BoolArray,
    method: str,
    rng: np.random.Generator,
    *,
    k: int = 5,
    sh: FloatArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """Pick one item per examinee.

    Args:
        criterion: ``(E, I)`` larger-is-better values.
        available: ``(E, I)`` boolean mask (each row needs one available item).
        method: ``none``, ``randomesque`` or ``sympson-hetter``.
        rng: random generator.
        k: randomesque candidates.
        sh: ``(I,)`` Sympson–Hetter probabilities.

    Returns:
        Chosen items ``(E,)`` and their criterion values ``(E,)``.
    """
    crit = np.where(available, criterion, -np.inf)
    e, n_items = crit.shape
    rows = np.arange(e)
    if method == "none":
        best = crit.argmax(axis=1)
        return best, crit[rows, best]
    m = min(n_items, k if method == "randomesque" else _SH_CANDIDATES)
    top = (
        np.argpartition(-crit, m - 1, axis=1)[:, :m]
        if m < n_items
        else np.tile(np.arange(n_items), (e, 1))
    )
    vals = crit[rows[:, None], top]
    order = np.argsort(-vals, axis=1)
    top = top[rows[:, None], order]
    vals = vals[rows[:, None], order]
    n_ok = np.isfinite(vals).sum(axis=1)
    if method == "randomesque":
        pick = (rng.random(e) * np.maximum(n_ok, 1)).astype(np.int64)
    else:
        if sh is None:
            raise ValueError("sympson-hetter needs sh")
        accept = (rng.random((e, m)) < sh[top]) & np.isfinite(vals)
        first = np.where(accept.any(axis=1), accept.argmax(axis=1), np.maximum(n_ok - 1, 0))
        pick = first
    chosen = top[rows, pick]
    return chosen, crit[rows, chosen]


def sympson_hetter_calibrate(
    simulate_exposure: Callable[[FloatArray], FloatArray],
    n_items: int,
    r_max: float = 0.25,
    iterations: int = 10,
) -> FloatArray:
    """Iterative Sympson–Hetter (1985) calibration of exposure parameters ``K_i``.

    Args:
        simulate_exposure: runs a CAT simulation with the given ``K`` and returns
            the *selection* rate of each item (before the SH lottery), shape ``(I,)``.
        n_items: bank size ``I``.
        r_max: target maximum exposure rate.
        iterations: rounds of simulation.

    Returns:
        ``K`` of shape ``(I,)``.
    """
    kpar = np.ones(n_items)
    for _ in range(iterations):
        selected = simulate_exposure(kpar)
        kpar = np.where(selected > r_max, r_max / np.maximum(selected, 1e-12), 1.0)
    return kpar
