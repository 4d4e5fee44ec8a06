"""Stateless CAT steps over an explicit :class:`~psychometrics.cat.state.CATState`.

Typical loop of an exam service::

    bank = CATBank.build(items, config)
    state = start(seed, config)
    while True:
        stop = check_stop(state, bank, config)
        if stop.stop:
            state = finish(state, stop)
            break
        choice = select_next_item(state, bank, config)
        response = ...  # ask the examinee
        state = record_response(state, choice, response, bank)

Each call returns a new state; selection randomness comes from
``numpy.random.default_rng([seed, len(state.items)])`` so replaying the same
responses reproduces the same items and decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.cat.bank import CATBank
from psychometrics.cat.exposure import choose
from psychometrics.cat.selection import (
    astrat_criterion,
    content_mask,
    fisher_criterion,
    kl_criterion,
    random_criterion,
)
from psychometrics.cat.state import CATConfig, CATState, Decision
from psychometrics.cat.stopping import REASONS, STOPPING, stop_codes

__all__ = [
    "ItemChoice",
    "StopDecision",
    "check_stop",
    "finish",
    "posterior",
    "record_response",
    "select_batch",
    "select_next_item",
    "start",
]


@dataclass(frozen=True)
class ItemChoice:
    """The selected item and why.

    Attributes:
        item: bank index.
        pilot: whether it is an unscored pilot item.
        reason: explanation for the audit log.
        value: criterion value (``None`` for pilots).
    """

    item: int
    pilot: bool
    reason: str
    value: float | None


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop and why (``code`` is a key of ``stopping.REASONS``)."""

    stop: bool
    code: int
    reason: str


def start(seed: int, config: CATConfig) -> CATState:
    """A fresh state at the prior."""
    return CATState(seed=int(seed), theta=config.prior_mean, se=config.prior_sd)


def posterior(state: CATState, bank: CATBank) -> FloatArray:
    """Normalised posterior over ``bank.grid`` from the scored responses, shape ``(Q,)``."""
    lp = bank.grid.log_weights.copy()
    for item, resp, pilot in zip(state.items, state.responses, state.pilot, strict=True):
        if not pilot:
            lp += bank.log_p[item, resp]
    lp -= lp.max()
    p = np.exp(lp)
    return np.asarray(p / p.sum())


def _rng(state: CATState) -> np.random.Generator:
    return np.random.default_rng([state.seed, len(state.items)])


def _available(state: CATState, bank: CATBank) -> BoolArray:
    avail = bank.operational.copy()
    if state.items:
        used = np.asarray(state.items, dtype=np.int64)
        avail[used] = False
        if bank.enemy is not None:
            avail &= ~bank.enemy[used].any(axis=0)
    return avail


def select_batch(
    bank: CATBank,
    config: CATConfig,
    theta: FloatArray,
    post: FloatArray,
    n_scored: IntArray,
    available: BoolArray,
    skill_counts: FloatArray,
    rng: np.random.Generator,
) -> tuple[IntArray, FloatArray]:
    """Select the next operational item for ``E`` examinees at once.

    Args:
        bank: prepared bank; config: rules.
        theta: ``(E,)``; post: ``(E, Q)`` posteriors (used by KL).
        n_scored: ``(E,)``; available: ``(E, I)``; skill_counts: ``(E, S)``.
        rng: randomness for random selection and exposure control.

    Returns:
        Items ``(E,)`` and criterion values ``(E,)``.
    """
    e = theta.shape[0]
    if config.selection == "mfi":
        crit = fisher_criterion(bank, theta)
    elif config.selection == "kl":
        crit = kl_criterion(bank, post, theta)
    elif config.selection == "astrat":
        crit = astrat_criterion(bank, theta, n_scored, config.max_items, config.n_strata)
    else:
        crit = random_criterion(e, bank.n_items, rng)
    avail = content_mask(bank, available, skill_counts)
    return choose(crit, avail, config.exposure, rng, k=config.randomesque_k, sh=bank.sh)


