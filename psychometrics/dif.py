"""Differential item functioning: Mantel–Haenszel with the ETS classification, and IRT
likelihood-ratio DIF, both with purification of the matching criterion.

Mantel–Haenszel (Mantel & Haenszel 1959; Holland & Thayer 1988).  Examinees are matched on
the summed score of the *matching items* plus the studied item; in each score stratum ``k``
the 2×2 table of group by response gives ``A_k`` (reference, right), ``B_k`` (reference,
wrong), ``C_k`` (focal, right), ``D_k`` (focal, wrong), ``T_k`` in all.  Then

* the common odds ratio ``α_MH = Σ(A_k D_k / T_k) / Σ(B_k C_k / T_k)``;
* ``MH D-DIF = -2.35 ln α_MH`` on the ETS delta scale (negative: the item favours the
  reference group), its standard error by the Robins, Breslow & Greenland (1986) variance of
  ``ln α_MH`` (Phillips & Holland 1987);
* ``MH χ² = (|Σ A_k - Σ E(A_k)| - ½)² / Σ Var(A_k)`` (continuity corrected, 1 df) with
  ``E(A_k) = n_Rk m_1k / T_k`` and ``Var(A_k) = n_Rk n_Fk m_1k m_0k / (T_k² (T_k - 1))``.

ETS classes (Dorans & Holland 1993; Zwick 2012): **A** when MH χ² is not significant at
``alpha`` or ``|D| < 1``; **C** when ``|D| ≥ 1.5`` and ``|D|`` is significantly larger than 1
(one-sided z test of ``(|D| - 1) / SE(D)`` at ``alpha``); **B** otherwise.

Likelihood-ratio DIF (Thissen, Steinberg & Wainer 1988, 1993): the *compact* model holds
the studied item's parameters equal across groups, the *augmented* model frees them; both
are multiple-group calibrations (:mod:`psychometrics.multigroup`: reference θ ~ N(0, 1),
the other groups' means and SDs free, the anchor items common), and
``G² = 2 (ℓ_augmented - ℓ_compact)`` is referred to χ² with as many degrees of freedom as
parameters were freed.

Purification (criterion refinement; Holland & Thayer 1988, Candell & Drasgow 1988): items
flagged in a round leave the matching score (MH) or the anchor set (LR: they are free in
every model), and all items are tested again, until the flagged set repeats or
``max_rounds`` is reached.  The studied item always belongs to its own matching score.

Arrays: ``responses (N, J)`` with categories (``NaN``/negative = missing), ``groups (N,)``
labels; results are per item, shape ``(J,)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# chi-square survival and normal quantile from scipy.special: scipy.stats takes 0.3 s (quiet) to
# import, and `import psychometrics` (every `dreamseed irt` command) imports this module
from scipy.special import chdtrc, ndtri

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.multigroup import fit_models, group_index, n_item_parameters
from psychometrics.quadrature import QuadratureGrid

__all__ = [
    "ETS_CLASSES",
    "LikelihoodRatioDIF",
    "MantelHaenszelDIF",
    "ets_class",
    "lr_dif",
    "mantel_haenszel_dif",
]

ETS_CLASSES = ("A", "B", "C")
_DELTA = -2.35  # 4 / 1.7: ln-odds to the ETS delta scale


@dataclass(frozen=True)
class MantelHaenszelDIF:
    """Mantel–Haenszel DIF of every item.

    Attributes:
        groups: ``(reference, focal)`` labels.
        odds_ratio: ``(J,)`` common odds ratio ``α_MH`` (> 1: favours the reference group).
        delta: ``(J,)`` MH D-DIF ``-2.35 ln α_MH``.
        se_delta: ``(J,)`` its standard error.
        chi2: ``(J,)`` MH χ² with continuity correction.
        p_value: ``(J,)``.
        ets: the ETS class of each item (``A``, ``B`` or ``C``).
        flagged: ``(J,)`` ``p_value < alpha``.
        matching: ``(J,)`` items in the final (purified) matching score.
        rounds: purification rounds run.
        n_reference, n_focal: examinees used (complete response rows).
    """

    groups: tuple[Any, Any]
    odds_ratio: FloatArray
    delta: FloatArray
    se_delta: FloatArray
    chi2: FloatArray
    p_value: FloatArray
    ets: tuple[str, ...]
    flagged: BoolArray
    matching: BoolArray
    rounds: int
    n_reference: int
    n_focal: int


def ets_class(delta: float, se: float, p_value: float, alpha: float = 0.05) -> str:
    """ETS A/B/C class of one item from its MH D-DIF, SE and MH χ² p-value."""
    size = abs(delta)
    if not np.isfinite(size) or p_value >= alpha or size < 1.0:
        return "A"
    if size >= 1.5 and se > 0 and (size - 1.0) / se > ndtri(1.0 - alpha):
        return "C"
    return "B"


def _two_groups(groups: Any, reference: Any | None) -> tuple[tuple[Any, Any], IntArray]:
    labels, index = group_index(groups, reference)
    if len(labels) != 2:
        raise ValueError(f"Mantel-Haenszel compares two groups, got {len(labels)}")
    return (labels[0], labels[1]), index


def _mh_tables(
    y: IntArray, focal: IntArray, strata: IntArray, observed: BoolArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``A, B, C, D`` counts, each ``(J, S)``.

    Args:
        y: ``(N, J)`` 0/1 codes (any value where not observed).
        focal: ``(N,)`` 1 for the focal group.
        strata: ``(J, N)`` stratum of each person when item ``j`` is studied (``0 … S-1``).
        observed: ``(J, N)`` the person answered item ``j``.
    """
    J = strata.shape[0]
    S = int(strata.max()) + 1 if strata.size else 1
    idx = ((np.arange(J)[:, None] * S + strata) * 2 + focal[None, :]) * 2 + np.clip(y.T, 0, 1)
    counts = np.bincount(
        idx.ravel(), weights=observed.ravel().astype(np.float64), minlength=J * S * 4
    )
    t: FloatArray = np.asarray(counts, dtype=np.float64).reshape(J, S, 2, 2)
    return t[:, :, 0, 1], t[:, :, 0, 0], t[:, :, 1, 1], t[:, :, 1, 0]


