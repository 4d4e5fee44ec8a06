"""Crash test of the real-time path: the notifications and analytics consumers run as real
`dreamseed consume` processes and are killed with SIGKILL ten times each (and restarted) while
events keep arriving. Afterwards every event made exactly one notification and one live-analytics
update — none twice, none missing — and a poison event sits in each consumer's dead-letter stream
without having held the rest back."""

from __future__ import annotations

import math
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from apis.app import create_app
from core.settings import Settings
from tests.support.school import account, class_with, ok
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration
DREAMSEED = Path(sys.executable).with_name("dreamseed")
CONSUMERS = ("notifications", "analytics")
EVENTS = 400  # at least; the producer goes on until the last kill is done
KILLS = 10
WAIT = 180.0  # a bound only a broken path reaches (no timing claim)


def school(settings: Settings, students: int) -> tuple[str, str, list[str]]:
    """A teacher's class with `students` members and one assignment, made over the API (its own
    relay off: the events below are the only ones on the test's streams)."""
    with (
        serve_in_thread(create_app(settings, relay=False)) as url,
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        teacher = account(api, "teacher")
        members = [account(api, "student") for _ in range(students)]
        klass = class_with(api, teacher.headers, *(m.headers for m in members), name="crash")
        now = datetime.now(UTC)
        body = {
            "class_id": klass["class_id"],
            "kind": "task",
            "title": "Crash course",
            "accepts_text": True,
            "open_at": (now - timedelta(hours=1)).isoformat(),
            "due_at": (now + timedelta(days=2)).isoformat(),
            "late_policy": "accept",
            "points": 10,
        }
        made = ok(api.post("/api/v1/assignments", json=body, headers=teacher.headers), 201)
    return str(made["assignment_id"]), str(klass["class_id"]), [m.user_id for m in members]


def entry(event_type: str, payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A stream entry as the outbox relay writes it (core.relay)."""
    event_id = str(uuid.uuid4())
    return event_id, {
        "event_id": event_id,
        "event_type": event_type,
        "aggregate_id": str(payload.get("assignment_id", "")),
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": msgspec.json.encode(payload).decode(),
    }


class Members:
    """One `dreamseed consume NAME` process per consumer, restartable."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills = Counter[str]()

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [str(DREAMSEED), "consume", name], env=self.env, stdout=log, stderr=log
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        log = (self.logs / f"{name}.log").read_text()
        assert proc.poll() is None, f"{name} died on its own: {log}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills[name] += 1

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_sigkilled_consumers_make_every_effect_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    prefix = f"test:{secrets.token_hex(4)}:events."
    s = replace(
        settings,
        realtime=replace(settings.realtime, stream_prefix=prefix),
        rate_limit_per_user=1_000_000,
        rate_limit_per_ip=1_000_000,
    )
    assignment_id, class_id, students = school(s, students=8)
    env = {
        **os.environ,
        "DREAMSEED_DATABASE_URL": s.database_url,
        "DREAMSEED_REDIS_URL": s.redis_url,
        "DREAMSEED_REALTIME_STREAM_PREFIX": prefix,
        "DREAMSEED_REALTIME_CLAIM_IDLE_MS": "300",
        "DREAMSEED_REALTIME_MAX_DELIVERIES": "2",
        "DREAMSEED_REALTIME_BATCH_SIZE": "20",
        "DREAMSEED_REALTIME_BLOCK_MS": "100",
        "DREAMSEED_REALTIME_METRICS_PORT": "0",
    }
    client = redis.Redis.from_url(s.redis_url, decode_responses=True)
    stream = prefix + "assignments"
    for name in CONSUMERS:  # the groups exist before the first event (as `consume` makes them)
        client.xgroup_create(stream, name, id="$", mkstream=True)
    members = Members(env, tmp_path)
    for name in CONSUMERS:
        members.start(name)

    rng = random.Random(17)
    sent: dict[str, tuple[str, float]] = {}  # event id -> (student, points)
    poison_at = EVENTS // 3
    poison: list[str] = []
    produced, killed = threading.Event(), threading.Event()

    def produce() -> None:
        n = 0
        while n < EVENTS or not killed.is_set():
            if n == poison_at:  # no student: both consumers' handlers fail on it
                event_id, fields = entry(
                    "assignments.work.returned.v1",
                    {"assignment_id": assignment_id, "class_id": class_id, "kind": "task"},
                )
                client.xadd(stream, fields)
                poison.append(event_id)
            student, points = students[n % len(students)], float(n % 7)
            payload = {
                "assignment_id": assignment_id,
                "student_id": student,
                "class_id": class_id,
                "kind": "task",
                "state": "returned",
                "version": 1,
                "is_late": False,
                "flagged": False,
                "points_awarded": points,
                "changed_at": datetime.now(UTC).isoformat(),
            }
            event_id, fields = entry("assignments.work.returned.v1", payload)
            client.xadd(stream, fields)
            sent[event_id] = (student, points)
            if n % 5 == 0:  # the relay republished it (a crash before its cursor moved)
                client.xadd(stream, fields)
            n += 1
            time.sleep(0.02)
        produced.set()

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        for _ in range(KILLS):
            for name in CONSUMERS:
                time.sleep(rng.uniform(0.2, 0.8))
                assert not produced.is_set()  # events keep arriving through every kill
                members.kill(name)
                members.start(name)
        killed.set()
        producer.join()
        assert produced.is_set()
        assert members.kills == {name: KILLS for name in CONSUMERS}

        deadline = time.monotonic() + WAIT
        while True:
            done = {name: _processed(s, name, list(sent)) for name in CONSUMERS}
            if all(n == len(sent) for n in done.values()) and all(
                client.xlen(f"{prefix}deadletter.{name}") >= 1 for name in CONSUMERS
            ):
                break
            assert time.monotonic() < deadline, f"processed {done} of {len(sent)}"
            time.sleep(0.5)
    finally:
        killed.set()
        members.stop_all()
        producer.join()

    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        notes = conn.execute(
            "select user_id::text, source_event_id::text from notifications.notifications"
            " where kind = 'submission_returned' and user_id = any(%s::uuid[])",
            (students,),  # this school's: the session's database holds other tests' notes too
        ).fetchall()
        per_student = conn.execute(
            "select student_id::text, works_returned from live.class_students where class_id = %s",
            (class_id,),
        ).fetchall()
        summary = conn.execute(
            "select works_returned, points_sum from live.class_summaries where class_id = %s",
            (class_id,),
        ).fetchone()
    # One notification per event, to the right student: none twice, none missing.
    by_event = Counter(n["source_event_id"] for n in notes)
    assert set(by_event) == set(sent) and max(by_event.values()) == 1
    assert all(n["user_id"] == sent[n["source_event_id"]][0] for n in notes)
    # One live-analytics update per event.
    expected = Counter(student for student, _ in sent.values())
    assert {r["student_id"]: r["works_returned"] for r in per_student} == dict(expected)
    assert summary is not None and summary["works_returned"] == len(sent) >= EVENTS
    assert math.isclose(summary["points_sum"], sum(p for _, p in sent.values()), abs_tol=1e-9)
    # The poison event: parked once per consumer, with its error; nothing else parked.
    for name in CONSUMERS:
        parked = client.xrange(f"{prefix}deadletter.{name}")
        assert [e[1]["event_id"] for e in parked] == poison
        assert "student_id" in parked[0][1]["error"]
        pending = client.xpending(stream, name)
        assert pending["pending"] == 0
    client.delete(stream, *(f"{prefix}deadletter.{n}" for n in CONSUMERS))
    client.close()


def _processed(settings: Settings, consumer: str, event_ids: list[str]) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select count(*) from realtime.processed where consumer = %s"
            " and event_id = any(%s::uuid[])",
            (consumer, event_ids),
        ).fetchone()
    return int(row[0]) if row else 0
