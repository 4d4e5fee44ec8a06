"""2PL calibration benchmark: DreamSeed vs girth 0.8 and Python mirt 1.2 on the same data.

Run: ``uv run python -m bench.psychometrics.calibration``.  Three sections, each fitting
the *same* simulated data with DreamSeed and the reference in the same process:

* girth (``--girth-sizes``, default ``10000x50,20000x100``, complete data): girth's
  ``twopl_mml`` takes minutes at 100k × 200 (the issue quotes 333 s), so it is compared on
  smaller problems.  Leave it out with ``--skip-girth``.
* main problem (``--persons/--items/--observed``, default 100k × 200 complete) against
  mirt (``--skip-mirt`` leaves it out: about 6 minutes under load).
* sparse problem (``--sparse``, default ``20000x100@0.3``) against mirt
  (``--skip-sparse`` to leave it out).

DreamSeed is timed as the best of ``--repeat`` runs (the machine is shared); each
reference runs once.  Prints wall time, the time ratio and RMSE of a, b (= -d/a) and d
against the generating values.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from psychometrics import calibrate

Fit = tuple[np.ndarray, np.ndarray]  # slopes a, intercepts d


def simulate(
    n: int, j: int, observed: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, J)`` int8 2PL responses (-1 = missing), true ``a`` and ``d``."""
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


def ours(y: np.ndarray, repeat: int) -> tuple[float, Fit, str]:
    times = []
    res = None
    for _ in range(repeat):
        t = time.perf_counter()
        res = calibrate(y, "2pl")
        times.append(time.perf_counter() - t)
    assert res is not None
    note = (
        f"best of {repeat}: runs {', '.join(f'{x:.3f}' for x in times)} s;"
        f" {res.convergence.warm_start_iterations} warm-start + {res.iterations} full E-steps,"
        f" converged={res.converged}"
    )
    return min(times), (res.items.a, res.items.d[:, 0]), note


def fit_girth(y: np.ndarray) -> Fit:
    import girth

    g = girth.twopl_mml(y.T.astype(np.int64))  # girth wants items × persons
    ga = np.asarray(g["Discrimination"], dtype=float)
    return ga, -ga * np.asarray(g["Difficulty"], dtype=float)


def fit_mirt(y: np.ndarray, quadpts: int) -> Fit:
    import mirt

    fit = mirt.fit_mirt(y.astype(np.int64), "2PL", n_quadpts=quadpts, compute_standard_errors=False)
    model: Any = fit.model  # mirt types it as its base class; a 2PL fit has both attributes
    ma = np.asarray(model.discrimination, dtype=np.float64).ravel()
    return ma, -ma * np.asarray(model.difficulty, dtype=np.float64).ravel()


def compare(
    title: str,
    n: int,
    j: int,
    observed: float,
    refs: list[tuple[str, Callable[[np.ndarray], Fit]]],
    repeat: int,
    seed: int,
) -> None:
    y, a, d = simulate(n, j, observed, seed)
    print(f"\n{title}: 2PL, {n} persons × {j} items, {observed:.0%} observed", flush=True)
    el, (ea, ed), note = ours(y, repeat)
    print(f"  dreamseed {note}", flush=True)
    b = -d / a
    rows = [("dreamseed", el, ea, ed)]
    for name, fn in refs:
        t = time.perf_counter()
        ra, rd = fn(y)
        rows.append((name, time.perf_counter() - t, ra, rd))
        print(f"  {name} done in {rows[-1][1]:.1f} s", flush=True)
    print(
        f"  {'package':<22}{'seconds':>10}{'× ours':>10}{'RMSE a':>10}{'RMSE b':>10}{'RMSE d':>10}"
    )
    for name, sec, ra, rd in rows:
        print(
            f"  {name:<22}{sec:>10.3f}{sec / el:>10.1f}{rmse(ra, a):>10.4f}"
            f"{rmse(-rd / ra, b):>10.4f}{rmse(rd, d):>10.4f}"
        )


def size(text: str) -> tuple[int, int, float]:
    """``"20000x100"`` or ``"20000x100@0.3"`` → ``(N, J, observed)``."""
    dims, _, obs = text.partition("@")
    n, j = dims.lower().split("x")
    return int(n), int(j), float(obs) if obs else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--observed", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--girth-sizes", default="10000x50,20000x100")
    ap.add_argument("--sparse", default="20000x100@0.3")
    ap.add_argument("--skip-girth", action="store_true")
    ap.add_argument("--skip-mirt", action="store_true")
    ap.add_argument("--skip-main", action="store_true")
    ap.add_argument("--skip-sparse", action="store_true")
    ap.add_argument("--mirt-quadpts", type=int, default=41)
    args = ap.parse_args()
    mirt_ref: list[tuple[str, Callable[[np.ndarray], Fit]]] = []
    if not args.skip_mirt:
        q = args.mirt_quadpts
        mirt_ref = [(f"mirt ({q} GH nodes)", lambda y: fit_mirt(y, q))]
    if not args.skip_girth:
        for text in args.girth_sizes.split(","):
            n, j, obs = size(text)
            compare("girth", n, j, obs, [("girth", fit_girth)], args.repeat, args.seed)
    if not args.skip_sparse:
        n, j, obs = size(args.sparse)
        compare("sparse", n, j, obs, mirt_ref, max(args.repeat, 5), args.seed)
    if not args.skip_main:
        n, j, obs = args.persons, args.items, args.observed
        compare("main", n, j, obs, mirt_ref, args.repeat, args.seed)


if __name__ == "__main__":
    main()
