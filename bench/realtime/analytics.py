"""The analytics API cached (Redis, invalidated by event) against the same query uncached.

    uv run python -m bench analytics-cache   # or: uv run python bench/realtime/analytics.py

Two API processes (`dreamseed serve users classes analytics`, uvicorn, real sockets) on one scratch
PostgreSQL database and the real Redis: one as configured (`DREAMSEED_ANALYTICS_CACHE` true), one
with the cache off (every request runs the live queries). The live figures of one class of
`--students` students with `--skills` skills each and `--thetas` scored attempts each are written
straight into the `live` tables (what the analytics consumer would have made; this measures
reads). This process sends one request at a time (keep-alive `http.client`) and times it; the
phases are interleaved round-robin so noise from the shared machine hits each alike:

- class progress, cached / uncached: `GET /api/v1/analytics/classes/{id}/progress` (teacher);
- my progress, cached / uncached: `GET /api/v1/analytics/me/progress` (a student of the class).

Every `--bump-every` rounds the class's and the student's cache versions are bumped (as the
consumer does on an event), so the cached phases include the misses that follow invalidation.
No timed asserts: it prints p50/p99 and the cached/uncached p99 ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from bench.auth.login_storm import api_server, pct, scratch_database
from bench.learning.media_assignments import Lean, _account, _ok, timed
from core.settings import Settings


def seed_live(
    settings: Settings, class_id: str, me: str, students: int, skills: int, thetas: int
) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    ids = [me, *(str(uuid.uuid4()) for _ in range(students - 1))]
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cur:
        with cur.copy(
            "copy live.skill_mastery (student_id, class_id, skill, response_count, correct_count,"
            " first_answered_at, last_answered_at) from stdin"
        ) as copy:
            for sid in ids:
                for k in range(skills):
                    n = rng.randint(1, 40)
                    copy.write_row((sid, class_id, f"skill-{k}", n, rng.randint(0, n), now, now))
        theta_sum = 0.0
        with cur.copy(
            "copy live.theta_history (attempt_id, student_id, exam_id, class_id, theta, se,"
            " scored_at) from stdin"
        ) as copy:
            exam = str(uuid.uuid4())
            for sid in ids:
                for t in range(thetas):
                    theta = rng.gauss(0, 1)
                    at = now - timedelta(days=thetas - t)
                    copy.write_row((str(uuid.uuid4()), sid, exam, class_id, theta, 0.3, at))
                theta_sum += theta
        with cur.copy(
            "copy live.class_students (class_id, student_id, attempts_completed, scored_attempts,"
            " score_pct_sum, works_returned, latest_theta, latest_se, latest_theta_at) from stdin"
        ) as copy:
            for sid in ids:
                copy.write_row((class_id, sid, thetas, thetas, thetas * 0.6, 3, 0.1, 0.3, now))
        cur.execute(
            "insert into live.class_summaries (class_id, active_students, attempts_completed,"
            " scored_attempts, score_pct_sum, theta_students, theta_sum, works_returned,"
            " points_sum, last_event_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                class_id, students, students * thetas, students * thetas,
                students * thetas * 0.6, students, theta_sum, 3 * students, 27.0 * students, now,
            ),
        )  # fmt: skip


def bump(settings: Settings, class_id: str, me: str) -> None:
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into live.cache_versions as v (scope, id) values ('class', %s), ('student', %s)"
            " on conflict (scope, id) do update set version = v.version + 1",
            (class_id, me),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="timed requests per phase")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--skills", type=int, default=20)
    parser.add_argument("--thetas", type=int, default=30)
    parser.add_argument("--bump-every", type=int, default=50)
    args = parser.parse_args()
    base = Settings.load()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(base) as settings,
        api_server(
            settings, Path(tmp) / "cached.log", ("users", "classes", "analytics")
        ) as cached_url,
    ):
        os.environ["DREAMSEED_ANALYTICS_CACHE"] = "false"
        try:
            uncached = api_server(
                settings, Path(tmp) / "uncached.log", ("users", "classes", "analytics")
            )
            uncached_url = uncached.__enter__()
        finally:
            del os.environ["DREAMSEED_ANALYTICS_CACHE"]
        try:
            with httpx.Client(base_url=cached_url, timeout=60) as api:
                teacher, student = _account(api, "teacher"), _account(api, "student")
                klass = _ok(api.post("/api/v1/classes", json={"name": "b"}, headers=teacher), 201)
                code = {"join_code": klass["join_code"]}
                _ok(api.post("/api/v1/classes/join", json=code, headers=student))
                me = _ok(api.get("/api/v1/users/me", headers=student))["user_id"]
            class_id = klass["class_id"]
            seed_live(settings, class_id, me, args.students, args.skills, args.thetas)
            a, b = Lean(cached_url), Lean(uncached_url)
            path = f"/api/v1/analytics/classes/{class_id}/progress"
            phases = {
                "class progress, cached": a("GET", path, teacher),
                "class progress, uncached": b("GET", path, teacher),
                "my progress, cached": a("GET", "/api/v1/analytics/me/progress", student),
                "my progress, uncached": b("GET", "/api/v1/analytics/me/progress", student),
            }
            for call in phases.values():
                for _ in range(10):
                    timed(call)
            samples: dict[str, list[float]] = {name: [] for name in phases}
            started = time.perf_counter()
            for r in range(args.n):
                if r and r % args.bump_every == 0:
                    bump(settings, class_id, me)  # as an event would: the next read misses
                for name, call in phases.items():
                    samples[name].append(timed(call))
            wall = time.perf_counter() - started
        finally:
            uncached.__exit__(None, None, None)
    print(
        f"\nms per request (n={args.n} each, sequential, interleaved, real sockets; a class of"
        f" {args.students} students x {args.skills} skills, {args.thetas} thetas each;"
        f" versions bumped every {args.bump_every} rounds; {wall:.1f} s)"
    )
    print(f"  {'':<28}{'p50':>8}{'p99':>8}")
    for name, values in samples.items():
        print(f"  {name:<28}{pct(values, 0.5):>8.2f}{pct(values, 0.99):>8.2f}")
    for what in ("class progress", "my progress"):
        ratio = pct(samples[f"{what}, cached"], 0.99) / pct(samples[f"{what}, uncached"], 0.99)
        print(f"  {what}: cached p99 / uncached p99 = {ratio:.2f}")


if __name__ == "__main__":
    main()
