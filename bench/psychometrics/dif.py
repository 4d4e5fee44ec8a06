"""DIF Monte Carlo: type-I error and power of Mantel–Haenszel and IRT likelihood-ratio DIF.

Each condition simulates `--reps` replications of a 10-item 2PL test (slopes lognormal(0,
0.25), difficulties evenly spread on [-1.5, 1.5]) answered by a reference group N(0, 1) and a
focal group N(impact, 1); items 0 and 5 have uniform DIF (difficulty +Δ and -Δ for the focal
group). Both methods run as the platform runs them: MH with the ETS classes and purification
of the summed-score matching, LR by multiple-group calibration (focal mean and SD free) with
purification of the anchor set, α = 0.05. Type-I error is the flag rate on the 8 clean items
(8 × reps tests), power the flag rate on each DIF item. The time ratio is LR's CPU time per
replication against MH's (the baseline in the same run).

    uv run python -m bench.psychometrics.dif                 # 4 conditions x 200 replications
    uv run python -m bench.psychometrics.dif --reps 500 --conditions 500:-0.5:0.6
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from psychometrics.dif import lr_dif, mantel_haenszel_dif
from psychometrics.quadrature import normal_grid

DEFAULT_CONDITIONS = ("500:0:0.6", "500:-0.5:0.6", "250:-0.5:0.6", "1000:-0.5:0.4")


def run(n: int, impact: float, shift: float, reps: int, seed: int) -> dict[str, float]:
    J = 10
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 0.25, J)
    b = np.linspace(-1.5, 1.5, J)
    bf = b.copy()
    bf[0] += shift
    bf[5] -= shift
    dif = np.zeros(J, dtype=bool)
    dif[[0, 5]] = True
    groups = np.r_[np.zeros(n), np.ones(n)]
    grid = normal_grid(21, 5.0)
    mh = np.zeros((reps, J), dtype=bool)
    lr = np.zeros((reps, J), dtype=bool)
    ets = {"A": 0, "B": 0, "C": 0}
    t_mh = t_lr = 0.0
    for r in range(reps):
        theta = np.r_[rng.normal(0, 1, n), rng.normal(impact, 1, n)]
        bb = np.where(groups[:, None] == 1, bf, b)
        p = 1 / (1 + np.exp(-a * (theta[:, None] - bb)))
        y = (rng.random(p.shape) < p).astype(float)
        t0 = time.process_time()
        m = mantel_haenszel_dif(y, groups)
        t1 = time.process_time()
        lr[r] = lr_dif(y, groups, grid=grid).flagged
        t2 = time.process_time()
        t_mh += t1 - t0
        t_lr += t2 - t1
        mh[r] = m.flagged
        for j in np.flatnonzero(dif):
            ets[m.ets[j]] += 1
    return {
        "type1_mh": float(mh[:, ~dif].mean()),
        "type1_lr": float(lr[:, ~dif].mean()),
        "power_mh_0": float(mh[:, 0].mean()),
        "power_mh_5": float(mh[:, 5].mean()),
        "power_lr_0": float(lr[:, 0].mean()),
        "power_lr_5": float(lr[:, 5].mean()),
        "ets_b_or_c": (ets["B"] + ets["C"]) / (2 * reps),
        "ms_mh": 1000 * t_mh / reps,
        "ms_lr": 1000 * t_lr / reps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument(
        "--conditions",
        nargs="*",
        default=list(DEFAULT_CONDITIONS),
        help="n_per_group:impact:dif_shift",
    )
    args = parser.parse_args()
    print(
        "| n per group | impact | Δb | type-I MH | type-I LR | power MH (+Δ, -Δ) |"
        " power LR (+Δ, -Δ) | DIF items ETS B/C | CPU ms/rep MH | LR | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cond in args.conditions:
        n_s, impact_s, shift_s = cond.split(":")
        r = run(int(n_s), float(impact_s), float(shift_s), args.reps, args.seed)
        print(
            f"| {n_s} | {impact_s} | {shift_s} | {r['type1_mh']:.4f} | {r['type1_lr']:.4f} |"
            f" {r['power_mh_0']:.3f}, {r['power_mh_5']:.3f} |"
            f" {r['power_lr_0']:.3f}, {r['power_lr_5']:.3f} | {r['ets_b_or_c']:.3f} |"
            f" {r['ms_mh']:.2f} | {r['ms_lr']:.0f} | {r['ms_lr'] / max(r['ms_mh'], 1e-9):.0f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()