_CRITERION_NAMES = {
    "mfi": "maximum Fisher information",
    "kl": "maximum posterior-weighted KL information",
    "astrat": "a-stratified: difficulty closest to θ̂ in the current stratum",
    "random": "random selection",
}


def select_next_item(state: CATState, bank: CATBank, config: CATConfig) -> ItemChoice:
    """Choose the next item (a pilot item at configured positions).

    Raises:
        ValueError: if no item is available.
    """
    rng = _rng(state)
    position = len(state.items)
    avail = _available(state, bank)
    if position in config.pilot_positions:
        pil = bank.pilot.copy()
        pil[list(state.items)] = False
        cands = np.flatnonzero(pil)
        if cands.size:
            item = int(cands[rng.integers(cands.size)])
            return ItemChoice(
                item,
                True,
                f"pilot item seeded at position {position} (random among "
                f"{cands.size} unseen pilot items)",
                None,
            )
    if not avail.any():
        raise ValueError("no item available")
    skill_counts = np.zeros((1, bank.targets.size))
    for it, p in zip(state.items, state.pilot, strict=True):
        if not p and bank.skill_index[it] >= 0 and bank.targets.size:
            skill_counts[0, bank.skill_index[it]] += 1
    post = posterior(state, bank)[None, :]
    items, values = select_batch(
        bank,
        config,
        np.array([state.theta]),
        post,
        np.array([state.n_scored]),
        avail[None, :],
        skill_counts,
        rng,
    )
    item = int(items[0])
    reason = f"{_CRITERION_NAMES[config.selection]} at θ̂={state.theta:.3f}"
    if config.exposure == "randomesque":
        reason += f"; randomesque draw among the {config.randomesque_k} best"
    elif config.exposure == "sympson-hetter":
        reason += "; Sympson–Hetter lottery over ranked candidates"
    if bank.targets.size and bank.skill_index[item] >= 0:
        reason += f"; content balancing chose skill {bank.skills[bank.skill_index[item]]!r}"
    return ItemChoice(item, False, reason, float(values[0]))


def record_response(state: CATState, choice: ItemChoice, response: int, bank: CATBank) -> CATState:
    """Append an administered item and its response, re-estimating θ by EAP."""
    if choice.item in state.items:
        raise ValueError(f"item {choice.item} was already administered")
    k = int(bank.items.n_categories[choice.item])
    if not 0 <= int(response) < k:
        raise ValueError(f"response {response} outside 0..{k - 1}")
    step = len(state.items)
    new = replace(
        state,
        items=(*state.items, int(choice.item)),
        responses=(*state.responses, int(response)),
        pilot=(*state.pilot, bool(choice.pilot)),
    )
    post = posterior(new, bank)
    mean = float(post @ bank.grid.nodes)
    sd = float(np.sqrt(max(float(post @ bank.grid.nodes**2) - mean * mean, 0.0)))
    log = (
        Decision(
            step, "pilot" if choice.pilot else "select", choice.item, choice.reason, choice.value
        ),
        Decision(
            step,
            "response",
            choice.item,
            "unscored pilot response" if choice.pilot else f"scored; EAP θ̂={mean:.3f}, SE={sd:.3f}",
            float(response),
        ),
    )
    return replace(new, theta=mean, se=sd, decisions=new.decisions + log)


def check_stop(state: CATState, bank: CATBank, config: CATConfig) -> StopDecision:
    """Evaluate the stopping rules for ``state``."""
    n_avail = int(_available(state, bank).sum())
    code = int(
        stop_codes(
            config,
            np.array([state.theta]),
            np.array([state.se]),
            np.array([state.n_scored]),
            np.array([n_avail]),
        )[0]
    )
    return StopDecision(code in STOPPING, code, REASONS[code])


def finish(state: CATState, decision: StopDecision) -> CATState:
    """Mark the test finished and log the stopping reason."""
    log = Decision(len(state.items), "stop", None, decision.reason, state.theta)
    return replace(state, finished=True, decisions=(*state.decisions, log))
