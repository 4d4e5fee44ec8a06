"""Model fit: S-X² item fit (Orlando & Thissen 2000) and reliability.

S-X² compares, for each summed score ``s``, the observed proportion of persons
in each category of item ``j`` with the model-implied proportion

    E_jks = ∫ P_jk(θ) f*_j(s - k | θ) φ(θ) dθ / ∫ f(s | θ) φ(θ) dθ,

where ``f`` and ``f*_j`` are the summed-score distributions with and without
item ``j``, obtained by the Lord & Wingersky (1984) recursion.  Adjacent
score groups are merged from the extremes until every expected cell count is
at least ``min_expected`` (mirt's default is 1).  Degrees of freedom are
``groups · (K_j - 1) - (free parameters of item j)``.

Marginal reliability follows mirt's ``marginal_rxx``:
``ρ = σ²_θ / (σ²_θ + ∫ I(θ)⁻¹ φ(θ) dθ)``; empirical reliability uses EAP
scores: ``var(EAP) / (var(EAP) + mean(PSD²))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import chdtrc  # chi-square survival (scipy.stats takes 0.3 s to import)

from psychometrics._types import FloatArray, IntArray
from psychometrics.models import ItemParameters, category_probabilities, test_information
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = [
    "ItemFit",
    "empirical_reliability",
    "lord_wingersky",
    "marginal_reliability",
    "sx2_item_fit",
]


@dataclass(frozen=True)
class ItemFit:
    """S-X² per item: statistic, degrees of freedom and p-value, each ``(J,)``."""

    sx2: FloatArray
    df: IntArray
    p_value: FloatArray


def lord_wingersky(probs: FloatArray) -> FloatArray:
    """Summed-score distribution given θ (Lord & Wingersky 1984).

    Args:
        probs: category probabilities ``(J, K, Q)``.

    Returns:
        ``(S, Q)`` with ``S = Σ_j (K_j - 1) + 1`` possible scores (padding
        categories of zero probability contribute nothing).
    """
    J, K, Q = probs.shape
    dist = np.zeros((1 + J * (K - 1), Q))
    dist[0] = 1.0
    top = 0
    for j in range(J):
        new = np.zeros_like(dist)
        for k in range(K):
            if k == 0 or probs[j, k].any():
                new[k : top + k + 1] += dist[: top + 1] * probs[j, k]
        top += int(np.max(np.flatnonzero(probs[j].any(axis=1)))) if probs[j].any() else 0
        dist = new
    return dist[: top + 1]


def sx2_item_fit(
    responses: Any,
    items: ItemParameters,
    *,
    weights: Sequence[float] | FloatArray | None = None,
    grid: QuadratureGrid | None = None,
    min_expected: float = 1.0,
    n_free: Sequence[int] | None = None,
) -> ItemFit:
    """Orlando & Thissen's (2000) S-X² for every item (complete response rows only).

    Args:
        responses: ``(N, J)`` categories; rows with missing values are dropped.
        items: fitted items.
        weights: ``(N,)`` frequency weights.
        grid: quadrature grid (default 61 nodes on [-6, 6], N(0,1)).
        min_expected: minimum expected count per cell when merging score groups.
        n_free: free parameters per item (default from the model: 1 (Rasch
            intercept), 2 (2PL), 3 (3PL), K (GRM)).

    Returns:
        The :class:`ItemFit`.
    """
    y = np.asarray(responses, dtype=np.float64)
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = ~(np.isnan(y) | (y < 0)).any(axis=1)
    y = y[keep].astype(np.int64)
    w = w[keep]
    grid = grid or normal_grid(61, 6.0)
    p = category_probabilities(items, grid.nodes)  # (J, K, Q)
    J = p.shape[0]
    kj = items.n_categories
    full = lord_wingersky(p)
    smax = full.shape[0] - 1
    pw = grid.weights
    denom = full @ pw  # P(score = s)
    scores = y.sum(axis=1)
    n_s = np.bincount(scores, weights=w, minlength=smax + 1)
    if n_free is None:
        per = {"rasch": 1, "1pl": 1, "2pl": 2, "3pl": 3}
        n_free = [per.get(items.model, int(kj[j])) for j in range(J)]
    stats = np.full(J, np.nan)
    dfs = np.zeros(J, dtype=np.int64)
    for j in range(J):
        rest = lord_wingersky(np.delete(p, j, axis=0))
        kk = int(kj[j])
        # expected proportions E[s, k] for s = 0..smax
        e = np.zeros((smax + 1, kk))
        for k in range(kk):
            e[k : k + rest.shape[0], k] = (rest * p[j, k][None, :]) @ pw
        with np.errstate(invalid="ignore", divide="ignore"):
            e = e / denom[:, None]
        o = np.zeros((smax + 1, kk))
        for k in range(kk):
            o[:, k] = np.bincount(scores, weights=w * (y[:, j] == k), minlength=smax + 1)
        # drop the extreme scores (deterministic responses), then merge sparse groups
        s_lo, s_hi = kk - 1, smax - (kk - 1)
        groups: list[tuple[FloatArray, FloatArray, float]] = []
        for s in range(s_lo, s_hi + 1):
            if n_s[s] > 0:
                groups.append((o[s].copy(), e[s] * n_s[s], float(n_s[s])))
        merged = _merge(groups, min_expected)
        x2 = 0.0
        for obs_c, exp_c, _n in merged:
            ok = exp_c > 0
            x2 += float((((obs_c - exp_c) ** 2)[ok] / exp_c[ok]).sum())
        stats[j] = x2
        dfs[j] = len(merged) * (kk - 1) - int(n_free[j])
    pv = np.where(dfs > 0, chdtrc(np.maximum(dfs, 1), stats), np.nan)
    return ItemFit(stats, dfs, pv)


def _merge(
    groups: list[tuple[FloatArray, FloatArray, float]], min_expected: float
) -> list[tuple[FloatArray, FloatArray, float]]:
    """Merge adjacent score groups from both ends until expected counts ≥ min_expected."""
    g = list(groups)

    def small(t: tuple[FloatArray, FloatArray, float]) -> bool:
        return bool(np.any(t[1] < min_expected))

    while len(g) > 1 and small(g[0]):
        a, b = g.pop(0), g.pop(0)
        g.insert(0, (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
    while len(g) > 1 and small(g[-1]):
        b, a = g.pop(), g.pop()
        g.append((a[0] + b[0], a[1] + b[1], a[2] + b[2]))
    i = 0
    while i < len(g) - 1:
        if small(g[i]):
            a, b = g.pop(i), g.pop(i)
            g.insert(i, (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
        else:
            i += 1
    return g


def marginal_reliability(items: ItemParameters, grid: QuadratureGrid | None = None) -> float:
    """``1 / (1 + ∫ I(θ)⁻¹ φ(θ) dθ)`` for θ ~ N(0, 1) (mirt's ``marginal_rxx``)."""
    grid = grid or normal_grid(61, 6.0)
    info = test_information(items, grid.nodes)
    err = float((grid.weights / np.maximum(info, 1e-12)).sum())
    return 1.0 / (1.0 + err)


def empirical_reliability(theta: FloatArray, se: FloatArray) -> float:
    """``var(θ̂) / (var(θ̂) + mean(se²))`` for EAP scores and posterior SDs, shapes ``(N,)``."""
    v = float(np.var(theta))
    return v / (v + float(np.mean(np.asarray(se) ** 2)))
