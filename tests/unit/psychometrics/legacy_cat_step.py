"""The single-examinee CAT step as it was before the online-step optimisation (commit 821132d):
the test oracle of ``test_cat_online.py``, which requires the optimised code to give the same
outcome bit for bit on randomly drawn banks, configurations and answers.

Frozen on purpose (it is the reference, not code that runs anywhere); the benchmark measures
the optimisation against the revision itself instead (``python -m bench.revision 821132d
online-step``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from apis.exams import adaptive
from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.cat import CATBank, CATConfig, CATState, Decision, ItemChoice, StopDecision
from psychometrics.cat import engine as current
from psychometrics.cat.stopping import REASONS, STOPPING

Step = adaptive.Step

# ============================================================================================
# LEGACY: the single-examinee path before the online-step optimisation (commit 821132d),
# copied verbatim from psychometrics/cat/{selection,exposure,stopping,engine}.py and
# apis/exams/adaptive.py.  Only used as this benchmark's baseline; do not edit.
# ============================================================================================

# psychometrics/cat/selection.py


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


# psychometrics/cat/exposure.py

_SH_CANDIDATES = 10


def choose(
    criterion: FloatArray,
    available: BoolArray,
    method: str,
    rng: np.random.Generator,
    *,
    k: int = 5,
    sh: FloatArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """Pick one item per examinee.

    Args:
        criterion: ``(E, I)`` larger-is-better values.
        available: ``(E, I)`` boolean mask (each row needs one available item).
        method: ``none``, ``randomesque`` or ``sympson-hetter``.
        rng: random generator.
        k: randomesque candidates.
        sh: ``(I,)`` Sympson–Hetter probabilities.

    Returns:
        Chosen items ``(E,)`` and their criterion values ``(E,)``.
    """
    crit = np.where(available, criterion, -np.inf)
    e, n_items = crit.shape
    rows = np.arange(e)
    if method == "none":
        best = crit.argmax(axis=1)
        return best, crit[rows, best]
    m = min(n_items, k if method == "randomesque" else _SH_CANDIDATES)
    top = (
        np.argpartition(-crit, m - 1, axis=1)[:, :m]
        if m < n_items
        else np.tile(np.arange(n_items), (e, 1))
    )
    vals = crit[rows[:, None], top]
    order = np.argsort(-vals, axis=1)
    top = top[rows[:, None], order]
    vals = vals[rows[:, None], order]
    n_ok = np.isfinite(vals).sum(axis=1)
    if method == "randomesque":
        pick = (rng.random(e) * np.maximum(n_ok, 1)).astype(np.int64)
    else:
        if sh is None:
            raise ValueError("sympson-hetter needs sh")
        accept = (rng.random((e, m)) < sh[top]) & np.isfinite(vals)
        first = np.where(accept.any(axis=1), accept.argmax(axis=1), np.maximum(n_ok - 1, 0))
        pick = first
    chosen = top[rows, pick]
    return chosen, crit[rows, chosen]


# psychometrics/cat/stopping.py


def stop_codes(
    config: CATConfig,
    theta: FloatArray,
    se: FloatArray,
    n_scored: IntArray,
    n_available: IntArray,
) -> IntArray:
    """Reason codes (keys of :data:`REASONS`) for each examinee.

    Args:
        config: test rules.
        theta: ``(E,)`` estimates; se: ``(E,)`` posterior SDs.
        n_scored: ``(E,)`` scored items; n_available: ``(E,)`` items still available.

    Returns:
        ``(E,)`` integer codes; codes 1, 3, 4, 5 and 6 mean "stop".
    """
    code = np.zeros(theta.shape[0], dtype=np.int64)
    undecided = np.ones(theta.shape[0], dtype=bool)

    def put(mask: BoolArray, value: int) -> None:
        nonlocal undecided
        sel = undecided & mask
        code[sel] = value
        undecided &= ~sel

    put(n_scored >= config.max_items, 1)
    put(n_scored < config.min_items, 2)
    if config.se_target is not None:
        put(se < config.se_target, 3)
    if config.cut_score is not None:
        z = config.classification_z
        put(theta - z * se > config.cut_score, 4)
        put(theta + z * se < config.cut_score, 5)
    put(n_available <= 0, 6)
    # minimum length beats exhaustion only while items remain
    code[(code == 2) & (n_available <= 0)] = 6
    return code


# psychometrics/cat/engine.py


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


# apis/exams/adaptive.py


def candidates_left(state: CATState, bank: CATBank) -> int:
    avail = bank.operational.copy()
    if state.items:
        avail[list(state.items)] = False
    return int(avail.sum())


def advance(state: CATState, bank: CATBank, config: CATConfig) -> Step:
    """Check the stopping rules; if the test goes on, select the next item."""
    decision = check_stop(state, bank, config)
    if decision.stop:
        return Step(state, None, decision.reason, 0)
    try:
        choice = select_next_item(state, bank, config)
    except ValueError:
        return Step(state, None, "stop: item bank exhausted", 0)
    return Step(state, choice, None, candidates_left(state, bank))


def legacy_step(
    state: CATState, pending: ItemChoice, score: int, bank: CATBank, config: CATConfig
) -> tuple[CATState, Step]:
    """The pre-optimisation online step, exactly as the API called it."""
    after = record_response(state, pending, score, bank)
    return after, advance(after, bank, config)


# ============================================================================================
# end of LEGACY
# ============================================================================================


def current_step(
    state: CATState, pending: ItemChoice, score: int, bank: CATBank, config: CATConfig
) -> tuple[CATState, Step]:
    """The online step of the current code (what ``apis/exams/adaptive_steps.py`` runs)."""
    after = current.record_response(state, pending, score, bank)
    return after, adaptive.advance(after, bank, config)
