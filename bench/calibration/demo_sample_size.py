"""How many simulated students does the demo need for a meaningful calibration?

The demo (cli/demo.py) gives each teacher's class a 12-item fixed form drawn like
a ~ U(0.7, 2.0), b ~ N(0, 1) and simulates 2PL answers. Each class is its own calibration group
(no shared items), so what matters is students per class. This runs the calibration loop's own
plan (orchestration.calibration.engine) on simulated classes of several sizes and reports the
RMSE of a and b against the truth, the share of converged runs, and the seconds per run.

    uv run python -m bench.calibration.demo_sample_size [--items 12] [--reps 20]

Sampling error, not timing, is the point: timings move 2-3x on the shared machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

from orchestration.calibration.engine import CalibrationConfig, code_responses, plan_calibration
from orchestration.calibration.items import BankItem


def one(
    rng: np.random.Generator,
    n_items: int,
    n_students: int,
    slope_prior: tuple[float, float] | None = None,
) -> tuple[float, float, bool, float]:
    a = rng.uniform(0.7, 2.0, n_items)
    b = rng.normal(0.0, 1.0, n_items)
    theta = rng.normal(0.0, 1.0, n_students)
    y = rng.random((n_students, n_items)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    s, j = np.nonzero(np.ones_like(y))
    ids = [f"i{k}" for k in range(n_items)]
    table = pa.table(
        {"attempt_id": s.astype(str), "item_id": [ids[k] for k in j], "is_correct": y[s, j]}
    )
    cfg = CalibrationConfig(
        min_item_responses=1,
        standard_errors=False,
        fit_min_persons=10**9,
        slope_prior=slope_prior,
    )
    t0 = time.perf_counter()
    plan = plan_calibration(
        code_responses(table), {i: BankItem(i, "operational", "key") for i in ids}, cfg
    )
    seconds = time.perf_counter() - t0
    est = {c.item_id: c for c in plan.candidates}
    ea = np.array([est[i].a for i in ids])
    eb = np.array([est[i].b[0] for i in ids])
    converged = all(c.converged for c in plan.candidates)
    return (
        float(np.sqrt(np.mean((ea - a) ** 2))),
        float(np.sqrt(np.mean((eb - b) ** 2))),
        converged,
        seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--sizes", default="12,50,100,200,300,500,1000,2000")
    parser.add_argument(
        "--slope-prior", default="", help="meanlog,sdlog of a lognormal slope prior, e.g. 0,0.5"
    )
    args = parser.parse_args()
    prior = tuple(float(x) for x in args.slope_prior.split(",")) if args.slope_prior else None
    if prior is not None and len(prior) != 2:
        parser.error("--slope-prior needs meanlog,sdlog")
    rng = np.random.default_rng(20261126)
    print(
        f"{args.items} items, {args.reps} replications per size, slope prior {prior} "
        "(median RMSE, 90th percentile)"
    )
    print("students | RMSE(a) median  p90 | RMSE(b) median  p90 | converged | s/run")
    for n in (int(x) for x in args.sizes.split(",")):
        runs = [one(rng, args.items, n, prior) for _ in range(args.reps)]
        ra = np.array([r[0] for r in runs])
        rb = np.array([r[1] for r in runs])
        conv = np.mean([r[2] for r in runs])
        sec = np.median([r[3] for r in runs])
        print(
            f"{n:8d} | {np.median(ra):14.3f} {np.quantile(ra, 0.9):5.3f}"
            f" | {np.median(rb):14.3f} {np.quantile(rb, 0.9):5.3f} | {conv:9.0%} | {sec:5.2f}"
        )


if __name__ == "__main__":
    main()
