"""Person fit: the standardised log-likelihood ``lz*`` corrected for an estimated θ.

Snijders, T. A. B. (2001). Asymptotic null distribution of person fit statistics with
estimated person parameter. *Psychometrika*, 66(3), 331–342.  (Formulas as restated by
Magis, Raîche & Béland 2012, *Applied Psychological Measurement* 36(4), 277–296.)

For a person with dichotomous answers ``x_j`` to ``n`` items with ``P_j = P_j(θ)``,
``Q_j = 1 - P_j`` and ``P'_j = dP_j/dθ``:

* ``w_j = ln(P_j / Q_j)`` and ``W = Σ (x_j - P_j) w_j`` (the centred log-likelihood);
* the θ estimator is the root of ``r_0(θ) + Σ r_j(θ)(x_j - P_j) = 0`` with
  ``r_j = P'_j / (P_j Q_j)`` and ``r_0 = 0`` (ML), ``J / (2 I)`` (WLE, Warm 1989) or
  ``-(θ - μ)/σ²`` (MAP under ``N(μ, σ²)``);
* ``c = Σ P'_j w_j / Σ P'_j r_j`` and ``w̃_j = w_j - c r_j``;
* ``lz* = (W + c r_0) / √(Σ w̃_j² P_j Q_j)``, all evaluated at ``θ̂``.

Unlike the classical ``lz`` (Drasgow, Levine & Williams 1985), ``lz*`` is asymptotically
standard normal when θ is estimated from the same answers, so the lower-tail rule
``lz* < -z_{1-α}`` (``-1.645`` at ``α = .05``) flags misfit at about the nominal rate.
Low values mean a pattern less likely than the model expects (guessing, copying,
careless answers); the reason string says which kind of surprise dominated.

Stateless and vectorised like the rest of the engine: ``responses (N, J)`` with 0/1
(``NaN`` or negative = not administered, so adaptive tests fit), ``theta (N,)``; results
per person, shape ``(N,)``.  Graded items (GRM) use the same correction over categories
(Sinharay, S. 2016, Asymptotically correct standardization of person-fit statistics beyond
dichotomous items, *Psychometrika* 81(4), 992–1013); see :func:`lz_star`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.models import ItemParameters, category_derivatives
from psychometrics.scoring import map_scores, ml_scores, wle_scores

__all__ = ["ESTIMATORS", "MIN_ITEMS", "PersonFit", "lz_star", "person_fit"]

ESTIMATORS = ("ml", "wle", "map")
MIN_ITEMS = 5  # fewer answers carry too little information to judge a pattern
_EPS = 1e-12
_SURPRISE = 0.25  # an answer is "surprising" when the model gave it less than this chance


@dataclass(frozen=True)
class PersonFit:
    """Person fit of ``N`` response patterns.

    Attributes:
        lz_star: ``(N,)`` Snijders' ``lz*``; ``NaN`` when not defined (see ``reasons``).
        lz: ``(N,)`` the uncorrected ``lz`` at the same θ (for comparison).
        theta: ``(N,)`` the θ at which both were evaluated.
        n_items: ``(N,)`` answered items.
        flagged: ``(N,)`` ``lz* < critical``.
        critical: the cut ``-z_{1-α}``.
        reasons: one sentence per person explaining the flag (or its absence).
    """

    lz_star: FloatArray
    lz: FloatArray
    theta: FloatArray
    n_items: IntArray
    flagged: BoolArray
    critical: float
    reasons: tuple[str, ...]


def _answers(responses: Any, items: ItemParameters) -> tuple[IntArray, BoolArray]:
    """Category codes ``(N, J)`` (0 where missing) and the observed mask."""
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.shape[1] != items.n_items:
        raise ValueError("responses must have one column per item")
    observed = ~(np.isnan(y) | (y < 0))
    codes = np.where(observed, y, 0.0)
    if np.any(codes != np.round(codes)) or np.any(codes >= items.n_categories[None, :]):
        raise ValueError("responses must be 0, 1 (graded: 0 … K-1) or missing")
    return codes.astype(np.int64), observed


def _terms(
    codes: IntArray, items: ItemParameters, theta: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    """One-hot answers ``U`` and ``P, P', P''`` as ``(N, J, K)``; the valid-category mask."""
    p, p1, p2 = (np.transpose(a, (2, 0, 1)) for a in category_derivatives(items, theta))
    valid = np.arange(items.max_categories)[None, :] < items.n_categories[:, None]  # (J, K)
    u = (codes[:, :, None] == np.arange(items.max_categories)[None, None, :]).astype(np.float64)
    return u, np.where(valid, np.maximum(p, _EPS), 1.0), p1 * valid, p2 * valid, valid


