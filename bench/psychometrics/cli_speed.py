"""`dreamseed irt calibrate` as a whole process against a plain numpy EM script, same file.

Run: ``uv run python -m bench.psychometrics.cli_speed`` (about 3 minutes under load).

1. Simulates a 2PL data set (``--persons`` × ``--items``, default 100k × 200, complete) and
   writes it as a wide Parquet file (one int64 column per item, as pandas/polars write
   integers) under ``bench/results/`` (cached by size and seed).
2. In ``--rounds`` interleaved rounds runs, each as its own process:
   ``dreamseed irt calibrate --input FILE`` and ``python bench/psychometrics/numpy_em.py FILE``
   (the baseline: a vectorised float64 2PL MML-EM, see that file).  Wall time, CPU time
   (user + sys of that process, from ``wait4``) and peak RSS of each process are recorded.
3. Reports best and median wall time, the time ratio CLI / script, and RMSE of a and d of
   each against the generating values.
4. Times ``dreamseed --help`` against ``python -c pass`` (``--help-runs`` interleaved runs).

The machine is shared: compare the ratios, not the seconds, across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "results"
BASELINE = Path(__file__).resolve().with_name("numpy_em.py")


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mb: float
    stdout: str


def run_measured(argv: list[str]) -> Run:
    """Run `argv` to completion: its wall time, and the CPU time and peak RSS of exactly
    that process (os.wait4)."""
    out_path = RESULTS / f".stdout-{os.getpid()}"
    with out_path.open("w") as out, open(os.devnull, "w") as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text()
    out_path.unlink()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with exit code {child.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout)


def simulate_file(n: int, j: int, seed: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """The wide Parquet file and the generating a and d (cached under bench/results/)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.psychometrics.calibration import simulate

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"wide-2pl-{n}x{j}-seed{seed}.parquet"
    truth = path.with_suffix(".npz")
    if not (path.exists() and truth.exists()):
        y, a, d = simulate(n, j, 1.0, seed)
        columns = {f"item{k + 1}": y[:, k].astype(np.int64) for k in range(j)}
        pq.write_table(pa.table(columns), path)
        np.savez(truth, a=a, d=d)
    saved = np.load(truth)
    return path, saved["a"], saved["d"]


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(x, dtype=float) - y) ** 2)))


def cli_estimates(stdout: str) -> tuple[np.ndarray, np.ndarray, int]:
    out = json.loads(stdout)
    a = np.array([row["a"] for row in out["items"]])
    d = np.array([row["d"] for row in out["items"]], dtype=float).reshape(len(a), -1)[:, 0]
    return a, d, int(out["iterations"])


def script_estimates(stdout: str) -> tuple[np.ndarray, np.ndarray, int]:
    out = json.loads(stdout)
    return np.array(out["a"]), np.array(out["d"]), int(out["iterations"])


def summary(runs: list[Run]) -> dict[str, float]:
    walls = [r.wall for r in runs]
    return {
        "best_wall": min(walls),
        "median_wall": statistics.median(walls),
        "best_cpu": min(r.cpu for r in runs),
        "peak_mb": max(r.peak_mb for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--help-runs", type=int, default=15)
    ap.add_argument("--skip-calibration", action="store_true")
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    dreamseed = str(bindir / "dreamseed")
    report: dict[str, object] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load": os.getloadavg(),
    }

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    if not args.skip_calibration:
        path, a_true, d_true = simulate_file(args.persons, args.items, args.seed)
        print(f"{args.persons} × {args.items} 2PL, {path.stat().st_size / 1e6:.1f} MB: {path}")
        commands = {
            "dreamseed irt calibrate": [dreamseed, "irt", "calibrate", "--input", str(path)],
            "numpy EM script": [sys.executable, str(BASELINE), str(path)],
        }
        runs: dict[str, list[Run]] = {name: [] for name in commands}
        for r in range(args.rounds):
            for name, argv in commands.items():
                runs[name].append(run_measured(argv))
                print(
                    f"  round {r + 1}: {name:<24} {runs[name][-1].wall:7.2f} s wall"
                    f" {runs[name][-1].cpu:7.2f} s CPU",
                    flush=True,
                )
        ca, cd, citer = cli_estimates(runs["dreamseed irt calibrate"][-1].stdout)
        sa, sd, siter = script_estimates(runs["numpy EM script"][-1].stdout)
        cli, script = summary(runs["dreamseed irt calibrate"]), summary(runs["numpy EM script"])
        print(
            f"\n  {'process':<26}{'best s':>9}{'median s':>10}{'CPU s':>8}{'peak MB':>9}"
            f"{'EM steps':>10}{'RMSE a':>9}{'RMSE d':>9}"
        )
        for name, s, a, d, it in [
            ("dreamseed irt calibrate", cli, ca, cd, citer),
            ("numpy EM script", script, sa, sd, siter),
        ]:
            print(
                f"  {name:<26}{s['best_wall']:>9.2f}{s['median_wall']:>10.2f}{s['best_cpu']:>8.2f}"
                f"{s['peak_mb']:>9.0f}{it:>10}{rmse(a, a_true):>9.4f}{rmse(d, d_true):>9.4f}"
            )
        ratio = cli["best_wall"] / script["best_wall"]
        median_ratio = cli["median_wall"] / script["median_wall"]
        print(
            f"  time ratio CLI / script: {ratio:.3f} best, {median_ratio:.3f} median"
            f" (CPU {cli['best_cpu'] / script['best_cpu']:.3f}); goal ≤ 0.5 at equal or better"
            f" RMSE(a); |a_CLI − a_script| max {np.abs(ca - sa).max():.4f}"
        )
        report["calibration"] = {
            "cli": cli | {"rmse_a": rmse(ca, a_true), "rmse_d": rmse(cd, d_true), "steps": citer},
            "script": script
            | {"rmse_a": rmse(sa, a_true), "rmse_d": rmse(sd, d_true), "steps": siter},
            "ratio_best": ratio,
            "ratio_median": median_ratio,
        }

    print(f"\n`dreamseed --help` vs `python -c pass`, {args.help_runs} interleaved runs:")
    helps: dict[str, list[Run]] = {"dreamseed --help": [], "python -c pass": []}
    help_argv = {
        "dreamseed --help": [dreamseed, "--help"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    for _ in range(args.help_runs):
        for name, argv in help_argv.items():
            helps[name].append(run_measured(argv))
    for name, rs in helps.items():
        s = summary(rs)
        print(
            f"  {name:<20} best {s['best_wall']:.3f} s, median {s['median_wall']:.3f} s,"
            f" CPU best {s['best_cpu']:.3f} s"
        )
        report[name] = s
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_speed.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
