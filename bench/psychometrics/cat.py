"""CAT benchmark: DreamSeed's vectorised simulation vs catsim 0.21 on one 500-item 2PL bank.

Run: ``uv run python -m bench.psychometrics.cat`` (``--catsim-examinees`` limits the slow
reference).  Both stop at SE < 0.3 (catsim: 1/√I(θ̂) with its NumericalSearchEstimator;
ours: EAP posterior SD), maximum 60 items, maximum-information selection, start at θ = 0.
Prints µs per examinee-step, mean test length and RMSE of θ̂.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from psychometrics import CATBank, CATConfig, ItemParameters, simulate_cat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--examinees", type=int, default=10_000)
    ap.add_argument("--catsim-examinees", type=int, default=1_000)
    ap.add_argument("--se", type=float, default=0.3)
    ap.add_argument("--max-items", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    a = rng.lognormal(0.0, 0.3, args.items)
    b = rng.normal(0.0, 1.0, args.items)
    theta = rng.standard_normal(args.examinees)
    items = ItemParameters.from_irt("2pl", a, b)
    cfg = CATConfig(selection="mfi", se_target=args.se, max_items=args.max_items)
    t = time.perf_counter()
    bank = CATBank.build(items, cfg)
    build = time.perf_counter() - t
    ours = simulate_cat(bank, theta, cfg, seed=args.seed)
    sub = ours  # same examinees for the comparison below
    n_cs = min(args.catsim_examinees, args.examinees)
    print(f"CAT, {args.items}-item 2PL bank, SE < {args.se}, max {args.max_items} items")
    print(
        f"  dreamseed: {args.examinees} examinees, {ours.steps} examinee-steps, "
        f"{ours.seconds:.3f} s (+ bank tables {build:.3f} s once) → "
        f"{ours.microseconds_per_step:.2f} µs/step"
    )
    print(
        f"  dreamseed on the first {n_cs}: mean length "
        f"{sub.lengths[:n_cs].mean():.2f}, RMSE θ "
        f"{np.sqrt(np.mean((sub.theta[:n_cs] - theta[:n_cs]) ** 2)):.4f}"
    )
    print(f"  dreamseed all: mean length {ours.mean_length:.2f}, RMSE θ {ours.rmse:.4f}")
    from catsim.estimation import NumericalSearchEstimator
    from catsim.initialization import FixedPointInitializer
    from catsim.selection import MaxInfoSelector
    from catsim.simulation import Simulator
    from catsim.stopping import MinErrorStopper

    bank_cs = np.column_stack([a, b, np.zeros_like(a), np.ones_like(a)])
    sim = Simulator(
        bank_cs,
        theta[:n_cs],
        initializer=FixedPointInitializer(0.0),
        selector=MaxInfoSelector(),
        estimator=NumericalSearchEstimator(),
        stopper=MinErrorStopper(args.se, max_items=args.max_items),
        seed=args.seed,
    )
    t = time.perf_counter()
    sim.simulate(verbose=False)
    el = time.perf_counter() - t
    lengths = np.array([len(x) for x in sim.administered_items])
    est = np.array(sim.latest_estimations)
    steps = int(lengths.sum())
    cs_us = 1e6 * el / max(steps, 1)
    print(
        f"  catsim: {n_cs} examinees, {steps} examinee-steps, {el:.3f} s → {cs_us:.2f} µs/step, "
        f"mean length {lengths.mean():.2f}, RMSE θ {np.sqrt(np.mean((est - theta[:n_cs]) ** 2)):.4f}"
    )
    print(f"  time per step: catsim / dreamseed = {cs_us / ours.microseconds_per_step:.0f}×")


if __name__ == "__main__":
    main()