def _score_strata(y: IntArray, matching: BoolArray) -> IntArray:
    """``(J, N)`` matching scores: the matching items plus the studied item."""
    base = y[:, matching].sum(axis=1)  # (N,)
    return np.asarray(base[None, :] + np.where(matching[:, None], 0, y.T), dtype=np.int64)


def _mh_statistics(
    A: FloatArray, B: FloatArray, C: FloatArray, D: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Odds ratio, D-DIF, its SE and MH χ² from ``(J, S)`` tables."""
    T = A + B + C + D
    use = T >= 2
    Ts = np.where(use, T, 1.0)
    R_k = np.where(use, A * D / Ts, 0.0)
    S_k = np.where(use, B * C / Ts, 0.0)
    R, S = R_k.sum(axis=1), S_k.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = R / S
        log_odds = np.log(odds)
        P = np.where(use, (A + D) / Ts, 0.0)
        Qk = np.where(use, (B + C) / Ts, 0.0)
        var_log = (
            (P * R_k).sum(axis=1) / (2 * R * R)
            + (P * S_k + Qk * R_k).sum(axis=1) / (2 * R * S)
            + (Qk * S_k).sum(axis=1) / (2 * S * S)
        )
        n_r, n_f = A + B, C + D
        m1, m0 = A + C, B + D
        expected = np.where(use, n_r * m1 / Ts, 0.0).sum(axis=1)
        var_a = np.where(use, n_r * n_f * m1 * m0 / (Ts * Ts * np.maximum(Ts - 1, 1)), 0.0)
        v = var_a.sum(axis=1)
        stat = np.where(
            v > 0, np.maximum(np.abs(A.sum(axis=1) - expected) - 0.5, 0.0) ** 2 / v, 0.0
        )
    delta = _DELTA * log_odds
    se = np.abs(_DELTA) * np.sqrt(var_log)
    return odds, delta, se, stat


def mantel_haenszel_dif(
    responses: Any,
    groups: Any,
    *,
    reference: Any | None = None,
    strata: Any | None = None,
    alpha: float = 0.05,
    purify: bool = True,
    max_rounds: int = 10,
) -> MantelHaenszelDIF:
    """Mantel–Haenszel DIF with the ETS classification.

    Args:
        responses: ``(N, J)`` 0/1 responses (``NaN``/negative = missing).
        groups: ``(N,)`` two group labels.
        reference: the reference group's label (default: the smaller label).
        strata: ``(N,)`` non-negative integer matching strata given by the caller (e.g. bins
            of an IRT θ for adaptive or sparse data); each item then uses the persons who
            answered it, and there is no purification here.  Default: the summed score of the
            (purified) matching items, on the rows without a missing response.
        alpha: significance level of the MH χ² and of the ETS C test.
        purify: refine the matching score by leaving out flagged items (summed-score matching).
        max_rounds: purification rounds at most.

    Returns:
        The :class:`MantelHaenszelDIF`.
    """
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("responses must be a 2-D (persons x items) array")
    labels, gidx = _two_groups(groups, reference)
    if gidx.size != y.shape[0]:
        raise ValueError("groups must have one label per response row")
    missing = np.isnan(y) | (y < 0)
    if np.any(np.where(missing, 0, y) > 1):
        raise ValueError("Mantel-Haenszel DIF needs dichotomous (0/1) responses")
    J = y.shape[1]
    if strata is not None:
        st = np.asarray(strata)
        if st.shape != (y.shape[0],) or np.any(st < 0):
            raise ValueError("strata must be one non-negative integer per response row")
        codes = np.where(missing, 0, y).astype(np.int64)
        observed = ~missing.T
        odds, delta, se, stat = _mh_statistics(
            *_mh_tables(codes, gidx, np.broadcast_to(st.astype(np.int64), (J, st.size)), observed)
        )
        p = chdtrc(1, stat)
        matching = np.ones(J, dtype=bool)
        rounds = 1
        focal = gidx[observed.any(axis=0)]
    else:
        keep = ~missing.any(axis=1)
        codes = y[keep].astype(np.int64)
        focal = gidx[keep]
        observed = np.ones((J, codes.shape[0]), dtype=bool)
        matching = np.ones(J, dtype=bool)
        rounds = 0
        seen: set[bytes] = set()
        while True:
            rounds += 1
            tables = _mh_tables(codes, focal, _score_strata(codes, matching), observed)
            odds, delta, se, stat = _mh_statistics(*tables)
            p = chdtrc(1, stat)
            nxt = ~(p < alpha)
            if not purify or rounds >= max_rounds or nxt.sum() < 1:
                break
            if np.array_equal(nxt, matching) or nxt.tobytes() in seen:
                break
            seen.add(matching.tobytes())
            matching = nxt
    flagged = p < alpha
    classes = tuple(ets_class(float(delta[j]), float(se[j]), float(p[j]), alpha) for j in range(J))
    return MantelHaenszelDIF(
        groups=labels,
        odds_ratio=odds,
        delta=delta,
        se_delta=se,
        chi2=stat,
        p_value=p,
        ets=classes,
        flagged=flagged,
        matching=matching,
        rounds=rounds,
        n_reference=int((focal == 0).sum()),
        n_focal=int((focal == 1).sum()),
    )


# ------------------------------------------------------------------ likelihood ratio
@dataclass(frozen=True)
class LikelihoodRatioDIF:
    """IRT likelihood-ratio DIF of every item.

    Attributes:
        groups: the group labels, reference first.
        g2: ``(J,)`` ``2 (ℓ_augmented - ℓ_compact)``.
        df: ``(J,)`` parameters freed (item parameters × (groups - 1)).
        p_value: ``(J,)``.
        flagged: ``(J,)`` ``p_value < alpha``.
        anchors: ``(J,)`` items common across groups in the final round (the purified
            anchor set).
        latent_mean: ``(G,)`` group means of the final compact model.
        latent_sd: ``(G,)`` group SDs.
        rounds: purification rounds run.
    """

    groups: tuple[Any, ...]
    g2: FloatArray
    df: IntArray
    p_value: FloatArray
    flagged: BoolArray
    anchors: BoolArray
    latent_mean: FloatArray
    latent_sd: FloatArray
    rounds: int


def lr_dif(
    responses: Any,
    groups: Any,
    model: str = "2pl",
    *,
    reference: Any | None = None,
    alpha: float = 0.05,
    purify: bool = True,
    max_rounds: int = 5,
    grid: QuadratureGrid | None = None,
    guessing_prior: tuple[float, float] | None = None,
    items: Any | None = None,
    tol: float = 1e-3,
    max_iter: int = 1000,
) -> LikelihoodRatioDIF:
    """IRT likelihood-ratio DIF by multiple-group calibration.

    Each round fits the compact model (anchors common, the other items free per group) and,
    in one batch warm-started from it, one model per item with that item switched: freed if
    it is an anchor (augmented model), constrained if it is not (its compact model).

    Args:
        responses: ``(N, J)`` categories (``NaN``/negative = missing: IRT needs no complete
            rows).
        groups: ``(N,)`` labels (two or more groups).
        model: ``2pl``, ``3pl`` or ``grm``.
        reference: the reference group (default: the smallest label).
        alpha: significance level.
        purify: leave flagged items out of the anchor set and test again.
        max_rounds: purification rounds at most.
        grid: quadrature grid (default 61 nodes on [-6, 6]).
        guessing_prior: Beta prior on the 3PL ``c``.
        items: indices of the items to test (default all); the others are always anchors
            and get ``NaN`` statistics.
        tol, max_iter: EM convergence (``tol = 1e-3`` puts G² within ~0.01 of its limit).

    Returns:
        The :class:`LikelihoodRatioDIF`.
    """
    y = np.asarray(responses, dtype=np.float64)
    J = y.shape[1]
    studied = np.zeros(J, dtype=bool)
    studied[np.arange(J) if items is None else np.asarray(items, dtype=np.int64)] = True
    tested = np.flatnonzero(studied)
    anchors = np.ones(J, dtype=bool)
    rounds = 0
    seen: set[bytes] = set()
    kw: dict[str, Any] = {
        "reference": reference,
        "grid": grid,
        "guessing_prior": guessing_prior,
        "tol": tol,
        "max_iter": max_iter,
    }
    compact = None
    while True:
        rounds += 1
        # each round starts from the previous round's compact model
        labels, compact = fit_models(y, groups, ~anchors[None, :], model, start=compact, **kw)
        # one model per studied item: the compact model with that item switched
        switched = np.broadcast_to(~anchors, (tested.size, J)).copy()
        switched[np.arange(tested.size), tested] ^= True
        _, each = fit_models(y, groups, switched, model, start=compact, **kw)
        ll_c = float(compact.log_likelihood[0])
        g2 = np.full(J, np.nan)
        diff = each.log_likelihood - ll_c
        g2[tested] = np.maximum(2.0 * np.where(anchors[tested], diff, -diff), 0.0)
        df = n_item_parameters(model.lower(), compact.n_categories) * (len(labels) - 1)
        p = np.where(studied, chdtrc(df, np.nan_to_num(g2)), np.nan)
        flagged = np.asarray(p < alpha)
        nxt = ~flagged
        if not purify or rounds >= max_rounds or nxt.sum() < 1 or np.array_equal(nxt, anchors):
            break
        if nxt.tobytes() in seen:
            break
        seen.add(anchors.tobytes())
        anchors = nxt
    return LikelihoodRatioDIF(
        groups=labels,
        g2=g2,
        df=df,
        p_value=p,
        flagged=flagged,
        anchors=anchors,
        latent_mean=compact.mu[0].copy(),
        latent_sd=compact.sd[0].copy(),
        rounds=rounds,
    )