def lz_star(
    responses: Any,
    items: ItemParameters,
    theta: Any,
    *,
    estimator: str = "ml",
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """``lz*`` and ``lz`` at given θ (no extremes handling; see :func:`person_fit`).

    Over categories ``k`` of each item (Sinharay 2016's form of Snijders' correction, which is
    the module docstring's for two categories): ``w_jk = ln P_jk``, ``r_jk = P'_jk / P_jk``,
    ``W = Σ_jk (u_jk - P_jk) w_jk``, ``c = Σ P'_jk w_jk / Σ P'_jk r_jk`` and the variance
    ``Σ_j [Σ_k w̃_jk² P_jk - (Σ_k w̃_jk P_jk)²]`` with ``w̃ = w - c r``.

    Args:
        responses: ``(N, J)`` category codes (0/1 for dichotomous items), ``NaN``/negative =
            not administered.
        items: ``J`` items (Rasch/1PL/2PL/3PL or GRM).
        theta: ``(N,)`` the estimates made by ``estimator`` from these answers.
        estimator: ``ml``, ``wle`` or ``map`` (decides ``r_0``).
        prior_mean, prior_sd: the MAP prior.

    Returns:
        ``(lz_star, lz)``, each ``(N,)``; ``NaN`` for a person without answers.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    codes, obs = _answers(responses, items)
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.shape[0] != codes.shape[0]:
        raise ValueError("theta must have one entry per response row")
    u, p, p1, p2, valid = _terms(codes, items, th)
    w = np.where(valid, np.log(p), 0.0)
    r = p1 / p
    o = obs[:, :, None]
    big_w = (o * (u - p * valid) * w).sum(axis=(1, 2))
    c = (o * p1 * w).sum(axis=(1, 2)) / np.maximum((o * p1 * r).sum(axis=(1, 2)), _EPS)
    if estimator == "ml":
        r0 = np.zeros_like(th)
    elif estimator == "map":
        r0 = -(th - prior_mean) / prior_sd**2
    else:  # Warm's J / (2 I)
        info = (o * p1 * p1 / p).sum(axis=(1, 2))
        r0 = (o * p1 * p2 / p).sum(axis=(1, 2)) / (2.0 * np.maximum(info, _EPS))

    def variance(v: FloatArray) -> FloatArray:
        pv = p * valid
        per_item = (v * v * pv).sum(axis=2) - (v * pv).sum(axis=2) ** 2
        return np.asarray((obs * per_item).sum(axis=1), dtype=np.float64)

    tau2 = variance(w - c[:, None, None] * r)
    var_w = variance(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        star = np.where(tau2 > 0, (big_w + c * r0) / np.sqrt(tau2), np.nan)
        plain = np.where(var_w > 0, big_w / np.sqrt(var_w), np.nan)
    return np.asarray(star, dtype=np.float64), np.asarray(plain, dtype=np.float64)


def _estimate(
    responses: Any, items: ItemParameters, estimator: str, prior: tuple[float, float]
) -> FloatArray:
    if estimator == "ml":
        return ml_scores(responses, items).theta
    if estimator == "wle":
        return wle_scores(responses, items).theta
    return map_scores(responses, items, prior_mean=prior[0], prior_sd=prior[1]).theta


def _reason(
    value: float, n: int, extreme: bool, surprises: tuple[int, int], critical: float, alpha: float
) -> str:
    """Why a pattern was (or was not) flagged, in one sentence a teacher can read."""
    if n < MIN_ITEMS:
        return f"not assessed: {n} answered items (person fit needs at least {MIN_ITEMS})"
    if extreme:
        return "not assessed: all answers right or all wrong, so no pattern can misfit"
    if not np.isfinite(value):
        return "not assessed: the model gives no variance at this ability"
    if value >= critical:
        return f"fits: lz* = {value:.2f} is not below {critical:.3f} (α = {alpha:g})"
    low, high = surprises
    if high > low:
        kind = f"{high} unexpectedly high scores on hard items (lucky guessing or copying?)"
    elif low > high:
        kind = f"{low} unexpectedly low scores on easy items (careless or rushed answers?)"
    else:
        kind = f"{low} unexpectedly low and {high} unexpectedly high scores"
    return f"misfit: lz* = {value:.2f} < {critical:.3f} (α = {alpha:g}); {kind}"


def person_fit(
    responses: Any,
    items: ItemParameters,
    theta: Any | None = None,
    *,
    estimator: str = "ml",
    alpha: float = 0.05,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
) -> PersonFit:
    """``lz*`` of every pattern, the flag ``lz* < -z_{1-α}`` and a reason for each.

    Args:
        responses: ``(N, J)`` category codes, ``NaN``/negative = not administered.
        items: ``J`` items (Rasch/1PL/2PL/3PL, GRM).
        theta: ``(N,)`` estimates by ``estimator``; ``None`` estimates them here.
        estimator: ``ml`` (bounded MLE), ``wle`` or ``map`` (prior ``N(prior_mean, prior_sd²)``).
        alpha: one-sided level of the flag (``.05`` → ``lz* < -1.645``).

    Patterns with fewer than :data:`MIN_ITEMS` answers, or all in the lowest / all in the
    highest category, get ``NaN`` and are never flagged (their reason says so).
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError("alpha must be in (0, 0.5)")
    codes, obs = _answers(responses, items)
    prior = (prior_mean, prior_sd)
    th = _estimate(responses, items, estimator, prior) if theta is None else theta
    th = np.asarray(th, dtype=np.float64).reshape(-1)
    star, plain = lz_star(
        responses, items, th, estimator=estimator, prior_mean=prior_mean, prior_sd=prior_sd
    )
    n = obs.sum(axis=1)
    top = items.n_categories[None, :] - 1
    extreme = ((obs & (codes == 0)).sum(axis=1) == n) | ((obs & (codes == top)).sum(axis=1) == n)
    assessable = (n >= MIN_ITEMS) & ~extreme
    star = np.where(assessable, star, np.nan)
    critical = float(ndtri(alpha))
    flagged = assessable & np.isfinite(star) & (star < critical)
    # surprise: the answer's share of the maximum is far (> 1 - _SURPRISE) from the expected
    p = np.transpose(category_derivatives(items, th)[0], (2, 0, 1))  # (N, J, K)
    expected = (p * np.arange(items.max_categories)).sum(axis=2) / top
    share = codes / top
    low = (obs & (expected - share > 1.0 - _SURPRISE)).sum(axis=1)
    high = (obs & (share - expected > 1.0 - _SURPRISE)).sum(axis=1)
    reasons = tuple(
        _reason(float(star[i]), int(n[i]), bool(extreme[i]), (int(low[i]), int(high[i])),
                critical, alpha)
        for i in range(star.shape[0])
    )  # fmt: skip
    return PersonFit(
        lz_star=np.asarray(star, dtype=np.float64),
        lz=plain,
        theta=th,
        n_items=np.asarray(n, dtype=np.int64),
        flagged=np.asarray(flagged, dtype=np.bool_),
        critical=critical,
        reasons=reasons,
    )
