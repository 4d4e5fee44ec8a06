"""National scale: 1,000,000 examinees × 500 items at 10 % observed (50 M responses) streamed
from a long Parquet file, and the 3PL and GRM against the 2PL at 100k × 200.

Run: ``uv run python -m bench.psychometrics.national`` (``make bench BENCH=national``).

1. Writes (once, cached under ``bench/results/``) a long Parquet file ``person, item, response``
   sorted by person (int32, int16, int8), simulated from a 2PL bank, chunk by chunk of persons.
2. Runs ``dreamseed irt calibrate --input FILE`` as its own process (the streamed path,
   chunks cached in memory as 4-byte CSR indices) and, as a second process, the same stream
   re-read from the file on every EM pass (``cache_bytes=0``: the memory floor).  For each:
   wall and CPU time (user + sys, ``wait4``), peak RSS (``ru_maxrss``), RMSE(a) against the
   generating values, and the machine load.
3. Computes (does not run) the memory the dense in-memory path would need for the same data:
   the wide file read as int8 codes, the missing mask, and ``prepare_responses``' CSR build.
4. Calibrates 100k × 200 complete data in process with the 2PL, 3PL (on 3PL data) and GRM
   (4 categories), interleaved rounds: each model's time against the 2PL time of its round.

The machine is shared: report ratios and the load beside every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.psychometrics.cli_speed import RESULTS, Run, rmse, run_measured

if TYPE_CHECKING:
    from psychometrics import CalibrationResult

STREAM_NO_CACHE = """
import json, sys
from lake.response_stream import open_parquet_responses
from psychometrics.stream import calibrate_stream
with open_parquet_responses(sys.argv[1]) as source:
    res = calibrate_stream(source, "2pl", cache_bytes=0)
