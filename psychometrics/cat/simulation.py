"""Batch CAT simulation across many examinees (vectorised over examinees).

All active examinees advance one item per step; selection, EAP updates and
stopping use the same kernels as the single-examinee API in
:mod:`psychometrics.cat.engine`.  Responses are drawn from the model at the
true θ (Monte Carlo simulation in the style of catsim, Meneghetti & Aquino 2023).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from psychometrics._types import FloatArray, IntArray
from psychometrics.cat.bank import CATBank
from psychometrics.cat.engine import select_batch
from psychometrics.cat.state import CATConfig
from psychometrics.cat.stopping import STOPPING, stop_codes
from psychometrics.models import ItemParameters

__all__ = ["SimulationResult", "simulate_cat", "simulate_responses"]


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of a simulation of ``E`` examinees on an ``I``-item bank.

    Attributes:
        true_theta, theta, se: ``(E,)``.
        lengths: scored items per examinee ``(E,)``.
        administered: ``(E, L)`` bank indices in order, ``-1`` padded (pilots included).
        responses: ``(E, L)`` responses, ``-1`` padded.
        stop_codes: ``(E,)`` reason codes (see ``stopping.REASONS``).
        exposure: share of examinees who saw each item ``(I,)``.
        seconds: wall time; steps: total examinee-steps.
    """

    true_theta: FloatArray
    theta: FloatArray
    se: FloatArray
    lengths: IntArray
    administered: IntArray
    responses: IntArray
    stop_codes: IntArray
    exposure: FloatArray
    seconds: float
    steps: int

    @property
    def rmse(self) -> float:
        """Root mean squared error of θ̂."""
        return float(np.sqrt(np.mean((self.theta - self.true_theta) ** 2)))

    @property
    def bias(self) -> float:
        """Mean of θ̂ - θ."""
        return float(np.mean(self.theta - self.true_theta))

    @property
    def mean_length(self) -> float:
        """Average number of scored items."""
        return float(np.mean(self.lengths))

    @property
    def microseconds_per_step(self) -> float:
        """Wall time per examinee-step in µs."""
        return 1e6 * self.seconds / max(self.steps, 1)


def simulate_responses(
    items: ItemParameters, item_index: IntArray, theta: FloatArray, rng: np.random.Generator
) -> IntArray:
    """Draw responses of examinees ``theta`` ``(E,)`` to items ``item_index`` ``(E,)``."""
    a = np.asarray(items.a[item_index], dtype=np.float64)
    d = np.asarray(items.d[item_index], dtype=np.float64)
    c = np.asarray(items.c[item_index], dtype=np.float64)
    z: FloatArray = a[:, None] * theta[:, None] + d
    star: FloatArray = c[:, None] + (1 - c[:, None]) / (1 + np.exp(-z))
    star = np.where(np.isnan(d), 0.0, star)
    u: FloatArray = np.asarray(rng.random(theta.shape[0]))
    return np.asarray((u[:, None] < star).sum(axis=1), dtype=np.int64)


