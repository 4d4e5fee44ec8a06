"""Starting values from classical item statistics.

Uses the normal-ogive relations between a biserial (here polyserial-like)
item–rest correlation ``ρ`` and the IRT slope, ``a ≈ 1.702 ρ / √(1-ρ²)``
(Lord & Novick 1968, §16.10), and the marginal proportion above each category
boundary, ``P(Y ≥ k) ≈ σ(d_k / √(1 + (a/1.702)²))``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit
from scipy.stats import norm

from psychometrics._types import AnyArray, FloatArray, IntArray

__all__ = ["classical_start"]


def classical_start(
    codes: AnyArray, weights: FloatArray, n_categories: IntArray, max_rows: int = 5_000
) -> tuple[FloatArray, FloatArray]:
    """Slopes and intercepts from item statistics.

    Args:
        codes: responses ``(N, J)`` with ``-1`` for missing.
        weights: ``(N,)``.
        n_categories: ``(J,)``.
        max_rows: use a random subsample of this many rows for large data.

    Returns:
        ``a`` of shape ``(J,)`` and ``d`` of shape ``(J, K-1)`` (NaN padded).
    """
    if codes.shape[0] > max_rows:
        rows = np.random.default_rng(0).choice(codes.shape[0], max_rows, replace=False)
        codes = codes[rows]
        weights = weights[rows]
    obs = codes >= 0
    y = np.where(obs, codes, 0).astype(np.float64)
    wobs = obs * weights[:, None]
    tot_w = np.maximum(wobs.sum(axis=0), 1e-12)
    kmax = int(n_categories.max())
    # person score = mean of (response / (K-1)) over observed items; item-rest correlation
    scaled = y / (n_categories - 1)[None, :]
    n_obs = obs.sum(axis=1)[:, None]
    total = (scaled * obs).sum(axis=1)[:, None]
    rest = (total - scaled) / np.maximum(n_obs - 1, 1)
    mx = (scaled * wobs).sum(axis=0) / tot_w
    mr = (rest * wobs).sum(axis=0) / tot_w
    dx = (scaled - mx) * obs
    dr = (rest - mr) * obs
    cov = (dx * dr * weights[:, None]).sum(axis=0)
    vx = (dx * dx * weights[:, None]).sum(axis=0)
    vr = (dr * dr * weights[:, None]).sum(axis=0)
    r = cov / np.sqrt(np.maximum(vx * vr, 1e-24))
    p = np.clip(mx, 1e-3, 1 - 1e-3)
    dich = n_categories == 2
    r = np.where(dich, r * np.sqrt(p * (1 - p)) / norm.pdf(norm.ppf(p)), r)
    r = np.clip(np.nan_to_num(r, nan=0.3), 0.05, 0.9)
    a = 1.702 * r / np.sqrt(1 - r * r)
    a = np.clip(a, 0.25, 4.0)
    d = np.full((codes.shape[1], kmax - 1), np.nan)
    scale = np.sqrt(1.0 + (a / 1.702) ** 2)
    for k in range(1, kmax):
        has = n_categories > k
        pk = ((y >= k) * wobs).sum(axis=0) / tot_w
        pk = np.clip(pk, 0.005, 0.995)
        d[has, k - 1] = logit(pk[has]) * scale[has]
    # keep GRM intercepts strictly decreasing
    for k in range(1, kmax - 1):
        both = ~np.isnan(d[:, k])
        d[both, k] = np.minimum(d[both, k], d[both, k - 1] - 0.05)
    return a, d
