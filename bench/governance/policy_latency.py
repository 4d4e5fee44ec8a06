"""Per-decision latency of the in-process policy engine (regorus), p50/p99.

    uv run python bench/governance/policy_latency.py [--n 20000]

Reports, per entrypoint, the latency of the full call through the engine's one async API, as the
API awaits it (input building, evaluation, Decision construction), and of the raw evaluation
alone (``engine.query``). The goal is
p50 <= 200 us per decision. No timed asserts: this prints numbers to compare across changes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from governance import AUTHZ, LocalEngine, Resource, Subject, authz_input

STUDENT = Subject("s1", "student", ("c1", "c2"))
TEACHER = Subject("t1", "teacher", ("c1",))
ANALYST = Subject("a1", "analyst")
NOW = "2024-04-29T10:00:00Z"


async def measure(fn: Callable[[], Awaitable[Any]], n: int) -> tuple[float, float, float]:
    for _ in range(min(1000, n)):
        await fn()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        await fn()
        samples.append(clock() - start)
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    return p50, p99, statistics.fmean(samples) / 1000


async def run(n: int) -> None:
    engine = LocalEngine()
    own = Resource("attempt", "a1", "s1", "c1")
    other = Resource("attempt", "a1", "s9", "c1")
    raw_input = authz_input(STUDENT, "exams.attempt.read", own, now=NOW)
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("authz route-level (allow)", lambda: engine.authorize(STUDENT, "users.me.read", now=NOW)),
        ("authz route-level (deny)", lambda: engine.authorize(STUDENT, "content.item.create")),
        (
            "authz resource own (allow)",
            lambda: engine.authorize(STUDENT, "exams.attempt.read", own, now=NOW),
        ),
        (
            "authz resource other (deny)",
            lambda: engine.authorize(STUDENT, "exams.attempt.read", other, now=NOW),
        ),
        (
            "authz teacher class (allow)",
            lambda: engine.authorize(TEACHER, "exams.attempt.read", other, now=NOW),
        ),
        ("authz raw query only", lambda: engine.query(AUTHZ, raw_input)),
        ("tutor reveal", lambda: engine.may_reveal(STUDENT, "i1", ["i0", "i1"], now=NOW)),
        (
            "sql masking (6 cols)",
            lambda: engine.sql_masking(
                ANALYST,
                "users.accounts",
                ["user_id", "email", "display_name", "role", "password_hash", "created_at"],
            ),
        ),
        ("sql rows", lambda: engine.sql_rows(TEACHER, "analytics.attempts_per_day")),
        ("dashboard access", lambda: engine.dashboard_access(TEACHER, "attempts_per_day")),
    ]
    print(f"policy revision {engine.revision}, n={n} per case")
    print(f"{'case':32} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}")
    for name, fn in cases:
        p50, p99, mean = await measure(fn, n)
        print(f"{name:32} {p50:9.1f} {p99:9.1f} {mean:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    asyncio.run(run(parser.parse_args().n))


if __name__ == "__main__":
    main()
