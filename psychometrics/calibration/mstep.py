"""M-step: item-wise Fisher scoring on the expected counts of the E-step.

Given expected counts ``r_jkq`` (persons at node ``q`` answering item ``j`` in
category ``k``) the complete-data objective of item ``j`` is
``Σ_q Σ_k r_jkq log P_jk(θ_q)`` (Bock & Aitkin 1981, eq. 8) plus optional log
priors.  It is maximised by Fisher scoring (the expected information is
positive definite) vectorised over all items that share a number of
categories, with step halving so that each item's objective never decreases.
One scoring step per EM iteration already has the EM fixed point (Lange 1995,
"EM gradient algorithm"); we iterate a few steps because they are cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from psychometrics._types import BoolArray, FloatArray

__all__ = ["Priors", "item_gradient_and_information", "mstep_items"]

_EPS = 1e-12


@dataclass(frozen=True)
class Priors:
    """Optional priors (maximum a posteriori item estimation).

    Attributes:
        slope: ``(meanlog, sdlog)`` of a lognormal prior on ``a``.
        intercept: ``(mean, sd)`` of a normal prior on every ``d``.
        guessing: ``(α, β)`` of a Beta prior on the 3PL ``c``.
    """

    slope: tuple[float, float] | None = None
    intercept: tuple[float, float] | None = None
    guessing: tuple[float, float] | None = None


def _curves(
    a: FloatArray, d: FloatArray, g: FloatArray | None, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Category probabilities and parameter derivatives of one item group.

    Args:
        a: ``(J,)``; d: ``(J, K-1)`` (no NaN); g: ``(J,)`` logit guessing or ``None``.
        theta: ``(Q,)``.

    Returns:
        ``P`` of shape ``(J, K, Q)`` and ``dP/dψ`` of shape ``(J, K, p, Q)`` with
        ``ψ = (a, d_1 … d_{K-1}[, g])``.
    """
    J, K1 = d.shape
    K = K1 + 1
    Q = theta.shape[0]
    s = expit(a[:, None, None] * theta[None, None, :] + d[:, :, None])
    w = s * (1.0 - s)
    c = np.zeros(J) if g is None else expit(g)
    oc = (1.0 - c)[:, None, None]
    npar = 1 + K1 + (0 if g is None else 1)
    star = np.empty((J, K + 1, Q))
    star[:, 0] = 1.0
    star[:, K] = 0.0
    star[:, 1:K] = c[:, None, None] + oc * s
    dstar = np.zeros((J, K + 1, npar, Q))
    dstar[:, 1:K, 0, :] = oc * w * theta[None, None, :]
    idx = np.arange(K1)
    dstar[:, 1 + idx, 1 + idx, :] = (oc * w)[:, idx, :]
    if g is not None:
        dstar[:, 1:K, npar - 1, :] = (1.0 - s) * (c * (1.0 - c))[:, None, None]
    p = np.maximum(star[:, :-1] - star[:, 1:], _EPS)
    dp = dstar[:, :-1] - dstar[:, 1:]
    return p, dp


def _objective(
    a: FloatArray,
    d: FloatArray,
    g: FloatArray | None,
    counts: FloatArray,
    theta: FloatArray,
    priors: Priors,
) -> FloatArray:
    """Per-item complete-data log-likelihood plus log priors, shape ``(J,)``."""
    J = d.shape[0]
    s = expit(a[:, None, None] * theta[None, None, :] + d[:, :, None])
    c = np.zeros(J) if g is None else expit(g)
    star = np.concatenate(
        [
            np.ones((J, 1, theta.size)),
            c[:, None, None] + (1 - c)[:, None, None] * s,
            np.zeros((J, 1, theta.size)),
        ],
        axis=1,
    )
    p = np.maximum(star[:, :-1] - star[:, 1:], _EPS)
    val = (counts * np.log(p)).sum(axis=(1, 2))
    return np.asarray(val + _log_prior(a, d, g, priors), dtype=np.float64)


def _log_prior(a: FloatArray, d: FloatArray, g: FloatArray | None, priors: Priors) -> FloatArray:
    lp = np.zeros(a.shape[0])
    if priors.slope is not None:
        mu, sd = priors.slope
        with np.errstate(invalid="ignore", divide="ignore"):
            la = np.log(a)
        lp += np.where(a > 0, -la - (la - mu) ** 2 / (2 * sd * sd), -np.inf)
    if priors.intercept is not None:
        m, sd = priors.intercept
        lp += (-((d - m) ** 2) / (2 * sd * sd)).sum(axis=1)
    if priors.guessing is not None and g is not None:
        al, be = priors.guessing
        c = expit(g)
        lp += (al - 1) * np.log(np.maximum(c, _EPS)) + (be - 1) * np.log(np.maximum(1 - c, _EPS))
    return lp


