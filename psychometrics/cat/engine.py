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

These single-examinee functions are the online path of an exam service (one call per
answer), so they avoid per-call work on the whole bank: plain-Python tables derived once
per bank (:class:`~psychometrics.cat.bank.OnlineTables`), scalar stopping rules, one row
of the Fisher table, the randomness stream computed only when a draw is needed
(:mod:`psychometrics.cat._rng`), and the unnormalised log posterior memoised on the state
that :func:`record_response` returns.  They give *bit-identical* results to the vectorised
kernels used by :func:`select_batch` and the batch simulation (the same numpy kernels
where rounding or tie-breaking depends on them; see ``tests/unit/psychometrics/
test_cat_golden.py``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from psychometrics._types import AnyArray, BoolArray, FloatArray, IntArray
from psychometrics.cat._rng import StepRandom
from psychometrics.cat.bank import _FINE_LIMIT, _FINE_STEP, CATBank, OnlineTables
from psychometrics.cat.exposure import _SH_CANDIDATES, choose, pick_ranked, rank_and_pick
from psychometrics.cat.selection import (
    astrat_criterion,
    content_mask,
    fisher_criterion,
    kl_criterion,
    random_criterion,
)
from psychometrics.cat.state import CATConfig, CATState, Decision
from psychometrics.cat.stopping import REASONS, STOPPING

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


# The unnormalised log posterior (log prior + Σ log P of the scored responses) of a state
# returned by record_response is kept on that frozen state object under this attribute, as
# (bank token, items, responses, pilot, array), so the next record_response adds one row
# instead of all of them.  It is not a field: to_dict, msgspec, ==, repr and replace() ignore
# it, and it is used only for the same bank and the very same response tuples.
_MEMO = "_log_posterior_memo"


def _log_posterior(
    items: tuple[int, ...], responses: tuple[int, ...], pilot: tuple[bool, ...], bank: CATBank
) -> FloatArray:
    """``log w + log P_{i₁r₁} + log P_{i₂r₂} + …`` over the scored responses, added left to
    right in response order (a new array, shape ``(Q,)``)."""
    lp = bank.grid.log_weights.copy()
    log_p = bank.log_p
    for item, resp, p in zip(items, responses, pilot, strict=True):
        if not p:
            lp += log_p[item, resp]
    return lp


def _memo_of(state: CATState, bank: CATBank) -> FloatArray | None:
    memo = state.__dict__.get(_MEMO)
    if (
        memo is not None
        and memo[0] is bank.online.token
        and memo[1] is state.items
        and memo[2] is state.responses
        and memo[3] is state.pilot
    ):
        lp: FloatArray = memo[4]
        return lp
    return None


_max = np.maximum.reduce  # what ndarray.max/.sum call, without their Python wrappers
_sum = np.add.reduce


def _normalise(lp: FloatArray) -> FloatArray:
    """``exp(lp - max lp)`` normalised to sum to one (``lp`` is left unchanged)."""
    p: FloatArray = np.exp(lp - _max(lp))
    p /= _sum(p)
    return p


def posterior(state: CATState, bank: CATBank) -> FloatArray:
    """Normalised posterior over ``bank.grid`` from the scored responses, shape ``(Q,)``."""
    lp = _memo_of(state, bank)
    if lp is None:
        lp = _log_posterior(state.items, state.responses, state.pilot, bank)
    return _normalise(lp)


def _available(state: CATState, bank: CATBank) -> BoolArray:
    avail = bank.operational.copy()
    if state.items:
        used = np.asarray(state.items, dtype=np.int64)
        avail[used] = False
        if bank.enemy is not None:
            avail &= ~bank.enemy[used].any(axis=0)
    return avail


def _n_available(state: CATState, bank: CATBank) -> int:
    """``_available(state, bank).sum()``."""
    if bank.enemy is None:
        return bank.unused_operational(state.items)
    return int(_available(state, bank).sum())


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


def _fine_index_one(bank: CATBank, theta: float) -> int:
    """``bank.fine_index`` of one θ (round half to even, clipped), as a Python int."""
    x = (theta + _FINE_LIMIT) / _FINE_STEP
    if isinstance(x, float) and math.isfinite(x) and abs(x) < 1e15:
        i = round(float(x))
        return 0 if i < 0 else min(i, bank.online.n_fine - 1)
    return int(bank.fine_index(np.array([theta]))[0])


def _balanced_skill(t: OnlineTables, used: frozenset[int], counts: list[float]) -> int | None:
    """The skill :func:`~psychometrics.cat.selection.content_mask` restricts one examinee to,
    or ``None`` when it leaves the availability unchanged (targets finite, no enemies).

    ``used`` are the administered items, ``counts`` the scored items per skill (whole
    numbers, so their sum is exact).
    """
    if not t.balance:
        return None
    # The first skill of largest deficit (target − share) among the skills that still have
    # an available (operational, unused) item: argmax semantics.
    n = max(sum(counts), 1.0)
    best = -math.inf
    chosen = None
    for s, (target, positive, count, eligible) in enumerate(
        zip(t.targets, t.target_positive, counts, t.eligible_sets, strict=True)
    ):
        if positive and len(eligible) > len(eligible.intersection(used)):
            deficit = target - count / n
            if deficit > best:
                best, chosen = deficit, s
    return chosen


# How much of each Fisher ranking is kept (see _fisher_ranked); a step that would need more
# (a very long test) ranks with numpy instead.
_RANK_PREFIX = 96


def _fisher_ranked(
    bank: CATBank, g: int, skill: int | None, used: frozenset[int], m: int
) -> list[int] | None:
    """The ``m`` candidates :func:`~psychometrics.cat.exposure.choose` ranks first under
    maximum information at fine-grid point ``g`` (best first), or ``None`` when that is not
    certain without its numpy kernels.

    The eligible items (operational, of ``skill`` when content balancing restricts to one)
    are kept sorted by information at ``g`` (computed on first use).  The first ``m + 1``
    unused ones in that order are the ``m`` best and the next; when their information
    values are finite and strictly decreasing, the ``m`` best *and* their order are the
    same for every correct partition and sort — ``argpartition``/``argsort`` included —
    so the choice equals the batch path's.  Otherwise (ties, too few items left, a ranking
    prefix too short) the caller ranks with the batch path's kernels.
    """
    t = bank.online
    key = (-1 if skill is None else skill, g)
    order = t.fisher_orders.get(key)
    if order is None:
        eligible = t.eligible if skill is None else t.eligible_in_skill[skill]
        values = np.asarray(bank.info_table[g])[eligible]
        best = eligible[np.argsort(-values, kind="stable")[:_RANK_PREFIX]]
        order = (best.astype(np.int16 if t.n_items <= 2**15 else np.int32), eligible.size)
        t.fisher_orders[key] = order
    ranking, n_eligible = order
    prefix: list[int] = ranking[: m + 1 + len(used)].tolist()
    found = []
    for i in prefix:
        if i not in used:
            found.append(i)
            if len(found) > m:
                break
    if len(found) <= m and not (len(found) == m and len(prefix) == n_eligible):
        return None  # too few items left, or the kept prefix is too short to tell
    row = bank.info_table[g]
    info = [row.item(i) for i in found]
    if not (math.isfinite(info[0]) and math.isfinite(info[-1])):
        return None
    if not all(a > b for a, b in itertools.pairwise(info)):  # ties (or NaN)
        return None
    return found[:m]


def select_next_item(state: CATState, bank: CATBank, config: CATConfig) -> ItemChoice:
    """Choose the next item (a pilot item at configured positions).

    Raises:
        ValueError: if no item is available.
    """
    t = bank.online
    items = state.items
    position = len(items)
    rng = StepRandom(state.seed, position)
    if position in config.pilot_positions:
        pil = bank.pilot.copy()
        pil[list(items)] = False
        cands = np.flatnonzero(pil)
        if cands.size:
            item = int(cands[rng.generator().integers(cands.size)])
            return ItemChoice(
                item,
                True,
                f"pilot item seeded at position {position} (random among "
                f"{cands.size} unseen pilot items)",
                None,
            )
    # Without enemy groups (and with finite content targets) availability and the content
    # restriction are worked out on Python sets; otherwise with the batch kernels' masks.
    simple = bank.enemy is None and t.targets_finite
    if simple:
        used = bank.used_items(items)
        if bank.unused_operational(items) == 0:
            raise ValueError("no item available")
    else:
        avail = _available(state, bank)
        if not avail.any():
            raise ValueError("no item available")
    if not len(state.pilot) == len(state.responses) == position:
        list(zip(items, state.pilot, strict=True))  # the errors the batch path raises
        list(zip(items, state.responses, state.pilot, strict=True))
    counts = [0.0] * len(t.targets)
    skill = t.skill
    if counts:
        for it, p in zip(items, state.pilot, strict=True):
            if not p and skill[it] >= 0:
                counts[skill[it]] += 1.0
    selection = config.selection
    method = config.exposure
    m = (
        1
        if method == "none"
        else min(t.n_items, config.randomesque_k if method == "randomesque" else _SH_CANDIDATES)
    )
    item = -1
    row: AnyArray
    if selection == "mfi":
        g = _fine_index_one(bank, state.theta)
        row = bank.info_table[g]
        if simple and m >= 1:
            ranked = _fisher_ranked(bank, g, _balanced_skill(t, used, counts), used, m)
            if ranked is not None:
                item = (
                    ranked[0]
                    if method == "none"
                    else pick_ranked(ranked, None, method, rng, sh=t.sh)
                )
                value = row.item(item)
    elif selection == "kl":
        row = kl_criterion(bank, posterior(state, bank)[None, :], np.array([state.theta]))[0]
    elif selection == "astrat":
        row = astrat_criterion(
            bank,
            np.array([state.theta]),
            np.array([state.n_scored]),
            config.max_items,
            config.n_strata,
        )[0]
    else:
        row = random_criterion(1, bank.n_items, rng.generator())[0]
    if item < 0:
        # -np.where(content_mask(available), criterion, -inf): the array the batch path ranks.
        if simple:
            chosen_skill = _balanced_skill(t, used, counts)
            neg = -row
            neg[t.blocked if chosen_skill is None else t.blocked_in_skill[chosen_skill]] = np.inf
            if used:
                neg.put(list(used), np.inf)
        else:
            mask = content_mask(bank, avail[None, :], np.array([counts]))[0]
            neg = -np.where(mask, row, -np.inf)
        item = rank_and_pick(neg, method, rng, k=config.randomesque_k, sh=t.sh)
        value = -neg.item(item)  # crit[item], exactly (negation is exact)
    reason = f"{_CRITERION_NAMES[selection]} at θ̂={state.theta:.3f}"
    if config.exposure == "randomesque":
        reason += f"; randomesque draw among the {config.randomesque_k} best"
    elif config.exposure == "sympson-hetter":
        reason += "; Sympson–Hetter lottery over ranked candidates"
    if counts and skill[item] >= 0:
        reason += f"; content balancing chose skill {bank.skills[skill[item]]!r}"
    return ItemChoice(item, False, reason, value)


def record_response(state: CATState, choice: ItemChoice, response: int, bank: CATBank) -> CATState:
    """Append an administered item and its response, re-estimating θ by EAP."""
    t = bank.online
    if choice.item in state.items:
        raise ValueError(f"item {choice.item} was already administered")
    k = t.n_categories[choice.item]
    if not 0 <= int(response) < k:
        raise ValueError(f"response {response} outside 0..{k - 1}")
    step = len(state.items)
    item, resp, pilot = int(choice.item), int(response), bool(choice.pilot)
    items = (*state.items, item)
    responses = (*state.responses, resp)
    pilots = (*state.pilot, pilot)
    lp = _memo_of(state, bank)
    if lp is None:
        lp = _log_posterior(items, responses, pilots, bank)
    elif not pilot:
        lp = lp + bank.log_p[item, resp]
    post = _normalise(lp)
    mean = float(post @ bank.grid.nodes)
    sd = math.sqrt(max(float(post @ t.nodes2) - mean * mean, 0.0))
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
    new = CATState(
        state.seed, items, responses, pilots, mean, sd, state.decisions + log, state.finished
    )
    new.__dict__[_MEMO] = (t.token, items, responses, pilots, lp)
    return new


def _stop_code(config: CATConfig, theta: float, se: float, n_scored: int, n_avail: int) -> int:
    """:func:`~psychometrics.cat.stopping.stop_codes` for one examinee (same precedence)."""
    if n_scored >= config.max_items:
        return 1
    if n_scored < config.min_items:
        return 6 if n_avail <= 0 else 2
    if config.se_target is not None and se < config.se_target:
        return 3
    if config.cut_score is not None:
        z = config.classification_z
        if theta - z * se > config.cut_score:
            return 4
        if theta + z * se < config.cut_score:
            return 5
    if n_avail <= 0:
        return 6
    return 0


def check_stop(state: CATState, bank: CATBank, config: CATConfig) -> StopDecision:
    """Evaluate the stopping rules for ``state``."""
    code = _stop_code(config, state.theta, state.se, state.n_scored, _n_available(state, bank))
    return StopDecision(code in STOPPING, code, REASONS[code])


def finish(state: CATState, decision: StopDecision) -> CATState:
    """Mark the test finished and log the stopping reason."""
    log = Decision(len(state.items), "stop", None, decision.reason, state.theta)
    return replace(state, finished=True, decisions=(*state.decisions, log))
