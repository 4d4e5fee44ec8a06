"""One online CAT step per examinee: what the exam API runs on every answer.

``apis/exams/adaptive_steps.py``, ``write_answer``::

    after = record_response(cat_state, pending_choice, score, bank)
    step = adaptive.advance(after, bank, config)   # check_stop → select_next_item → candidates

This benchmark simulates examinees on a 300-item 2PL bank configured like an exam (maximum
Fisher information, randomesque k = 5, a blueprint over 3 skills, 10–20 items, SE < 0.3,
built through ``apis.exams.adaptive.build_cat_config``), records every step, then times the
same steps with

* the state decoded from JSON (``CATState.from_dict``, as when the state comes from Redis or
  is rebuilt from PostgreSQL: nothing memoised on it);
* the state object returned by the previous ``record_response`` (as the API's in-process cache
  tier hands it over: the log posterior is memoised on it);
* catsim 0.21's single-examinee step on the same bank and the same administered items and
  responses: ``NumericalSearchEstimator.estimate`` + ``MinErrorStopper.stop`` +
  ``RandomesqueSelector(5).select`` (a reference for scale only: no blueprint, different
  estimator).

Against the code before the online-step optimisation (commit 821132d), run it side by side with
that revision: ``uv run python -m bench.revision 821132d online-step`` (``bench/revision.py``;
the results line -- items chosen, mean θ̂ and SE -- is then printed by both sides and appears in
the report only if they differ). Times are CPU time of this thread per examinee-step (median and
best of ``--rounds`` interleaved rounds, the order rotated each round); the garbage collector is
frozen after set-up, as the API does after start-up, and kept out of the timed passes.

Run: ``uv run python -m bench.psychometrics.online_step`` (``--examinees``, ``--rounds``,
``--skip-catsim``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apis.exams import adaptive
from psychometrics.cat import CATBank, CATConfig, CATState, ItemChoice
from psychometrics.cat import engine as current

Step = adaptive.Step


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


def results(steps: list[Recorded], bank: CATBank, cfg: CATConfig) -> tuple[int, float, float]:
    """What the steps compute from the decoded state: items chosen, mean θ̂ and mean SE."""
    chosen, thetas, ses = 0, [], []
    for s in steps:
        after, step = current_step(s.cold, s.pending, s.score, bank, cfg)
        chosen += step.choice is not None
        thetas.append(after.theta)
        ses.append(after.se)
    return chosen, statistics.fmean(thetas), statistics.fmean(ses)


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
    chosen, mean_theta, mean_se = results(steps, bank, cfg)
    print(
        f"online CAT step (record_response + adaptive.advance), {args.items}-item 2PL bank, "
        "MFI + randomesque 5 + 3-skill blueprint, 10–20 items, SE < 0.3"
    )
    print(f"  {args.examinees} examinees, {n} examinee-steps")
    print(f"  results: {chosen} next items chosen, mean theta {mean_theta:.12f}, SE {mean_se:.12f}")

    def run(step: Callable[..., Any], warm: bool) -> Callable[[], None]:
        cases = [(s.warm if warm else s.cold, s.pending, s.score) for s in steps]

        def go() -> None:
            for state, pending, score in cases:
                step(state, pending, score, bank, cfg)

        return go

    runners: dict[str, tuple[Callable[[], None], int]] = {
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


if __name__ == "__main__":
    main()