def item_gradient_and_information(
    a: FloatArray,
    d: FloatArray,
    g: FloatArray | None,
    counts: FloatArray,
    theta: FloatArray,
    priors: Priors,
) -> tuple[FloatArray, FloatArray]:
    """Gradient and expected (Fisher) information of each item's objective.

    Args:
        a: ``(J,)``; d: ``(J, K-1)``; g: ``(J,)`` or ``None``.
        counts: expected counts ``(J, K, Q)``.
        theta: nodes ``(Q,)``.
        priors: optional priors.

    Returns:
        Gradient ``(J, p)`` and information ``(J, p, p)``.
    """
    p, dp = _curves(a, d, g, theta)
    grad = np.einsum("jkq,jkpq->jp", counts / p, dp)
    n = counts.sum(axis=1)
    info = np.einsum("jkpq,jkrq->jpr", dp * (n[:, None, None, :] / p[:, :, None, :]), dp)
    npar = dp.shape[2]
    if priors.slope is not None:
        mu, sd = priors.slope
        aa = np.maximum(a, 1e-6)
        grad[:, 0] += -1.0 / aa - (np.log(aa) - mu) / (sd * sd * aa)
        info[:, 0, 0] += 1.0 / (sd * sd * aa * aa)
    if priors.intercept is not None:
        m, sd = priors.intercept
        k1 = d.shape[1]
        grad[:, 1 : 1 + k1] += -(d - m) / (sd * sd)
        idx = np.arange(1, 1 + k1)
        info[:, idx, idx] += 1.0 / (sd * sd)
    if priors.guessing is not None and g is not None:
        al, be = priors.guessing
        c = expit(g)
        grad[:, npar - 1] += (al - 1) * (1 - c) - (be - 1) * c
        info[:, npar - 1, npar - 1] += max(al + be - 2, 0.0) * c * (1 - c)
    return grad, info


def _valid(a: FloatArray, d: FloatArray, priors: Priors) -> BoolArray:
    ok = np.all(np.isfinite(d), axis=1) & np.isfinite(a)
    if d.shape[1] > 1:
        ok &= np.all(np.diff(d, axis=1) < 0, axis=1)
    if priors.slope is not None:
        ok &= a > 0
    return np.asarray(ok)


def mstep_items(
    a: FloatArray,
    d: FloatArray,
    g: FloatArray | None,
    counts: FloatArray,
    theta: FloatArray,
    priors: Priors,
    *,
    common_slope: bool = False,
    max_steps: int = 4,
    tol: float = 1e-7,
    max_change: float = 2.0,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Maximise the expected complete-data log posterior for one item group.

    Args:
        a: slopes ``(J,)``; d: intercepts ``(J, K-1)``; g: logit guessing or ``None``.
        counts: expected counts ``(J, K, Q)``.
        theta: nodes ``(Q,)``.
        priors: optional priors.
        common_slope: one slope shared by the group (Rasch/1PL).
        max_steps: Fisher-scoring steps.
        tol: stop when every step is below this.
        max_change: cap on the absolute change of any parameter per step.

    Returns:
        Updated ``(a, d, g)``.
    """
    a = a.copy()
    d = d.copy()
    g = None if g is None else g.copy()
    k1 = d.shape[1]
    for _ in range(max_steps):
        grad, info = item_gradient_and_information(a, d, g, counts, theta, priors)
        npar = grad.shape[1]
        ridge = 1e-9 * (np.trace(info, axis1=1, axis2=2)[:, None, None] + 1.0)
        info = info + ridge * np.eye(npar)[None]
        if common_slope:
            # arrow-shaped system: shared a, item-specific d (Schur complement)
            i_dd = info[:, 1, 1]
            i_ad = info[:, 0, 1]
            s = info[:, 0, 0].sum() - (i_ad * i_ad / i_dd).sum()
            da = (grad[:, 0].sum() - (i_ad * grad[:, 1] / i_dd).sum()) / max(s, 1e-12)
            step = np.empty_like(grad)
            step[:, 0] = da
            step[:, 1] = (grad[:, 1] - i_ad * da) / i_dd
        else:
            step = np.linalg.solve(info, grad[:, :, None])[:, :, 0]
        big = np.abs(step).max(axis=1, keepdims=True)
        step = step * np.minimum(1.0, max_change / np.maximum(big, 1e-300))
        old = _objective(a, d, g, counts, theta, priors)
        if common_slope:
            old_total = old.sum()
            t_all = 1.0
            for _h in range(12):
                na = a + t_all * step[:, 0]
                nd = d + t_all * step[:, 1:2]
                new = _objective(na, nd, g, counts, theta, priors)
                if np.all(_valid(na, nd, priors)) and new.sum() >= old_total - 1e-10 * abs(
                    old_total
                ):
                    a, d = na, nd
                    break
                t_all *= 0.5
        else:
            t = np.ones(a.shape[0])
            accepted = np.zeros(a.shape[0], dtype=bool)
            na, nd, ng = a, d, g
            for _h in range(12):
                na = np.where(accepted, a, a + t * step[:, 0])
                nd = np.where(accepted[:, None], d, d + t[:, None] * step[:, 1 : 1 + k1])
                ng = None if g is None else np.where(accepted, g, g + t * step[:, npar - 1])
                new = _objective(na, nd, ng, counts, theta, priors)
                good = _valid(na, nd, priors) & (new >= old - 1e-10 * np.abs(old)) & ~accepted
                a = np.where(good, na, a)
                d = np.where(good[:, None], nd, d)
                if g is not None and ng is not None:
                    g = np.where(good, ng, g)
                accepted |= good
                if accepted.all():
                    break
                t = np.where(accepted, t, t * 0.5)
        if np.abs(step).max() < tol:
            break
    return a, d, g
