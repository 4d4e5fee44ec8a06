"""2PL calibration benchmark: DreamSeed vs girth 0.8 and Python mirt 1.2 on the same data.

Run: ``uv run python -m bench.psychometrics.calibration`` (add ``--skip-girth`` /
``--skip-mirt`` to leave the slow references out; ``--persons/--items/--observed`` to
change the problem).  Prints wall time, time ratios and RMSE of a and d (b for girth,
converted to d = -a·b) against the generating values.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from psychometrics import calibrate


def simulate(
    n: int, j: int, observed: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.25, j)
    d = -a * rng.normal(0.0, 1.0, j)
    theta = rng.standard_normal(n)
    y = np.empty((n, j), dtype=np.int8)
    for lo in range(0, n, 20_000):
        hi = min(n, lo + 20_000)
        p = 1.0 / (1.0 + np.exp(-(theta[lo:hi, None] * a + d)))
        y[lo:hi] = rng.random(p.shape) < p
    if observed < 1.0:
        y[rng.random(y.shape) > observed] = -1
    return y, a, d


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(x, dtype=float).ravel() - y) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--observed", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-girth", action="store_true")
    ap.add_argument("--skip-mirt", action="store_true")
    ap.add_argument("--mirt-quadpts", type=int, default=41)
    args = ap.parse_args()
    y, a, d = simulate(args.persons, args.items, args.observed, args.seed)
    print(f"2PL, {args.persons} persons × {args.items} items, {args.observed:.0%} observed")
    rows: list[tuple[str, float, float, float]] = []
    times = []
    res = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = calibrate(y, "2pl")
        times.append(time.perf_counter() - t)
    assert res is not None
    ours = min(times)
    rows.append(("dreamseed", ours, rmse(res.items.a, a), rmse(res.items.d[:, 0], d)))
    print(
        f"  dreamseed: best of {args.repeat} {ours:.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}),"
        f" {res.convergence.warm_start_iterations} warm-start + {res.iterations} full E-steps,"
        f" converged={res.converged}"
    )
    if not args.skip_mirt:
        import mirt

        ym = y.astype(np.int64)
        t = time.perf_counter()
        fit = mirt.fit_mirt(ym, "2PL", n_quadpts=args.mirt_quadpts, compute_standard_errors=False)
        el = time.perf_counter() - t
        ma = np.asarray(fit.model.discrimination).ravel()
        mb = np.asarray(fit.model.difficulty).ravel()
        rows.append((f"mirt ({args.mirt_quadpts} GH nodes)", el, rmse(ma, a), rmse(-ma * mb, d)))
        print(f"  mirt done in {el:.1f} s", flush=True)
    if not args.skip_girth and args.observed >= 1.0:
        import girth

        t = time.perf_counter()
        g = girth.twopl_mml(y.T.astype(np.int64))
        el = time.perf_counter() - t
        ga = np.asarray(g["Discrimination"])
        gb = np.asarray(g["Difficulty"])
        rows.append(("girth", el, rmse(ga, a), rmse(-ga * gb, d)))
    print(f"  {'package':<22}{'seconds':>10}{'× ours':>10}{'RMSE a':>10}{'RMSE d':>10}")
    for name, el, ra, rd in rows:
        print(f"  {name:<22}{el:>10.3f}{el / ours:>10.1f}{ra:>10.4f}{rd:>10.4f}")


if __name__ == "__main__":
    main()
