"""Item selection criteria, vectorised over ``E`` examinees and ``I`` items.

Every criterion returns an ``(E, I)`` array where larger is better; masking of
unavailable items and the final choice (with exposure control) are done by
:mod:`psychometrics.cat.exposure`.

* Maximum Fisher information at θ̂ (Lord 1980), looked up on a fine θ grid.
* Posterior-weighted Kullback–Leibler information (Chang & Ying 1996; Chen,
  Ankenmann & Chang 2000): ``Σ_q π(θ_q | x) KL(P_i(θ̂) ‖ P_i(θ_q))``.
* a-stratified selection (Chang & Ying 1999): the test moves through strata
  of increasing slope; within the current stratum pick the item whose
  difficulty is closest to θ̂.
"""

from __future__ import annotations

import numpy as np

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.cat.bank import CATBank

__all__ = [
    "astrat_criterion",
    "content_mask",
    "fisher_criterion",
    "kl_criterion",
    "random_criterion",
]


def fisher_criterion(bank: CATBank, theta: FloatArray) -> FloatArray:
    """Item information at each examinee's θ̂.

    Args:
        bank: prepared bank (``I`` items).
        theta: ``(E,)`` current estimates.

    Returns:
        ``(E, I)`` information values.
    """
    return np.asarray(bank.info_table[bank.fine_index(theta)])


def kl_criterion(bank: CATBank, posterior: FloatArray, theta: FloatArray) -> FloatArray:
    """Posterior-weighted KL information.

    Args:
        bank: prepared bank.
        posterior: ``(E, Q)`` normalised posterior over ``bank.grid``.
        theta: ``(E,)`` current estimates.

    Returns:
        ``(E, I)`` KL values.
    """
    p_hat = bank.prob_table[bank.fine_index(theta)]  # (E, I, K)
    n_items, n_cat, n_q = bank.log_p.shape
    expected_log = (posterior @ bank.log_p.reshape(n_items * n_cat, n_q).T).reshape(
        -1, n_items, n_cat
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(p_hat > 0, p_hat * np.log(np.maximum(p_hat, 1e-300)), 0.0)
    return np.asarray((ent - p_hat * expected_log).sum(axis=2))


def astrat_criterion(
    bank: CATBank, theta: FloatArray, n_scored: IntArray, max_items: int, n_strata: int
) -> FloatArray:
    """a-stratified criterion ``-|b_i - θ̂|`` inside the current stratum, ``-inf`` elsewhere.

    Args:
        bank: prepared bank.
        theta: ``(E,)``.
        n_scored: ``(E,)`` scored items so far (sets the stage).
        max_items: test length over which the strata are spread.
        n_strata: number of strata.

    Returns:
        ``(E, I)``.
    """
    stage = np.minimum(n_strata - 1, (n_scored * n_strata) // max(1, max_items))
    crit = -np.abs(bank.b_center[None, :] - theta[:, None])
    return np.where(bank.stratum[None, :] == stage[:, None], crit, crit - 1e6)


def random_criterion(n_examinees: int, n_items: int, rng: np.random.Generator) -> FloatArray:
    """Uniform random scores (random item selection), shape ``(E, I)``."""
    return rng.random((n_examinees, n_items))


def content_mask(bank: CATBank, available: BoolArray, skill_counts: FloatArray) -> BoolArray:
    """Restrict availability to the most under-represented skill (Kingsbury & Zara 1989).

    Args:
        bank: prepared bank with ``targets`` over ``S`` skills.
        available: ``(E, I)`` boolean availability.
        skill_counts: ``(E, S)`` scored items per skill so far.

    Returns:
        ``(E, I)`` availability limited to the chosen skill (unchanged when that
        skill has no available item or no targets are set).
    """
    if bank.targets.size == 0 or bank.targets.sum() <= 0:
        return available
    n = np.maximum(skill_counts.sum(axis=1, keepdims=True), 1.0)
    deficit = bank.targets[None, :] - skill_counts / n
    onehot = bank.skill_index[None, :] == np.arange(bank.targets.size)[:, None]  # (S, I)
    has = (available.astype(np.float64) @ onehot.T.astype(np.float64)) > 0  # (E, S)
    deficit = np.where(has & (bank.targets[None, :] > 0), deficit, -np.inf)
    chosen = deficit.argmax(axis=1)
    ok = np.isfinite(deficit.max(axis=1))
    restricted = available & onehot[chosen]
    return np.where(ok[:, None], restricted, available)
