"""Presigned-URL issue latency and a student's assignment list, against the exam answer path.

    uv run python -m bench courses      # or: uv run python bench/learning/media_assignments.py

The API runs as its own process (`dreamseed serve`, uvicorn, real sockets) on a scratch
PostgreSQL database (created and dropped here), the real Redis and the S3 server; this process
sends one request at a time (keep-alive `http.client`) and times it. Phases, `--n` requests each, interleaved round-robin so
that noise from the shared machine hits every phase alike:

- baseline: a fixed-form answer (`POST /api/v1/attempts/{id}/responses`, the exam answer path);
- download URL: `GET /api/v1/media/{id}` (policy on the holding lesson + a presigned GET);
- upload URL: `POST /api/v1/media/uploads` (policy, limits, a pending row + outbox event, a
  presigned PUT);
- todo: `GET /api/v1/assignments/todo` for a student with `--assignments` (200) assignments.
Goal: presigned-URL issue p99 ≤ 10 ms. No timed asserts: it prints the figures and ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.auth.login_storm import api_server, pct, scratch_database
from core.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, f"{reply.request.url}: {reply.text}"
    return reply.json()


def _account(api: httpx.Client, role: str) -> dict[str, str]:
    email, password = f"{role}-{secrets.token_hex(4)}@bench.test", "bench-" + secrets.token_hex(6)
    body = {"email": email, "password": password, "display_name": role, "role": role}
    _ok(api.post("/api/v1/auth/register", json=body), 201)
    token = _ok(api.post("/api/v1/auth/login", json={"email": email, "password": password}))
    return {"Authorization": f"Bearer {token['access_token']}"}


class Lean:
    """A keep-alive http.client connection: the timed requests go through it, because httpx's
    own per-request cost (≈ 10 ms on this shared machine) would blur the server's."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def __call__(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Callable[[], int]:
        payload = json.dumps(body).encode() if body is not None else None
        sent = {**headers, "Content-Type": "application/json"} if payload else headers

        def call() -> int:
            self.conn.request(method, path, body=payload, headers=sent)
            reply = self.conn.getresponse()
            reply.read()
            return reply.status

        return call


def setup(api: httpx.Client, lean: Lean, n: int, assignments: int) -> dict[str, Callable[[], int]]:
    t, s = _account(api, "teacher"), _account(api, "student")
    klass = _ok(api.post("/api/v1/classes", json={"name": "bench"}, headers=t), 201)
    _ok(api.post("/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=s))
    class_id = klass["class_id"]
    # Baseline: a fixed-form exam with an item per timed answer (plus warm-up).
    rows = [{"stem": f"q{i}", "options": ["a", "b"], "answer_key": 0} for i in range(n + 20)]
    items = _ok(api.post("/api/v1/items/import", json={"items": rows}, headers=t), 201)["item_ids"]
    exam = _ok(
        api.post(
            "/api/v1/exams",
            json={"title": "bench", "item_ids": items, "class_id": class_id},
            headers=t,
        ),
        201,
    )
    attempt = _ok(api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=s), 201)
    pending = iter(items)

    def answer() -> int:
        path = f"/api/v1/attempts/{attempt['attempt_id']}/responses"
        return lean("POST", path, s, {"item_id": next(pending), "choice": 0})()

    # A published lesson of a course assigned to the class, holding one image.
    course = _ok(api.post("/api/v1/courses", json={"title": "bench"}, headers=t), 201)
    cid = course["course_id"]
    _ok(api.post(f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=t))
    unit = _ok(api.post(f"/api/v1/courses/{cid}/units", json={"title": "u"}, headers=t), 201)
    lesson = _ok(
        api.post(f"/api/v1/units/{unit['unit_id']}/lessons", json={"title": "l"}, headers=t), 201
    )
    declared = {
        "holder_type": "lesson",
        "holder_id": lesson["lesson_id"],
        "filename": "b.png",
        "content_type": "image/png",
        "size_bytes": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }
    ticket = _ok(api.post("/api/v1/media/uploads", json=declared, headers=t), 201)
    httpx.put(ticket["upload_url"], content=PNG, headers=ticket["headers"]).raise_for_status()
    _ok(api.post(f"/api/v1/media/{ticket['media_id']}/finalise", headers=t))
    lesson_path = f"/api/v1/lessons/{lesson['lesson_id']}"
    _ok(api.patch(lesson_path, json={"attachments": [ticket["media_id"]]}, headers=t))
    _ok(api.post(f"{lesson_path}/publish", headers=t))
    # The student's 200 assignments (tasks), a third of them already handed in.
    now = datetime.now(UTC)
    for i in range(assignments):
        a = _ok(
            api.post(
                "/api/v1/assignments",
                json={
                    "class_id": class_id,
                    "kind": "task",
                    "title": f"task {i}",
                    "accepts_text": True,
                    "open_at": (now - timedelta(days=1)).isoformat(),
                    "due_at": (now + timedelta(days=1 + i % 30)).isoformat(),
                },
                headers=t,
            ),
            201,
        )
        if i % 3 == 0:
            _ok(
                api.post(
                    f"/api/v1/assignments/{a['assignment_id']}/submissions",
                    json={"body": "done"},
                    headers=s,
                ),
                201,
            )
    return {
        "exam answer (baseline)": answer,
        "download URL (GET /media/{id})": lean("GET", f"/api/v1/media/{ticket['media_id']}", s),
        "upload URL (POST /media/uploads)": lean("POST", "/api/v1/media/uploads", t, declared),
        f"todo, {assignments} assignments": lean("GET", "/api/v1/assignments/todo", s),
    }


def timed(call: Callable[[], int]) -> float:
    start = time.perf_counter()
    status = call()
    elapsed = (time.perf_counter() - start) * 1000
    assert status in (200, 201), status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="timed requests per phase")
    parser.add_argument("--assignments", type=int, default=200)
    args = parser.parse_args()
    base = Settings.load()
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(base) as settings,
        api_server(settings, Path(tmp) / "api.log", services=()) as url,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        phases = setup(api, Lean(url), args.n, args.assignments)
        for call in phases.values():  # warm every path (connections, caches, first plans)
            for _ in range(10):
                timed(call)
        samples: dict[str, list[float]] = {name: [] for name in phases}
        for _ in range(args.n):
            for name, call in phases.items():
                samples[name].append(timed(call))
    baseline = samples["exam answer (baseline)"]
    print(f"\nms per request (n={args.n} each, sequential, interleaved; real sockets)")
    print(f"  {'':<34}{'p50':>8}{'p99':>8}{'p99 / baseline p99':>20}")
    for name, values in samples.items():
        print(
            f"  {name:<34}{pct(values, 0.5):>8.2f}{pct(values, 0.99):>8.2f}"
            f"{pct(values, 0.99) / pct(baseline, 0.99):>20.2f}"
        )
    print("  goal: presigned-URL issue p99 ≤ 10 ms")


if __name__ == "__main__":
    main()
