"""Classical test theory item analysis: facility, point-biserial discrimination, alpha.

Missing responses (``NaN`` or negative codes) are skipped pairwise; weights are
frequency weights.  Cronbach's (1951) alpha uses complete rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from psychometrics._types import FloatArray

__all__ = ["ItemAnalysis", "cronbach_alpha", "item_analysis"]


@dataclass(frozen=True)
class ItemAnalysis:
    """Classical statistics.

    Attributes:
        facility: mean item score / (K-1) (the p-value for 0/1 items), shape ``(J,)``.
        point_biserial: correlation of the item with the rest score
            (corrected item–total), shape ``(J,)``.
        item_total: uncorrected item–total correlation, shape ``(J,)``.
        alpha: Cronbach's alpha of the whole test.
        alpha_if_deleted: alpha without each item, shape ``(J,)``.
        n_observed: (weighted) number of responses per item, shape ``(J,)``.
    """

    facility: FloatArray
    point_biserial: FloatArray
    item_total: FloatArray
    alpha: float
    alpha_if_deleted: FloatArray
    n_observed: FloatArray


def _prep(
    responses: Any, weights: Sequence[float] | FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("responses must be a 2-D (persons × items) array")
    y = np.where(y < 0, np.nan, y)
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return y, w


def cronbach_alpha(responses: Any, weights: Sequence[float] | FloatArray | None = None) -> float:
    """Cronbach's (1951) alpha ``J/(J-1) · (1 - Σ var_j / var_total)`` on complete rows.

    Args:
        responses: ``(N, J)`` item scores.
        weights: ``(N,)`` frequency weights.
    """
    y, w = _prep(responses, weights)
    keep = ~np.isnan(y).any(axis=1)
    y, w = y[keep], w[keep]
    j = y.shape[1]
    if j < 2 or w.sum() <= 0:
        return float("nan")
    mean = np.average(y, axis=0, weights=w)
    var_items = np.average((y - mean) ** 2, axis=0, weights=w)
    tot = y.sum(axis=1)
    var_tot = np.average((tot - np.average(tot, weights=w)) ** 2, weights=w)
    if var_tot <= 0:
        return float("nan")
    return float(j / (j - 1) * (1 - var_items.sum() / var_tot))


def _wcorr(x: FloatArray, y: FloatArray, w: FloatArray) -> float:
    mx = np.average(x, weights=w)
    my = np.average(y, weights=w)
    cov = np.average((x - mx) * (y - my), weights=w)
    den = np.sqrt(np.average((x - mx) ** 2, weights=w) * np.average((y - my) ** 2, weights=w))
    return float(cov / den) if den > 0 else float("nan")


def item_analysis(
    responses: Any,
    weights: Sequence[float] | FloatArray | None = None,
    n_categories: Sequence[int] | None = None,
) -> ItemAnalysis:
    """Facility, point-biserial (item–rest) discrimination and alpha.

    Args:
        responses: ``(N, J)`` item scores (``0 … K-1``), ``NaN``/negative = missing.
        weights: ``(N,)`` frequency weights.
        n_categories: categories per item (default ``max + 1``, at least 2).

    Returns:
        The :class:`ItemAnalysis`.  With missing data the total score of a person
        is the sum over the items they answered.
    """
    y, w = _prep(responses, weights)
    j = y.shape[1]
    obs = ~np.isnan(y)
    k = (
        np.maximum(np.nanmax(np.where(obs, y, 0), axis=0) + 1, 2)
        if n_categories is None
        else np.asarray(n_categories, dtype=np.float64)
    )
    y0 = np.where(obs, y, 0.0)
    total = y0.sum(axis=1)
    facility = np.empty(j)
    pbis = np.empty(j)
    itot = np.empty(j)
    nobs = np.empty(j)
    for i in range(j):
        m = obs[:, i]
        wi = w[m]
        nobs[i] = wi.sum()
        if nobs[i] <= 0:
            facility[i] = pbis[i] = itot[i] = np.nan
            continue
        facility[i] = np.average(y[m, i], weights=wi) / (k[i] - 1)
        pbis[i] = _wcorr(y[m, i], total[m] - y[m, i], wi)
        itot[i] = _wcorr(y[m, i], total[m], wi)
    alpha = cronbach_alpha(y, w)
    aid = np.array([cronbach_alpha(np.delete(y, i, axis=1), w) for i in range(j)])
    return ItemAnalysis(facility, pbis, itot, alpha, aid, nobs)
