"""Starting values from classical item statistics.

Uses the normal-ogive relations between a biserial (here polyserial-like)
item–rest correlation ``ρ`` and the IRT slope, ``a ≈ 1.702 ρ / √(1-ρ²)``
(Lord & Novick 1968, §16.10), and the marginal proportion above each category
boundary, ``P(Y ≥ k) ≈ σ(d_k / √(1 + (a/1.702)²))``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtri  # ndtri: normal quantile (scipy.stats is slow to import)

from psychometrics._types import AnyArray, FloatArray, IntArray

__all__ = ["classical_start"]


def _wsum(w: FloatArray, x: AnyArray) -> FloatArray:
    """Weighted column sums ``w @ x`` without BLAS threads (see :mod:`.estep`)."""
    return np.asarray(np.einsum("n,nj->j", w, x, dtype=np.float64))


def _normal_pdf(z: FloatArray) -> FloatArray:
    return np.asarray(np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi))


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
        rows = np.sort(np.random.default_rng(0).choice(codes.shape[0], max_rows, replace=False))
        codes = codes[rows]
        weights = weights[rows]
    obs = codes >= 0
    y = np.maximum(codes, 0).astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    kmax = int(n_categories.max())
    # person score = mean of (response / (K-1)) over observed items; item-rest correlation.
    # Weighted moments over the observed cells as matrix-vector products (x = 0 when missing).
    scaled = y * (1.0 / (n_categories - 1))[None, :]
    n_obs = np.count_nonzero(obs, axis=1)
    total = scaled.sum(axis=1)
    rest = (total[:, None] - scaled) * (1.0 / np.maximum(n_obs - 1, 1))[:, None]
    rest *= obs
    tot_w = np.maximum(_wsum(w, obs), 1e-12)
    sx = _wsum(w, scaled)
    sr = _wsum(w, rest)
    sxx = _wsum(w, scaled * scaled)
    srr = _wsum(w, rest * rest)
    sxr = _wsum(w, scaled * rest)
    mx = sx / tot_w
    cov = sxr - sx * sr / tot_w
    vx = sxx - sx * mx
    vr = srr - sr * sr / tot_w
    r = cov / np.sqrt(np.maximum(vx * vr, 1e-24))
    p = np.clip(mx, 1e-3, 1 - 1e-3)
    dich = n_categories == 2
    r = np.where(dich, r * np.sqrt(p * (1 - p)) / _normal_pdf(ndtri(p)), r)
    r = np.clip(np.nan_to_num(r, nan=0.3), 0.05, 0.9)
    a = 1.702 * r / np.sqrt(1 - r * r)
    a = np.clip(a, 0.25, 4.0)
    d = np.full((codes.shape[1], kmax - 1), np.nan)
    scale = np.sqrt(1.0 + (a / 1.702) ** 2)
    for k in range(1, kmax):
        has = n_categories > k
        pk = sx / tot_w if kmax == 2 else _wsum(w, y >= k) / tot_w
        pk = np.clip(pk, 0.005, 0.995)
        d[has, k - 1] = logit(pk[has]) * scale[has]
    # keep GRM intercepts strictly decreasing
    for k in range(1, kmax - 1):
        both = ~np.isnan(d[:, k])
        d[both, k] = np.minimum(d[both, k], d[both, k - 1] - 0.05)
    return a, d
