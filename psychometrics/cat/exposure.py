"""Choosing the item from criterion values, with exposure control.

* ``none``: the best available item.
* ``randomesque`` (Kingsbury & Zara 1989): uniform draw among the ``k`` best.
* ``sympson-hetter`` (Sympson & Hetter 1985): walk down the ranked candidates
  and administer candidate ``i`` with probability ``K_i``; the last candidate is
  administered if all are rejected.  :func:`sympson_hetter_calibrate` finds
  ``K_i`` by the iterative simulation procedure of the same paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from psychometrics._types import AnyArray, BoolArray, FloatArray, IntArray

__all__ = ["choose", "pick_ranked", "rank_and_pick", "sympson_hetter_calibrate"]

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


class UniformSource(Protocol):
    """A source of uniform doubles in ``[0, 1)`` (``Generator.random()``, one at a time)."""

    def uniform(self) -> float: ...


def rank_and_pick(
    neg: AnyArray,
    method: str,
    rng: UniformSource,
    *,
    k: int = 5,
    sh: Sequence[float] = (),
) -> int:
    """The item :func:`choose` picks for one examinee, from its *negated* masked criterion.

    ``neg`` is ``-np.where(available, criterion, -inf)``, shape ``(I,)`` (``+inf`` where
    unavailable): exactly the array :func:`choose` partitions.  The ranking uses the very
    numpy kernels of :func:`choose` (``argmax``/``argpartition`` on the same dtype and
    values; ``argsort`` unless the candidates are distinct, where any sort gives its
    order), so ties break identically.  The draws are the same doubles of the same stream
    (``rng.uniform()`` is ``Generator.random()``); the Sympson–Hetter lottery stops drawing
    once a candidate is accepted, which changes nothing since the step draws nothing after.
    """
    n_items = neg.shape[0]
    if method == "none":
        return int((-neg).argmax())
    m = min(n_items, k if method == "randomesque" else _SH_CANDIDATES)
    top = neg.argpartition(m - 1)[:m] if m < n_items else np.arange(n_items)
    cand: list[int] = top.tolist()
    vals: list[float] = neg[top].tolist()
    if len(set(vals)) == len(vals) and math.isfinite(sum(vals)):
        # Distinct finite values: every sort gives argsort's order.
        ranked = [cand[j] for j in sorted(range(len(vals)), key=vals.__getitem__)]
        return pick_ranked(ranked, None, method, rng, sh=sh)
    # Ties, infinities (unavailable items) or NaN: numpy's own order.
    order: list[int] = np.asarray(neg[top]).argsort().tolist()
    finite = [math.isfinite(vals[j]) for j in order]
    return pick_ranked([cand[j] for j in order], finite, method, rng, sh=sh)


def pick_ranked(
    ranked: list[int],
    finite: list[bool] | None,
    method: str,
    rng: UniformSource,
    *,
    sh: Sequence[float] = (),
) -> int:
    """The randomesque or Sympson–Hetter pick among :func:`choose`'s ranked candidates.

    Args:
        ranked: the ``m`` candidates, best first (as :func:`choose` orders them).
        finite: whether each candidate's criterion is finite (``None``: all are).
        method: ``randomesque`` or ``sympson-hetter``.
        rng: source of uniform doubles (``Generator.random()``).
        sh: Sympson–Hetter probabilities per bank item.
    """
    if not ranked:  # k < 1: what choose's top[rows, pick] raises
        raise IndexError("index 0 is out of bounds for axis 1 with size 0")
    n_ok = len(ranked) if finite is None else sum(finite)
    if method == "randomesque":
        return ranked[int(rng.uniform() * max(n_ok, 1))]
    if not sh:
        raise ValueError("sympson-hetter needs sh")
    for j, item in enumerate(ranked):
        if rng.uniform() < sh[item] and (finite is None or finite[j]):
            return item
    return ranked[max(n_ok - 1, 0)]


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