def simulate_cat(
    items: ItemParameters | CATBank,
    true_theta: FloatArray,
    config: CATConfig,
    seed: int = 0,
) -> SimulationResult:
    """Simulate adaptive tests for every examinee in ``true_theta`` ``(E,)``.

    Args:
        items: item parameters or a prepared :class:`CATBank`.
        true_theta: ``(E,)`` generating abilities.
        config: test rules.
        seed: seed of responses and selection randomness.

    Returns:
        The :class:`SimulationResult`.
    """
    t0 = time.perf_counter()
    bank = items if isinstance(items, CATBank) else CATBank.build(items, config)
    rng = np.random.default_rng(seed)
    true_theta = np.asarray(true_theta, dtype=np.float64)
    e = true_theta.shape[0]
    n_items = bank.n_items
    nodes = bank.grid.nodes
    nodes2 = nodes * nodes
    max_len = config.max_items + len(config.pilot_positions)
    administered = np.full((e, max_len), -1, dtype=np.int64)
    responses = np.full((e, max_len), -1, dtype=np.int64)
    codes = np.zeros(e, dtype=np.int64)
    out_theta = np.full(e, config.prior_mean)
    out_se = np.full(e, config.prior_sd)
    out_scored = np.zeros(e, dtype=np.int64)
    # working arrays hold only the examinees still being tested (compacted as they stop)
    ids = np.arange(e)
    logpost = np.tile(bank.grid.log_weights, (e, 1))
    post = np.exp(logpost)
    post /= post.sum(axis=1, keepdims=True)
    theta = out_theta.copy()
    se = out_se.copy()
    available = np.tile(bank.operational, (e, 1))
    n_avail = available.sum(axis=1)
    pilot_avail = np.tile(bank.pilot, (e, 1))
    n_scored = np.zeros(e, dtype=np.int64)
    skill_counts = np.zeros((e, bank.targets.size))
    tt = true_theta.copy()
    rows = np.arange(e)
    steps = 0
    for step in range(max_len):
        if ids.size == 0:
            break
        steps += ids.size
        rows = np.arange(ids.size)
        is_pilot = step in config.pilot_positions and bool(pilot_avail.any())
        if is_pilot:
            score = np.where(pilot_avail, rng.random(pilot_avail.shape), -1.0)
            chosen = score.argmax(axis=1)
            ok = pilot_avail[rows, chosen]
            r_ok = rows[ok]
            c_ok = chosen[ok]
            resp = simulate_responses(bank.items, c_ok, tt[r_ok], rng)
            administered[ids[r_ok], step] = c_ok
            responses[ids[r_ok], step] = resp
            pilot_avail[r_ok, c_ok] = False
            continue
        chosen, _ = select_batch(bank, config, theta, post, n_scored, available, skill_counts, rng)
        resp = simulate_responses(bank.items, chosen, tt, rng)
        administered[ids, step] = chosen
        responses[ids, step] = resp
        available[rows, chosen] = False
        n_avail -= 1
        if bank.enemy is not None:
            available &= ~bank.enemy[chosen]
            n_avail = available.sum(axis=1)
        logpost += bank.log_p[chosen, resp]
        logpost -= logpost.max(axis=1, keepdims=True)
        np.exp(logpost, out=post)
        post /= post.sum(axis=1, keepdims=True)
        theta = post @ nodes
        se = np.sqrt(np.maximum(post @ nodes2 - theta * theta, 0.0))
        n_scored += 1
        if bank.targets.size:
            sk = bank.skill_index[chosen]
            has = sk >= 0
            skill_counts[rows[has], sk[has]] += 1
        c = stop_codes(config, theta, se, n_scored, n_avail)
        stopping = np.isin(c, list(STOPPING))
        if stopping.any():
            done = ids[stopping]
            codes[done] = c[stopping]
            out_theta[done] = theta[stopping]
            out_se[done] = se[stopping]
            out_scored[done] = n_scored[stopping]
            keep = ~stopping
            ids = ids[keep]
            logpost, post, theta, se = logpost[keep], post[keep], theta[keep], se[keep]
            available, n_avail, pilot_avail = available[keep], n_avail[keep], pilot_avail[keep]
            n_scored, skill_counts, tt = n_scored[keep], skill_counts[keep], tt[keep]
    if ids.size:
        out_theta[ids], out_se[ids], out_scored[ids] = theta, se, n_scored
    theta, se, n_scored = out_theta, out_se, out_scored
    exposure = np.bincount(administered[administered >= 0], minlength=n_items) / max(e, 1)
    return SimulationResult(
        true_theta,
        theta,
        se,
        n_scored,
        administered,
        responses,
        codes,
        exposure.astype(np.float64),
        time.perf_counter() - t0,
        steps,
    )
