"""Automated test assembly: a 40-item form from a 1,000-item bank (4-skill blueprint, 50 enemy
triples, an exposure cap and a minimax information target at θ = -1, 0, 1), solved by HiGHS.

Baseline in the same run, interleaved: the LP relaxation of the same model (integrality
dropped), which bounds how fast any MILP on it can be; the ratio is MILP time / LP time.
Quality: the worst |information - target| of the form, against the target (goal ≤ 0.5 % of it),
and a greedy form (best item for the worst-served θ point, blueprint respected) for contrast.

    uv run python -m bench.psychometrics.assembly            # 5 banks
    uv run python -m bench.psychometrics.assembly --reps 10 --items 2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from psychometrics.assembly import AssemblySpec, assemble
from psychometrics.models import ItemParameters, item_information

SKILLS = ("algebra", "geometry", "numbers", "data")
THETA = (-1.0, 0.0, 1.0)
TARGET = (10.0, 12.0, 10.0)


def _bank(
    n: int, seed: int
) -> tuple[ItemParameters, list[tuple[str, ...]], list[list[int]], np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.3, n)
    b = rng.normal(0.0, 1.0, n)
    enemies = [rng.choice(n, 3, replace=False).tolist() for _ in range(50)]
    skills: list[tuple[str, ...]] = [(SKILLS[i % 4],) for i in range(n)]
    return ItemParameters("2pl", a, -a * b, np.zeros(n)), skills, enemies, rng.beta(2, 8, n)


def _lp_seconds(items: ItemParameters, spec: AssemblySpec, skills: list[tuple[str, ...]]) -> float:
    """The LP relaxation of the same rows (x in [0, 1]), solved by HiGHS."""
    import highspy

    info = item_information(items, np.asarray(THETA))
    n = items.n_items
    started = time.perf_counter()
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    x = [h.addVariable(0.0, 1.0) for _ in range(n)]
    y = h.addVariable(0.0, highspy.kHighsInf)
    h.addConstr(sum(x) == spec.length)
    for skill, want in spec.blueprint.items():
        lo, hi = (want, want) if isinstance(want, int) else want
        chosen = [x[i] for i in range(n) if skill in skills[i]]
        h.addConstr(lo <= sum(chosen) <= hi)
    for enemy in spec.enemies:
        h.addConstr(sum(x[i] for i in enemy) <= 1)
    for k, t in enumerate(TARGET):
        expr = sum(float(info[i, k]) * x[i] for i in range(n))
        h.addConstr(expr - y <= t)
        h.addConstr(expr + y >= t)
    h.minimize(y)
    return time.perf_counter() - started


def _greedy(items: ItemParameters, skills: list[tuple[str, ...]], length: int) -> np.ndarray:
    """Greedy heuristic: add the item that most raises the worst target share, blueprint equal."""
    info = item_information(items, np.asarray(THETA))
    quota = {s: length // len(SKILLS) for s in SKILLS}
    chosen: list[int] = []
    total = np.zeros(len(THETA))
    for _ in range(length):
        worst = int(np.argmin(total / np.asarray(TARGET)))
        ok = [i for i in range(items.n_items) if i not in chosen and quota[skills[i][0]] > 0]
        best = max(ok, key=lambda i: -abs(total[worst] + info[i, worst] - TARGET[worst]))
        chosen.append(best)
        quota[skills[best][0]] -= 1
        total += info[best]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(f"{'bank':>5} {'MILP s':>7} {'LP s':>6} {'ratio':>6} {'max |dev|':>9} {'dev %':>6}"
          f" {'greedy %':>8}  information at θ = {THETA} (target {TARGET})")  # fmt: skip
    times = []
    for rep in range(args.reps):
        items, skills, enemies, exposure = _bank(args.items, args.seed + rep)
        spec = AssemblySpec(
            length=40,
            theta=THETA,
            target=TARGET,
            blueprint={"algebra": 10, "geometry": 10, "numbers": (8, 12), "data": (8, 12)},
            enemies=enemies,
            max_exposure=0.4,
        )
        lp = _lp_seconds(items, spec, skills)
        form = assemble(items, skills, spec, exposure)
        dev = float(np.max(np.abs(form.information - TARGET)))
        greedy = float(np.max(np.abs(_greedy(items, skills, 40) - TARGET)))
        times.append(form.seconds)
        print(f"{rep:>5} {form.seconds:>7.2f} {lp:>6.2f} {form.seconds / lp:>6.1f} {dev:>9.4f}"
              f" {100 * dev / max(TARGET):>6.2f} {100 * greedy / max(TARGET):>8.2f}"
              f"  {np.round(form.information, 3).tolist()} {form.status}")  # fmt: skip
    print(f"median MILP time {np.median(times):.2f} s (goal <= 5 s), max {max(times):.2f} s")


if __name__ == "__main__":
    main()
