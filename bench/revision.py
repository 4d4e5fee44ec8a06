"""A benchmark against a recorded git revision of the repository, side by side with HEAD.

    uv run python -m bench.revision REV NAME [NAME ...] [--rounds 3] [--revision-bench]
        [-- ARGS for the benchmark]

"No regression against the revision before the change" is measured in one run: REV is
materialised with `git archive` into a temporary directory, and the benchmark NAME (a name of
`python -m bench`) runs alternately on HEAD's working tree and on REV, each as its own process of
this environment's interpreter (the same dependencies) with that tree first on `PYTHONPATH`
(processes the benchmark starts, e.g. `dreamseed serve`, import it too). By default REV runs
HEAD's copy of `bench/` (the same measurement of the older code); `--revision-bench` runs REV's
own. Rounds are interleaved and the order flips every round, so load from other work falls on
both sides alike.

Every number a benchmark prints is paired by its line (the text with the numbers taken out) and
column; the report gives the median over the rounds on each side and the ratio HEAD / REV
(below 1: HEAD is lower -- faster where the number is a time). Compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.__main__ import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# A line is "LABEL: n1, n2, ..."; the label keeps its words, numbers become '#'.
LineKey = tuple[str, int]  # (label, occurrence of that label in the output)


@dataclass(frozen=True)
class Run:
    side: str  # "HEAD" or the revision
    seconds: float
    numbers: dict[LineKey, list[float]]


def materialise(revision: str, into: Path, *, head_bench: bool) -> str:
    """Extract `revision` of this repository into `into`; return its full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar_path = into.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    tar_path.unlink()
    if head_bench:
        shutil.rmtree(into / "bench", ignore_errors=True)
        shutil.copytree(
            ROOT / "bench", into / "bench", ignore=shutil.ignore_patterns("__pycache__")
        )
    return commit


def parse(output: str) -> dict[LineKey, list[float]]:
    seen: dict[str, int] = defaultdict(int)
    numbers: dict[LineKey, list[float]] = {}
    for line in output.splitlines():
        values = [float(x) for x in NUMBER.findall(line)]
        if not values:
            continue
        label = " ".join(NUMBER.sub("#", line).split())
        numbers[(label, seen[label])] = values
        seen[label] += 1
    return numbers


def run_once(tree: Path, module: str, args: list[str], side: str) -> Run:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=tree, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{module} failed on {side} (exit {done.returncode})")
    print(f"--- {side} ({seconds:.0f} s)\n{done.stdout.rstrip()}", flush=True)
    return Run(side, seconds, parse(done.stdout))


def report(name: str, head: list[Run], base: list[Run], revision: str) -> None:
    print(f"\n=== {name}: HEAD vs {revision}, median of {len(head)} interleaved round(s) ===")
    print(f"{'line':70} {'col':>3} {'HEAD':>12} {revision:>12} {'ratio':>7}")
    for key in head[0].numbers:
        if not all(key in r.numbers for r in (*head, *base)):
            continue
        columns = min(len(r.numbers[key]) for r in (*head, *base))
        for col in range(columns):
            h = statistics.median(r.numbers[key][col] for r in head)
            b = statistics.median(r.numbers[key][col] for r in base)
            if h == b:
                continue  # parameters and counts: the same on both sides
            ratio = f"{h / b:7.3f}" if b else "      -"
            print(f"{key[0][:70]:70} {col:>3} {h:12.4g} {b:12.4g} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="a commit, tag or branch of this repository")
    parser.add_argument("names", nargs="+", help=f"benchmarks: {', '.join(BENCHMARKS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--revision-bench", action="store_true", help="run REV's own bench/")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="dreamseed-rev-") as tmp:
        tree = Path(tmp) / "tree"
        commit = materialise(args.revision, tree, head_bench=not args.revision_bench)
        print(f"{args.revision} = {commit} materialised in {tree}", flush=True)
        for name in args.names:
            module = BENCHMARKS[name][0]
            head: list[Run] = []
            base: list[Run] = []
            for round_no in range(args.rounds):
                sides = [(ROOT, "HEAD", head), (tree, args.revision, base)]
                for path, side, runs in sides if round_no % 2 == 0 else reversed(sides):
                    print(f"\n[{name} round {round_no + 1}/{args.rounds}: {side}]", flush=True)
                    runs.append(run_once(path, module, extra, side))
            report(name, head, base, args.revision)


if __name__ == "__main__":
    main()
