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
per person, shape ``(N,)``.  Dichotomous items (Rasch/1PL/2PL/3PL) only; graded items raise.
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


def _answers(responses: Any, items: ItemParameters) -> tuple[FloatArray, BoolArray]:
    """0/1 answers as float ``(N, J)`` (0 where missing) and the observed mask."""
    if np.any(items.n_categories != 2):
        raise ValueError("lz* is defined here for dichotomous items only (no graded items)")
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    if y.shape[1] != items.n_items:
        raise ValueError("responses must have one column per item")
    observed = ~(np.isnan(y) | (y < 0))
    if np.any(observed & (y != 0) & (y != 1)):
        raise ValueError("responses must be 0, 1 or missing")
    return np.where(observed, y, 0.0), observed


def _r0(
    estimator: str,
    theta: FloatArray,
    p1: FloatArray,
    p2: FloatArray,
    pq: FloatArray,
    obs: BoolArray,
    prior: tuple[float, float],
) -> FloatArray:
    """The estimator's extra term ``r_0(θ)`` (module docstring), shape ``(N,)``."""
    if estimator == "ml":
        return np.zeros_like(theta)
    if estimator == "map":
        mean, sd = prior
        return -(theta - mean) / sd**2
    info = (obs * p1 * p1 / pq).sum(axis=1)
    warm_j = (obs * p1 * p2 / pq).sum(axis=1)
    return np.asarray(warm_j / (2.0 * np.maximum(info, _EPS)), dtype=np.float64)


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

    Args:
        responses: ``(N, J)`` 0/1, ``NaN``/negative = not administered.
        items: ``J`` dichotomous items.
        theta: ``(N,)`` the estimates made by ``estimator`` from these answers.
        estimator: ``ml``, ``wle`` or ``map`` (decides ``r_0``).
        prior_mean, prior_sd: the MAP prior.

    Returns:
        ``(lz_star, lz)``, each ``(N,)``; ``NaN`` for a person without answers.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    x, obs = _answers(responses, items)
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.shape[0] != x.shape[0]:
        raise ValueError("theta must have one entry per response row")
    p_all, p1_all, p2_all = category_derivatives(items, th)  # (J, 2, N)
    p = np.clip(p_all[:, 1, :].T, _EPS, 1.0 - _EPS)  # (N, J): P(correct)
    p1, p2 = p1_all[:, 1, :].T, p2_all[:, 1, :].T
    pq = p * (1.0 - p)
    w = np.log(p / (1.0 - p))
    r = p1 / pq
    resid = obs * (x - p)
    big_w = (resid * w).sum(axis=1)
    c = (obs * p1 * w).sum(axis=1) / np.maximum((obs * p1 * r).sum(axis=1), _EPS)
    r0 = _r0(estimator, th, p1, p2, pq, obs, (prior_mean, prior_sd))
    w_tilde = w - c[:, None] * r
    tau2 = (obs * w_tilde * w_tilde * pq).sum(axis=1)
    var_w = (obs * w * w * pq).sum(axis=1)
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
    value: float, n: int, n_right: int, surprises: tuple[int, int], critical: float, alpha: float
) -> str:
    """Why a pattern was (or was not) flagged, in one sentence a teacher can read."""
    if n < MIN_ITEMS:
        return f"not assessed: {n} answered items (person fit needs at least {MIN_ITEMS})"
    if n_right in (0, n):
        return "not assessed: all answers right or all wrong, so no pattern can misfit"
    if not np.isfinite(value):
        return "not assessed: the model gives no variance at this ability"
    if value >= critical:
        return f"fits: lz* = {value:.2f} is not below {critical:.3f} (α = {alpha:g})"
    easy_missed, hard_right = surprises
    if hard_right > easy_missed:
        kind = f"{hard_right} unexpectedly right hard items (lucky guessing or copying?)"
    elif easy_missed > hard_right:
        kind = f"{easy_missed} unexpectedly missed easy items (careless or rushed answers?)"
    else:
        kind = f"{easy_missed} missed easy and {hard_right} right hard items"
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
        responses: ``(N, J)`` 0/1, ``NaN``/negative = not administered.
        items: ``J`` dichotomous items (Rasch/1PL/2PL/3PL).
        theta: ``(N,)`` estimates by ``estimator``; ``None`` estimates them here.
        estimator: ``ml`` (bounded MLE), ``wle`` or ``map`` (prior ``N(prior_mean, prior_sd²)``).
        alpha: one-sided level of the flag (``.05`` → ``lz* < -1.645``).

    Patterns with fewer than :data:`MIN_ITEMS` answers, or all right / all wrong, get
    ``NaN`` and are never flagged (their reason says so).
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError("alpha must be in (0, 0.5)")
    x, obs = _answers(responses, items)
    prior = (prior_mean, prior_sd)
    th = _estimate(responses, items, estimator, prior) if theta is None else theta
    th = np.asarray(th, dtype=np.float64).reshape(-1)
    star, plain = lz_star(
        responses, items, th, estimator=estimator, prior_mean=prior_mean, prior_sd=prior_sd
    )
    n = obs.sum(axis=1)
    right = (x * obs).sum(axis=1).astype(np.int64)
    assessable = (n >= MIN_ITEMS) & (right > 0) & (right < n)
    star = np.where(assessable, star, np.nan)
    critical = float(ndtri(alpha))
    flagged = assessable & np.isfinite(star) & (star < critical)
    p = category_derivatives(items, th)[0][:, 1, :].T
    easy_missed = (obs & (x == 0) & (p > 1.0 - _SURPRISE)).sum(axis=1)
    hard_right = (obs & (x == 1) & (p < _SURPRISE)).sum(axis=1)
    reasons = tuple(
        _reason(float(star[i]), int(n[i]), int(right[i]),
                (int(easy_missed[i]), int(hard_right[i])), critical, alpha)
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
