"""Person scoring: EAP, MAP, MLE and WLE, vectorised over persons.

* EAP (Bock & Mislevy 1982): posterior mean and SD over a quadrature grid.
* MAP: posterior mode under a normal prior.
* MLE: maximum likelihood, bounded to ``[-bound, bound]`` so that all-right and
  all-wrong patterns get finite estimates (reported at the bound).
* WLE (Warm 1989): root of ``S(θ) + J(θ) / (2 I(θ)) = 0`` with
  ``J = Σ_j Σ_k P'_jk P''_jk / P_jk``; finite for extreme patterns under the 1PL/2PL.

MAP/MLE/WLE first locate the root on a fine grid (one matrix product for all
persons), then polish it with two Newton–secant steps per person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from psychometrics._types import AnyArray, FloatArray
from psychometrics.models import ItemParameters, category_derivatives, log_category_probabilities
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = ["ThetaEstimates", "eap_scores", "map_scores", "ml_scores", "score", "wle_scores"]

_EPS = 1e-12


@dataclass(frozen=True)
class ThetaEstimates:
    """Ability estimates.

    Attributes:
        theta: ``(N,)`` estimates.
        se: ``(N,)`` standard errors (posterior SD for EAP).
        method: ``eap``, ``map``, ``mle`` or ``wle``.
        at_bound: ``(N,)`` estimates clipped to the search bound (MLE/WLE only).
    """

    theta: FloatArray
    se: FloatArray
    method: str
    at_bound: AnyArray


def _codes(responses: Any, items: ItemParameters) -> AnyArray:
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.shape[1] != items.n_items:
        raise ValueError("responses must have one column per item")
    missing = np.isnan(y) | (y < 0)
    codes = np.where(missing, -1, y).astype(np.int64)
    if np.any(codes >= items.n_categories[None, :]):
        raise ValueError("a response code exceeds its item's number of categories")
    return codes


def _onehot(codes: AnyArray, kmax: int) -> AnyArray:
    """``(N, J·K)`` indicator of the observed category (zeros when missing)."""
    n, j = codes.shape
    out = np.zeros((n, j, kmax))
    rows, cols = np.nonzero(codes >= 0)
    out[rows, cols, codes[rows, cols]] = 1.0
    return out.reshape(n, j * kmax)


def eap_scores(
    responses: Any,
    items: ItemParameters,
    *,
    grid: QuadratureGrid | None = None,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
) -> ThetaEstimates:
    """Expected a posteriori scores.

    Args:
        responses: ``(N, J)`` categories, ``NaN``/negative = missing (``(J,)`` allowed).
        items: the ``J`` items.
        grid: quadrature grid (default 121 nodes on prior mean ± 6 SD).
        prior_mean: normal prior mean.
        prior_sd: normal prior SD.

    Returns:
        Posterior means and SDs.
    """
    codes = _codes(responses, items)
    grid = grid or normal_grid(121, 6.0, prior_mean, prior_sd)
    kmax = items.max_categories
    logp = log_category_probabilities(items, grid.nodes).reshape(-1, grid.size)
    ll = _onehot(codes, kmax) @ logp + grid.log_weights
    ll -= ll.max(axis=1, keepdims=True)
    post = np.exp(ll)
    post /= post.sum(axis=1, keepdims=True)
    mean = post @ grid.nodes
    var = post @ (grid.nodes**2) - mean**2
    return ThetaEstimates(mean, np.sqrt(np.maximum(var, 0.0)), "eap", np.zeros(mean.shape, bool))


def _terms(
    codes: AnyArray, items: ItemParameters, theta: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-person score, information, Warm's J and log-likelihood at person-specific θ.

    Args:
        codes: ``(N, J)``; theta: ``(N,)``.

    Returns:
        Four ``(N,)`` arrays.
    """
    n = codes.shape[0]
    s = np.empty(n)
    info = np.empty(n)
    jt = np.empty(n)
    ll = np.empty(n)
    chunk = max(1, 2_000_000 // max(1, items.n_items * items.max_categories))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        th = theta[lo:hi]
        p, p1, p2 = category_derivatives(items, th)  # (J, K, n)
        cd = codes[lo:hi].T  # (J, n)
        obs = cd >= 0
        k = np.where(obs, cd, 0)
        pj = np.take_along_axis(p, k[:, None, :], axis=1)[:, 0]
        p1j = np.take_along_axis(p1, k[:, None, :], axis=1)[:, 0]
        pj = np.maximum(pj, _EPS)
        s[lo:hi] = (obs * p1j / pj).sum(axis=0)
        pp = np.maximum(p, _EPS)
        info[lo:hi] = (obs * (p1 * p1 / pp).sum(axis=1)).sum(axis=0)
        jt[lo:hi] = (obs * (p1 * p2 / pp).sum(axis=1)).sum(axis=0)
        ll[lo:hi] = (obs * np.log(pj)).sum(axis=0)
    return s, info, jt, ll


def _root_scores(
    responses: Any,
    items: ItemParameters,
    method: str,
    prior_mean: float,
    prior_sd: float,
    bound: float,
) -> ThetaEstimates:
    codes = _codes(responses, items)
    kmax = items.max_categories
    nodes = np.linspace(-bound, bound, round(2 * bound / 0.05) + 1)
    p, p1, p2 = category_derivatives(items, nodes)
    pp = np.maximum(p, _EPS)
    oh = _onehot(codes, kmax)
    obs = (codes >= 0).astype(np.float64)
    score_g = oh @ (p1 / pp).reshape(-1, nodes.size)
    info_g = obs @ (p1 * p1 / pp).sum(axis=1)
    if method == "map":
        f = score_g - (nodes - prior_mean) / prior_sd**2
    elif method == "mle":
        f = score_g
    else:
        j_g = obs @ (p1 * p2 / pp).sum(axis=1)
        f = score_g + j_g / (2 * np.maximum(info_g, _EPS))
    n = codes.shape[0]
    # the root: last + → − sign change of the estimating function (the grid maximum
    # of the objective for MLE/MAP); no change means the estimate sits on a bound
    pos = f > 0
    change = pos[:, :-1] & ~pos[:, 1:]
    if method in ("mle", "map"):
        obj = oh @ np.log(pp).reshape(-1, nodes.size)
        if method == "map":
            obj = obj - 0.5 * ((nodes - prior_mean) / prior_sd) ** 2
        best = obj.argmax(axis=1)
        idx = np.clip(best, 0, nodes.size - 2)
        left_ok = (best > 0) & change[np.arange(n), np.clip(best - 1, 0, nodes.size - 2)]
        idx = np.where(left_ok, best - 1, idx)
        has = change[np.arange(n), idx]
    else:
        has = change.any(axis=1)
        idx = np.where(has, nodes.size - 2 - np.argmax(change[:, ::-1], axis=1), 0)
    lo = nodes[idx]
    hi = nodes[idx + 1]
    flo = f[np.arange(n), idx]
    fhi = f[np.arange(n), idx + 1]
    theta = np.where(has, lo + (hi - lo) * flo / np.where(flo - fhi == 0, 1, flo - fhi), 0.0)
    at_bound = ~has
    theta = np.where(at_bound, np.where(f[:, 0] > 0, bound, -bound), theta)
    if method in ("mle", "map"):
        # maximiser on an edge of the grid → the bound itself
        edge = (obj.argmax(axis=1) == 0) | (obj.argmax(axis=1) == nodes.size - 1)
        theta = np.where(edge & at_bound, nodes[obj.argmax(axis=1)], theta)
    # Newton polishing inside the bracket
    act = np.flatnonzero(has)
    for _ in range(3):
        if act.size == 0:
            break
        th = theta[act]
        s, info, jt, _ = _terms(codes[act], items, th)
        if method == "map":
            fv = s - (th - prior_mean) / prior_sd**2
            df = -info - 1 / prior_sd**2
        elif method == "mle":
            fv = s
            df = -info
        else:
            fv = s + jt / (2 * np.maximum(info, _EPS))
            df = -info
        new = th - fv / np.where(df == 0, -1.0, df)
        theta[act] = np.clip(new, lo[act], hi[act])
    _, info, _, _ = _terms(codes, items, theta)
    if method == "map":
        info = info + 1 / prior_sd**2
    se = 1.0 / np.sqrt(np.maximum(info, _EPS))
    return ThetaEstimates(theta, se, method, at_bound)


def map_scores(
    responses: Any,
    items: ItemParameters,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    bound: float = 6.0,
) -> ThetaEstimates:
    """Maximum a posteriori scores under ``N(prior_mean, prior_sd²)``; SE from the
    posterior information ``I(θ) + 1/σ²``.  Arrays as in :func:`eap_scores`."""
    return _root_scores(responses, items, "map", prior_mean, prior_sd, bound)


def ml_scores(responses: Any, items: ItemParameters, *, bound: float = 6.0) -> ThetaEstimates:
    """Maximum likelihood scores on ``[-bound, bound]`` (finite for extreme patterns,
    flagged in ``at_bound``); SE ``1/√I(θ)``."""
    return _root_scores(responses, items, "mle", 0.0, 1.0, bound)


def wle_scores(responses: Any, items: ItemParameters, *, bound: float = 6.0) -> ThetaEstimates:
    """Warm's (1989) weighted likelihood estimates; SE ``1/√I(θ)``."""
    return _root_scores(responses, items, "wle", 0.0, 1.0, bound)


def score(
    responses: Any, items: ItemParameters, method: str = "eap", **kwargs: Any
) -> ThetaEstimates:
    """Dispatch to :func:`eap_scores`, :func:`map_scores`, :func:`ml_scores` or
    :func:`wle_scores` by ``method``."""
    funcs: dict[str, Callable[..., ThetaEstimates]] = {
        "eap": eap_scores,
        "map": map_scores,
        "mle": ml_scores,
        "ml": ml_scores,
        "wle": wle_scores,
    }
    try:
        fn = funcs[method.lower()]
    except KeyError:
        raise ValueError(f"unknown scoring method {method!r}") from None
    result: ThetaEstimates = fn(responses, items, **kwargs)
    return result
