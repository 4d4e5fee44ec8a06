"""One online CAT step per examinee: the current engine against its pre-optimisation self.

What the exam API runs on every answer (``apis/exams/adaptive_steps.py``, ``write_answer``)::

    after = record_response(cat_state, pending_choice, score, bank)
    step = adaptive.advance(after, bank, config)   # check_stop → select_next_item → candidates

This benchmark simulates examinees on a 300-item 2PL bank configured like an exam (maximum
Fisher information, randomesque k = 5, a blueprint over 3 skills, 10–20 items, SE < 0.3,
built through ``apis.exams.adaptive.build_cat_config``), records every step, then times the
same steps with

* ``legacy_step``: the implementation before the online-step optimisation (commit 821132d),
  copied below verbatim and clearly labelled;
* the current code with the state decoded from JSON (``CATState.from_dict``, as when the
  state comes from Redis or is rebuilt from PostgreSQL: nothing memoised on it);
* the current code with the state object returned by the previous ``record_response`` (as
  the API's in-process cache tier hands it over: the log posterior is memoised on it);
* catsim 0.21's single-examinee step on the same bank and the same administered items and
  responses: ``NumericalSearchEstimator.estimate`` + ``MinErrorStopper.stop`` +
  ``RandomesqueSelector(5).select`` (a reference for scale only: no blueprint, different
  estimator).

Every step's result is first checked to be identical between ``legacy_step`` and the current
code (items, pilot flags, reasons, criterion values, θ̂ and SE bits, audit log, stop reasons,
candidate counts).  Times are CPU time of this thread per examinee-step (median and best of
``--rounds`` interleaved rounds, the order rotated each round); the garbage collector is
frozen after set-up, as the API does after start-up, and kept out of the timed passes (a
collection runs between them), which if anything favours the baseline: it allocates more.

Run: ``uv run python -m bench.psychometrics.online_step`` (``--examinees``, ``--rounds``,
``--skip-catsim``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

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


SKILLS = ("algebra", "geometry", "statistics")


def exam_setup(n_items: int, seed: int) -> tuple[CATConfig, CATBank]:
    """A 2PL pool with a 3-skill blueprint, configured the way the exam service does it."""
    settings: dict[str, Any] = {
        "selection": "mfi",
        "exposure": {"method": "randomesque", "randomesque_k": 5, "max_rate": 0.3},
        "blueprint": {"algebra": 0.4, "geometry": 0.3, "statistics": 0.3},
        "stopping": {
            "min_items": 10,
            "max_items": 20,
            "se_target": 0.3,
            "cut_score": None,
            "classification_z": 1.96,
        },
    }
    pool = [
        adaptive.PoolItem(f"i{j}", "operational", (SKILLS[j % 3],), 4, "key", True)
        for j in range(n_items)
    ]
    cfg = adaptive.build_cat_config(settings, pool)
    rng = np.random.default_rng(seed)
    rows: list[adaptive.ParamRow | None] = [
        adaptive.ParamRow(
            f"p{j}", "2pl", float(rng.lognormal(0.1, 0.3)), (float(rng.normal(0, 1.2)),), 0.0
        )
        for j in range(n_items)
    ]
    items = adaptive.item_parameters(rows, [p.n_options for p in pool])
    return cfg, CATBank.build(items, cfg)


@dataclass
class Recorded:
    """One examinee-step: the state before the answer (warm and cold), the pending choice
    and the score, and the θ̂ the catsim reference starts from."""

    warm: CATState
    cold: CATState
    pending: ItemChoice
    score: int


def simulate(cfg: CATConfig, bank: CATBank, n: int, seed: int) -> list[Recorded]:
    """Live tests of ``n`` examinees (θ ~ N(0, 1), 63-bit seeds like the API's)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        theta = float(rng.standard_normal())
        state = current.start(int(rng.integers(0, 2**63)), cfg)
        step = adaptive.advance(state, bank, cfg)
        while step.choice is not None:
            c = step.choice
            a, d = bank.items.a[c.item], bank.items.d[c.item, 0]
            score = int(rng.random() < 1.0 / (1.0 + np.exp(-(a * theta + d))))
            cold = CATState.from_dict(state.to_dict())
            out.append(Recorded(state, cold, c, score))
            state, step = current_step(state, c, score, bank, cfg)
    return out


def check_identical(steps: list[Recorded], bank: CATBank, cfg: CATConfig) -> int:
    """Number of steps whose legacy and current outcomes are identical (all of them)."""
    same = 0
    for s in steps:
        outcomes = [
            legacy_step(s.cold, s.pending, s.score, bank, cfg),
            current_step(s.cold, s.pending, s.score, bank, cfg),
            current_step(s.warm, s.pending, s.score, bank, cfg),
        ]
        first = outcomes[0]
        ok = all(
            o[0] == first[0]
            and float.hex(o[0].theta) == float.hex(first[0].theta)
            and float.hex(o[0].se) == float.hex(first[0].se)
            and o[1].choice == first[1].choice
            and o[1].stop_reason == first[1].stop_reason
            and o[1].candidates == first[1].candidates
            for o in outcomes[1:]
        )
        same += ok
    return same


def timed(run: Callable[[], None], n_steps: int) -> float:
    """CPU µs per step of one pass (collector off during the pass, run between passes)."""
    gc.collect()
    gc.disable()
    try:
        t = time.thread_time_ns()
        run()
        return (time.thread_time_ns() - t) / 1e3 / n_steps
    finally:
        gc.enable()


def catsim_runner(steps: list[Recorded], bank: CATBank, seed: int) -> Callable[[], None]:
    """catsim 0.21's single-examinee step on the same administered items and responses."""
    from catsim.estimation import NumericalSearchEstimator
    from catsim.item_bank import ItemBank
    from catsim.selection import RandomesqueSelector
    from catsim.stopping import MinErrorStopper

    items = bank.items
    b = -items.d[:, 0] / items.a
    cs_bank = ItemBank(np.column_stack([items.a, b, items.c, np.ones_like(items.a)]))
    estimator = NumericalSearchEstimator()
    selector = RandomesqueSelector(5)
    stopper = MinErrorStopper(0.3, min_items=10, max_items=20)
    rng = np.random.default_rng(seed)
    cases = []
    for s in steps:
        administered = [*s.cold.items, s.pending.item]
        responses = [bool(r) for r in (*s.cold.responses, s.score)]
        cases.append((administered, responses, float(s.cold.theta)))

    def run() -> None:
        for administered, responses, theta in cases:
            est = estimator.estimate(
                item_bank=cs_bank,
                administered_items=administered,
                response_vector=responses,
                est_theta=theta,
            )
            if not stopper.stop(
                _item_bank=cs_bank, administered_items=cs_bank.items[administered], theta=est
            ):
                selector.select(
                    item_bank=cs_bank, administered_items=administered, est_theta=est, rng=rng
                )

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--examinees", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--catsim-examinees", type=int, default=60)
    ap.add_argument("--skip-catsim", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg, bank = exam_setup(args.items, args.seed)
    steps = simulate(cfg, bank, args.examinees, args.seed + 1)
    n = len(steps)
    same = check_identical(steps, bank, cfg)
    print(
        f"online CAT step (record_response + adaptive.advance), {args.items}-item 2PL bank, "
        "MFI + randomesque 5 + 3-skill blueprint, 10–20 items, SE < 0.3"
    )
    print(f"  {args.examinees} examinees, {n} examinee-steps")
    print(
        f"  identical results, legacy vs current (cold and warm state): {same}/{n} steps "
        "(items, reasons, criteria, θ̂/SE bits, audit log, stop reasons, candidates)"
    )
    if same != n:
        raise SystemExit("results differ: the optimisation is not bit-identical")

    def run(step: Callable[..., Any], warm: bool) -> Callable[[], None]:
        cases = [(s.warm if warm else s.cold, s.pending, s.score) for s in steps]

        def go() -> None:
            for state, pending, score in cases:
                step(state, pending, score, bank, cfg)

        return go

    runners: dict[str, tuple[Callable[[], None], int]] = {
        "legacy_step (pre-optimisation, verbatim)": (run(legacy_step, False), n),
        "current, state decoded from JSON (cold)": (run(current_step, False), n),
        "current, state of the previous step (warm)": (run(current_step, True), n),
    }
    if not args.skip_catsim:
        seeds: list[int] = []
        for s in steps:
            if s.warm.seed not in seeds:
                seeds.append(s.warm.seed)
        keep = set(seeds[: args.catsim_examinees])
        sub = [s for s in steps if s.warm.seed in keep]
        runners["catsim 0.21 single examinee (estimate + stop + randomesque)"] = (
            catsim_runner(sub, bank, args.seed),
            len(sub),
        )
    for go, _ in runners.values():  # warm-up
        go()
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {k: [] for k in runners}
    names = list(runners)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            go, count = runners[name]
            times[name].append(timed(go, count))
    width = max(len(k) for k in runners)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  CPU µs per examinee-step, median (best) of {args.rounds} interleaved rounds:")
    for name, v in times.items():
        print(f"    {name:<{width}}  {med[name]:8.1f}  ({min(v):.1f})")
    legacy = med["legacy_step (pre-optimisation, verbatim)"]
    cold = med["current, state decoded from JSON (cold)"]
    warm = med["current, state of the previous step (warm)"]
    print(f"  speed-up over legacy_step: {legacy / cold:.1f}× cold, {legacy / warm:.1f}× warm")


if __name__ == "__main__":
    main()
