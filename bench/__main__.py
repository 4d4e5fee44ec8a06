"""`python -m bench [NAME …]`: list the benchmarks, or run the ones named (all with `all`).

Every benchmark measures DreamSeed against a named baseline in the same run and prints ratios,
because the machines are shared and noisy: compare ratios, not seconds, across runs.
"""

from __future__ import annotations

import runpy
import sys

BENCHMARKS: dict[str, tuple[str, str]] = {
    "calibration": ("bench.psychometrics.calibration", "IRT calibration vs girth and mirt"),
    "cli-speed": (
        "bench.psychometrics.cli_speed",
        "`dreamseed irt calibrate` process vs a numpy EM script process; `--help` vs `python`",
    ),
    "national": (
        "bench.psychometrics.national",
        "50 M responses streamed from Parquet (peak memory); 3PL and GRM vs 2PL at 100k × 200",
    ),
    "cat": ("bench.psychometrics.cat", "CAT simulation vs catsim"),
    "online-step": (
        "bench.psychometrics.online_step",
        "one online CAT step (cold/warm state) vs catsim; vs an older revision with bench.revision",
    ),
    "dif": ("bench.psychometrics.dif", "DIF Monte Carlo: MH and LR type-I error and power"),
    "assembly": (
        "bench.psychometrics.assembly",
        "40-item form from 1,000 items (blueprint, enemies, exposure, target) vs its LP relaxation",
    ),
    "policy": ("bench.governance.policy_latency", "one policy decision, in-process regorus"),
    "enforcement": (
        "bench.governance.enforcement_overhead",
        "API request with vs without policy enforcement",
    ),
    "exams": (
        "bench.exams.answer_latency",
        "300 concurrent examinees: adaptive vs fixed-form answer path",
    ),
    "lake": (
        "bench.lake.lakehouse",
        "ingest vs row-at-a-time; DuckDB-over-Iceberg vs PostgreSQL query",
    ),
    "login": (
        "bench.auth.login_storm",
        "/health p99 during a password-guessing burst vs idle; known vs unknown e-mail sign-in",
    ),
    "courses": (
        "bench.learning.media_assignments",
        "presigned-URL issue and a student's 200-assignment list vs the exam answer path",
    ),
    "lrs": (
        "bench.lrs.statements",
        "LRS statement POST throughput (single, batches of 50); filtered GET p99 vs plain SQL",
    ),
    "tutor": (
        "bench.tutor.tutor_bench",
        "tutor: added time to first token vs the model's own, retrieval over 100k passages,"
        " fallback with the breaker open, 200 concurrent sessions, recall@5",
    ),
    "analytics-cache": (
        "bench.realtime.analytics",
        "analytics API (class / my progress) cached in Redis vs the same query uncached",
    ),
    "lake-copy": (
        "bench.lake.copy",
        "lake -> PostgreSQL copy for dbt: incremental (files appended since) vs full reload",
    ),
    "privacy-erasure": (
        "bench.privacy.erasure",
        "erase one student in a lake of N responses: targeted rewrite vs full-table rewrite",
    ),
    "realtime": (
        "bench.realtime.delivery",
        "event -> SSE delivery p50/p99 with 1,000 connected clients vs a raw Redis XADD->XREAD;"
        " consumer events/s vs a bare XREADGROUP+XACK loop",
    ),
    "dashboards": (
        "bench.dashboards.pages",
        "every dashboard page at 1 M responses: first render and filter change vs the OLTP query",
    ),
    "demo-sample-size": (
        "bench.calibration.demo_sample_size",
        "calibration RMSE by simulated students per class",
    ),
}


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m bench NAME [NAME …] | all\n")
        for name, (module, what) in BENCHMARKS.items():
            print(f"  {name:<18} {what}  ({module})")
        return 0
    names = list(BENCHMARKS) if argv == ["all"] else argv
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in names:
        module = BENCHMARKS[name][0]
        print(f"\n=== {name}: {module} ===", flush=True)
        sys.argv = [module]
        runpy.run_module(module, run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