print(json.dumps({"a": res.items.a.tolist(), "iterations": res.iterations}))
"""


def long_file(n: int, j: int, observed: float, seed: int) -> tuple[Path, np.ndarray]:
    """The sorted long Parquet file and the generating slopes (written once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"long-2pl-{n}x{j}-{observed:g}-seed{seed}.parquet"
    truth = path.with_suffix(".npz")
    if path.exists() and truth.exists():
        return path, np.load(truth)["a"]
    rng = np.random.default_rng(seed)
    a, d = rng.lognormal(0.0, 0.3, j), rng.normal(0.0, 1.0, j)
    schema = pa.schema([("person", pa.int32()), ("item", pa.int16()), ("response", pa.int8())])
    partial = path.with_suffix(".partial")
    with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
        step = 20_000
        for lo in range(0, n, step):
            m = min(step, n - lo)
            theta = rng.standard_normal(m)
            person, item = np.nonzero(rng.random((m, j)) < observed)
            p = 1.0 / (1.0 + np.exp(-(theta[person] * a[item] + d[item])))
            y = (rng.random(p.size) < p).astype(np.int8)
            writer.write_table(
                pa.table(
                    [
                        pa.array((person + lo).astype(np.int32)),
                        pa.array(item.astype(np.int16)),
                        pa.array(y),
                    ],
                    schema=schema,
                ),
                row_group_size=1 << 20,
            )
    partial.rename(path)
    np.savez(truth, a=a, d=d)
    return path, a


def dense_memory_bytes(n: int, j: int, responses: int) -> dict[str, int]:
    """What the dense in-memory path holds at its peak for the same data (computed).

    `read_wide` builds an item-major int8 matrix and its person-major copy; `prepare_responses`
    adds the missing mask, the int16 column matrix of `_csr_design`, the int64 positions of
    the observed cells and the CSR arrays (int32 indices, float32 ones).
    """
    cells = n * j
    parts = {
        "int8 codes (read, item-major)": cells,
        "int8 codes (person-major copy)": cells,
        "missing mask (bool)": cells,
        "column codes (int16)": 2 * cells,
        "observed positions (int64)": 8 * responses,
        "CSR indices + ones (int32 + float32)": 8 * responses,
    }
    parts["total"] = sum(parts.values())
    parts["float64 matrix alone (a float64 reader)"] = 8 * cells
    return parts


def model_times(n: int, j: int, rounds: int, seed: int) -> dict[str, dict[str, float]]:
    """2PL, 3PL and GRM at n × j, in process, interleaved; times and ratios to the 2PL."""
    from psychometrics import calibrate

    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n)
    a = rng.lognormal(0.0, 0.3, j)
    b = rng.normal(0.0, 1.0, j)
    logits = (theta[:, None] - b) * a
    two = (rng.random((n, j)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    c = 0.2
    three = (rng.random((n, j)) < c + (1 - c) / (1 + np.exp(-logits))).astype(np.int8)
    cuts = np.sort(rng.normal(0.0, 1.0, (j, 3)), axis=1)
    u = rng.random((n, j))
    grm = np.zeros((n, j), dtype=np.int8)
    for k in range(3):
        grm += (u < 1 / (1 + np.exp(-a * (theta[:, None] - cuts[:, k])))).astype(np.int8)
    runs: dict[str, list[float]] = {"2pl": [], "3pl": [], "grm": []}
    cpu: dict[str, list[float]] = {"2pl": [], "3pl": [], "grm": []}
    steps: dict[str, int] = {}
    fits: dict[str, Callable[[], CalibrationResult]] = {
        "2pl": lambda: calibrate(two, "2pl"),
        "3pl": lambda: calibrate(three, "3pl", guessing_prior=(5.0, 17.0)),
        "grm": lambda: calibrate(grm, "grm"),
    }
    for r in range(rounds):
        for name, fit in fits.items():
            t0, c0 = time.perf_counter(), time.process_time()
            res = fit()
            runs[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)  # this process, BLAS threads included
            steps[name] = res.iterations
            print(
                f"  round {r + 1}: {name} {runs[name][-1]:.2f} s wall {cpu[name][-1]:.2f} s CPU"
                f" ({res.iterations} EM steps, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    base, base_cpu = statistics.median(runs["2pl"]), statistics.median(cpu["2pl"])
    return {
        name: {
            "median_s": statistics.median(ts),
            "best_s": min(ts),
            "median_cpu_s": statistics.median(cpu[name]),
            "ratio_to_2pl": statistics.median(ts) / base,
            "cpu_ratio_to_2pl": statistics.median(cpu[name]) / base_cpu,
            "em_steps": steps[name],
        }
        for name, ts in runs.items()
    }


def _streamed(name: str, argv: list[str], a_true: np.ndarray) -> dict[str, float]:
    load = os.getloadavg()[0]
    run: Run = run_measured(argv)
    out = json.loads(run.stdout)
    a = np.array([row["a"] for row in out["items"]] if "items" in out else out["a"])
    figures = {
        "wall_s": run.wall,
        "cpu_s": run.cpu,
        "peak_rss_mb": run.peak_mb,
        "rmse_a": rmse(a, a_true),
        "em_steps": float(out["iterations"]),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }
    print(
        f"  {name:<34} {run.wall:7.1f} s wall {run.cpu:7.1f} s CPU {run.peak_mb:7.0f} MB peak"
        f"  RMSE(a) {figures['rmse_a']:.4f}  load {load:.1f}→{figures['load_after']:.1f}",
        flush=True,
    )
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--observed", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--rounds", type=int, default=2, help="of the 3PL/GRM comparison")
    ap.add_argument("--skip-models", action="store_true")
    ap.add_argument("--skip-stream", action="store_true")
    args = ap.parse_args()
    report: dict[str, object] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cores": os.cpu_count(),
    }
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    if not args.skip_stream:
        t0 = time.perf_counter()
        path, a_true = long_file(args.persons, args.items, args.observed, args.seed)
        import pyarrow.parquet as pq

        responses = pq.ParquetFile(path).metadata.num_rows
        print(
            f"{args.persons:,} × {args.items} at {args.observed:.0%}: {responses:,} responses,"
            f" {path.stat().st_size / 1e6:.0f} MB ({time.perf_counter() - t0:.0f} s to get)",
            flush=True,
        )
        dreamseed = str(Path(sys.executable).parent / "dreamseed")
        report["responses"] = responses
        report["cli_streamed"] = _streamed(
            "dreamseed irt calibrate (cached)",
            [dreamseed, "irt", "calibrate", "--input", str(path)],
            a_true,
        )
        report["stream_no_cache"] = _streamed(
            "stream re-read every pass",
            [sys.executable, "-c", STREAM_NO_CACHE, str(path)],
            a_true,
        )
        dense = dense_memory_bytes(args.persons, args.items, responses)
        report["dense_memory_bytes"] = dense
        print("  dense in-memory path (computed, not run):")
        for part, size in dense.items():
            print(f"    {part:<42} {size / 2**30:6.2f} GiB")
    if not args.skip_models:
        print("\n100k × 200 complete, in process: 3PL and GRM against the 2PL", flush=True)
        report["models"] = models = model_times(100_000, 200, args.rounds, args.seed)
        for name, m in models.items():
            print(
                f"  {name}: median {m['median_s']:.2f} s wall ({m['ratio_to_2pl']:.2f}× the 2PL),"
                f" {m['median_cpu_s']:.2f} s CPU ({m['cpu_ratio_to_2pl']:.2f}×),"
                f" {m['em_steps']} EM steps"
            )
    report["load_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "national.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
