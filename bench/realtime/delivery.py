"""Real-time path (issue 17): event -> SSE delivery latency with many connected clients, and
consumer throughput per process, each against a named baseline measured in the same run.

1. **Delivery latency.** `--clients` students (default 1,000) hold open
   `GET /api/v1/notifications/stream` connections to a real API process (`dreamseed serve`, outbox
   relay in process) while a real consumer process (`dreamseed consume notifications`) runs. A
   teacher posts an assignment to one class of `--class-size` students at a time, cycling through
   the classes; a sample is the time from just before the POST is sent (so the API's own write is
   included) to the moment the student's stream delivers the `notification` event: API write ->
   outbox -> relay -> Redis Stream -> consumer (notification rows in one transaction) -> pub/sub
   wake-up -> the stream's query -> the client. Baseline: a raw Redis XADD -> blocked XREAD round
   trip (one writer, one reader), measured between the posts while the same clients are connected.
2. **Consumer throughput.** For each run, `--events` entries of one event type are put on a
   stream and one `core.consumers.Consumer` (in this process: XREADGROUP, the `realtime.processed`
   insert and the batch handler in one PostgreSQL transaction, XACK) drains them, in batches of
   `--batch-size` (200, as deployed). Notifications consumer: a type no rule handles (bookkeeping
   only); `assignments.work.returned.v1` and `exams.attempt.completed.v1`, each making one
   notification with its outbox event and mail-queue row; `assignments.assignment.created.v1` for
   a class of `--class-size` (`--posted-events` of them: each makes a note per student). Analytics
   consumer: responses (two skills each), completed attempts, returned works. Baseline, per run:
   a bare XREADGROUP + XACK loop over the same entries (another group), no PostgreSQL.

`python -m bench.realtime.delivery --clients 1000 --events 20000`
(`--skip-latency --only notifications analytics` for the throughput runs alone). Prints figures
and ratios and the load average (the machines are shared: compare ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
from redis.asyncio import Redis

from bench.auth.login_storm import UNLIMITED, free_port, pct, scratch_database
from core.auth import issue_token
from core.settings import Settings


def ms(samples: list[float]) -> str:
    return f"p50 {pct(samples, 0.5):8.2f} ms  p99 {pct(samples, 0.99):8.2f} ms  (n={len(samples)})"


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # open streams hold a graceful shutdown back
            proc.kill()
            proc.wait(timeout=15)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer; see {log}")
        time.sleep(0.2)


def school(settings: Settings, clients: int, class_size: int) -> tuple[str, list[str], list[str]]:
    """A teacher, `clients` students in classes of `class_size` (SQL: the bench measures the
    real-time path, not sign-up)."""
    teacher = str(uuid.uuid4())
    students = [str(uuid.uuid4()) for _ in range(clients)]
    classes = [str(uuid.uuid4()) for _ in range(0, clients, class_size)]
    with psycopg.connect(settings.database_url) as conn, conn.cursor() as cur:
        accounts = [(teacher, "teacher")] + [(s, "student") for s in students]
        cur.executemany(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Bench', %s, 'x')",
            [(u, f"{u}@bench.test", role) for u, role in accounts],
        )
        cur.executemany(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Bench', %s, %s)",
            [(c, teacher, secrets.token_hex(5)) for c in classes],
        )
        cur.executemany(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            [(classes[i // class_size], s) for i, s in enumerate(students)],
        )
    return teacher, students, classes


def token(settings: Settings, user_id: str, role: str) -> str:
    return issue_token(settings.jwt_secret, user_id, role, "access", timedelta(hours=2))[0]


class SseClient:
    """A minimal SSE client on a raw connection (1,000 of them in one process): records when each
    `notification` event arrives, by its assignment link."""

    def __init__(self, host: str, port: int, bearer: str) -> None:
        self.host, self.port, self.bearer = host, port, bearer
        self.arrivals: dict[str, float] = {}
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        writer.write(
            (
                f"GET /api/v1/notifications/stream HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.bearer}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b":"):
                    self.connected.set()
                elif line.startswith(b"data: {"):
                    at = time.perf_counter()
                    try:
                        link = json.loads(line[6:]).get("link") or ""
                    except ValueError:  # a line split across chunks: counted as never arrived
                        continue
                    self.arrivals[link.rsplit("/", 1)[-1]] = at
        finally:
            writer.close()


async def redis_round_trips(redis: Redis, url: str, stream: str, n: int) -> list[float]:
    """Baseline: XADD by one client, a blocked XREAD (after the last id it saw) of another
    receives it."""
    reader = Redis.from_url(url, decode_responses=True)
    samples = []
    last = str(await redis.xadd(stream, {"t": "seed"}))
    try:
        for _ in range(n):
            read: Any = reader.xread({stream: last}, count=1, block=5000)
            waiting: asyncio.Task[Any] = asyncio.ensure_future(read)
            await asyncio.sleep(0.002)  # most often the reader is blocked before the write
            start = time.perf_counter()
            await redis.xadd(stream, {"t": "x"})
            reply = await waiting
            samples.append((time.perf_counter() - start) * 1000)
            last = reply[0][1][0][0]
    finally:
        await reader.aclose()
    return samples


async def latency(settings: Settings, args: argparse.Namespace, logs: Path) -> None:
    prefix = f"bench:{secrets.token_hex(4)}:events."
    env = {
        **os.environ,
        "DREAMSEED_DATABASE_URL": settings.database_url,
        "DREAMSEED_RATE_LIMIT_PER_IP": UNLIMITED,
        "DREAMSEED_RATE_LIMIT_PER_USER": UNLIMITED,
        "DREAMSEED_REALTIME_STREAM_PREFIX": prefix,
        "DREAMSEED_REALTIME_SSE_MAX_SECONDS": "3600",
        "DREAMSEED_REALTIME_BLOCK_MS": "1000",
        "DREAMSEED_REALTIME_SWEEP_SECONDS": "3600",
    }
    teacher, students, classes = school(settings, args.clients, args.class_size)
    port = free_port()
    api_log, consumer_log = logs / "api.log", logs / "consumer.log"
    serve = [sys.executable, "-m", "cli", "serve", "--port", str(port)]
    consume = [sys.executable, "-m", "cli", "consume", "notifications", "--member", "bench"]
    with process(serve, env, api_log) as api, process(consume, env, consumer_log):
        wait_http(f"http://127.0.0.1:{port}/health", api, api_log)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        deadline = time.monotonic() + 60
        while not await redis.exists(prefix + "assignments"):  # the consumer made its groups
            assert time.monotonic() < deadline, f"the consumer did not start; see {consumer_log}"
            await asyncio.sleep(0.2)
        sse = [SseClient("127.0.0.1", port, token(settings, s, "student")) for s in students]
        for i in range(0, len(sse), 100):  # open them in waves, as tabs would
            for c in sse[i : i + 100]:
                c.task = asyncio.create_task(c.run())
            await asyncio.gather(
                *(asyncio.wait_for(c.connected.wait(), 120) for c in sse[i : i + 100])
            )
        print(f"{len(sse)} SSE clients connected")
        headers = {"Authorization": f"Bearer {token(settings, teacher, 'teacher')}"}
        samples: list[float] = []
        baseline: list[float] = []
        rounds: list[tuple[int, float, float]] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as api_client:
            now = datetime.now(UTC)
            for r in range(args.rounds):
                class_index = r % len(classes)
                members = sse[class_index * args.class_size : (class_index + 1) * args.class_size]
                start = time.perf_counter()
                reply = await api_client.post(
                    "/api/v1/assignments",
                    json={
                        "class_id": classes[class_index],
                        "kind": "task",
                        "title": f"Bench {r}",
                        "accepts_text": True,
                        "open_at": (now - timedelta(hours=1)).isoformat(),
                        "due_at": (now + timedelta(days=3)).isoformat(),
                        "late_policy": "accept",
                        "points": 10,
                    },
                    headers=headers,
                )
                assert reply.status_code == 201, reply.text
                assignment_id = reply.json()["assignment_id"]
                wait_until = time.monotonic() + 30
                while not all(assignment_id in c.arrivals for c in members):
                    if time.monotonic() > wait_until:
                        missing = sum(assignment_id not in c.arrivals for c in members)
                        got = [len(c.arrivals) for c in members]
                        raise RuntimeError(
                            f"round {r}: {missing} clients got nothing in 30 s ({got}); see {logs}"
                        )
                    await asyncio.sleep(0.005)
                these = [(c.arrivals[assignment_id] - start) * 1000 for c in members]
                rounds.append((r, min(these), max(these)))
                samples += these
                baseline += await redis_round_trips(
                    redis, settings.redis_url, f"{prefix}baseline", 5
                )
                await asyncio.sleep(args.pause)
        await redis.delete(f"{prefix}baseline", *(prefix + d for d in ("assignments", "exams")))
        for c in sse:
            if c.task is not None:
                c.task.cancel()
        await asyncio.gather(*(c.task for c in sse if c.task is not None), return_exceptions=True)
        await redis.aclose()
    print(f"event -> SSE delivery, {args.clients} clients connected, classes of {args.class_size}:")
    print(f"  DreamSeed (POST -> relay -> consumer -> stream):  {ms(samples)}")
    print(f"  baseline raw Redis XADD -> XREAD round trip:      {ms(baseline)}")
    slow = sorted(rounds, key=lambda x: -x[2])[:3]
    print(
        "  slowest posts (round: first / last of its class's streams): "
        + ", ".join(f"{r}: {lo:.0f} / {hi:.0f} ms" for r, lo, hi in slow)
    )
    print(
        f"  ratio p50 {pct(samples, 0.5) / pct(baseline, 0.5):.1f}x,"
        f" p99 {pct(samples, 0.99) / pct(baseline, 0.99):.1f}x;"
        f" goal p99 <= 1000 ms: {'met' if pct(samples, 0.99) <= 1000 else 'NOT met'}"
    )


def stream_entry(event_type: str, payload: dict[str, Any]) -> Any:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "aggregate_id": "bench",
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": msgspec.json.encode(payload).decode(),
    }


def throughput_world(settings: Settings, class_size: int) -> dict[str, Any]:
    """A teacher, a class of `class_size` students, an assignment to the class, an exam of the
    class that every student completed, items with skills: what the throughput events refer to."""
    teacher, students, classes = school(settings, class_size, class_size)
    world: dict[str, Any] = {
        "teacher": teacher,
        "students": students,
        "class_id": classes[0],
        "assignment_id": str(uuid.uuid4()),
        "exam_id": str(uuid.uuid4()),
        "items": [str(uuid.uuid4()) for _ in range(5)],
    }
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into assignments.assignments (assignment_id, owner_id, class_id, kind, title,"
            " accepts_text, open_at, due_at, late_policy, points) values (%s, %s, %s, 'task',"
            " 'Bench', true, now() - interval '1 day', now() + interval '3 days', 'accept', 10)",
            (world["assignment_id"], teacher, world["class_id"]),
        )
        for n, item in enumerate(world["items"]):
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key, skills)"
                " values (%s, %s, 'Bench?', '[\"1\", \"2\"]', 0, %s)",
                (item, teacher, [f"skill{n}", f"skill{n + 1}"]),
            )
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Bench', %s::uuid[])",
            (world["exam_id"], teacher, world["class_id"], world["items"]),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into exams.attempts (attempt_id, exam_id, student_id, status,"
                " completed_at, raw_score, max_score) values (%s, %s, %s, 'completed', now(),"
                " 3, 5)",
                [(str(uuid.uuid4()), world["exam_id"], s) for s in students],
            )
    return world


def payloads(kind: str, world: dict[str, Any], n: int) -> dict[str, Any]:
    """The payload of the throughput run `kind`'s `n`th event (students and items cycle)."""
    students: list[str] = world["students"]
    student = students[n % len(students)]
    now = datetime.now(UTC).isoformat()
    if kind == "posted":
        return {"assignment_id": world["assignment_id"], "class_id": world["class_id"]}
    if kind == "returned":
        return {
            "assignment_id": world["assignment_id"],
            "class_id": world["class_id"],
            "student_id": student,
            "points_awarded": float(n % 10),
            "changed_at": now,
        }
    if kind == "completed":
        return {
            "exam_id": world["exam_id"],
            "attempt_id": str(uuid.uuid4()),
            "class_id": world["class_id"],
            "student_id": student,
            "raw_score": n % 6,
            "max_score": 5,
            "completed_at": now,
        }
    if kind == "response":
        return {
            "exam_id": world["exam_id"],
            "item_id": world["items"][n % len(world["items"])],
            "student_id": student,
            "is_correct": n % 3 != 0,
            "answered_at": now,
        }
    return {"x": n}


#: (consumer, label, event type, payload kind, events: "events" or "posted_events" argument)
RUNS: list[tuple[str, str, str, str, str]] = [
    ("notifications", "no rule (bookkeeping only)", "exams.response.recorded.v1", "none",
     "events"),
    ("notifications", "work returned (1 note each)", "assignments.work.returned.v1", "returned",
     "events"),
    ("notifications", "exam completed (1 note each)", "exams.attempt.completed.v1", "completed",
     "events"),
    ("notifications", "assignment posted (a note per student)",
     "assignments.assignment.created.v1", "posted", "posted_events"),
    ("analytics", "response recorded (2 skills)", "exams.response.recorded.v1", "response",
     "events"),
    ("analytics", "exam completed", "exams.attempt.completed.v1", "completed", "events"),
    ("analytics", "work returned", "assignments.work.returned.v1", "returned", "events"),
]  # fmt: skip


async def throughput(settings: Settings, args: argparse.Namespace) -> None:
    from apis.analytics.consumer import consumer as analytics_consumer
    from apis.notifications.rules import consumer as notifications_consumer
    from core.consumers import Consumer, ConsumerConfig, ConsumerSpec
    from core.db import create_pool

    world = throughput_world(settings, args.class_size)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    # One connection, so its server process is the consumer's only PostgreSQL backend.
    pool = create_pool(settings.database_url, min_size=1, max_size=1)
    await pool.open(wait=True)
    async with pool.connection() as conn:
        row = await (await conn.execute("select pg_backend_pid() as pid")).fetchone()
        backend = int(row["pid"]) if row else 0
    results: list[tuple[str, str, int, float, float, float, float, float | None]] = []
    try:
        for name, label, event_type, kind, count_arg in RUNS:
            if args.only and name not in args.only:
                continue
            events = int(getattr(args, count_arg))
            prefix = f"bench:{secrets.token_hex(4)}:events."
            domain = event_type.split(".", 1)[0]
            stream = prefix + domain
            spec: ConsumerSpec = (
                notifications_consumer(redis, prefix)
                if name == "notifications"
                else analytics_consumer(redis)
            )
            spec = replace(spec, domains=(domain,))
            member = Consumer(
                spec,
                pool,
                redis,
                "bench",
                ConsumerConfig(stream_prefix=prefix, block_ms=50, batch_size=args.batch_size),
            )
            await member.ensure_groups()  # (the analytics group rebuilds from history here)
            await redis.xgroup_create(stream, "bare", id="0", mkstream=True)
            pipe = redis.pipeline(transaction=False)
            for n in range(events):
                pipe.xadd(stream, stream_entry(event_type, payloads(kind, world, n)))
            await pipe.execute()
            notes_before = notifications(settings)

            start = time.perf_counter()
            done = 0
            while done < events:
                reply: Any = await redis.xreadgroup(
                    "bare", "b", {stream: ">"}, count=args.batch_size, block=50
                )
                ids = [e[0] for _, entries in reply or [] for e in entries]
                if ids:
                    await redis.xack(stream, "bare", *ids)
                done += len(ids)
            bare = events / (time.perf_counter() - start)

            start, cpu, server = time.perf_counter(), time.process_time(), cpu_seconds(backend)
            while member.handled < events:
                await member.step()
            ours = events / (time.perf_counter() - start)
            cpu_us = (time.process_time() - cpu) * 1e6 / events
            after = cpu_seconds(backend)
            server_us = (
                (after - server) * 1e6 / events
                if after is not None and server is not None
                else None
            )
            assert member.parked == 0, f"{label}: {member.parked} events parked"
            notes = notifications(settings) - notes_before
            results.append((name, label, events, ours, bare, notes / events, cpu_us, server_us))
            await redis.delete(stream)
    finally:
        await pool.close()
        await redis.aclose()
    print(
        f"consumer throughput, one process (this one), batches of {args.batch_size},"
        f" class of {args.class_size}:"
    )
    for name, label, n, ours, bare, per_event, cpu_us, server_us in results:
        goal = "met" if ours >= 5000 else "NOT met"
        made = f"{per_event:5.1f} notes/event" if name == "notifications" else " " * 16
        print(
            f"  {name:<13} {label:<40} n={n:<6} {ours:8.0f} events/s  {made}"
            f"  bare XREADGROUP+XACK {bare:8.0f} events/s  ratio {ours / bare:.2f}"
            f"  goal >= 5000/s: {goal}"
        )
        if server_us is not None:
            print(
                f"  {'':<13} {'':<40} CPU per event: consumer {cpu_us:6.1f} us + PostgreSQL"
                f" backend {server_us:6.1f} us = {1e6 / (cpu_us + server_us):8.0f} events/s"
                " if CPU were all it waited for (one core, no other load)"
            )


def notifications(settings: Settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        count = conn.execute("select count(*) from notifications.notifications").fetchone()
    return int(count[0]) if count else 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a local process (the consumer's PostgreSQL backend), or None
    when it cannot be read (a server on another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="connected SSE clients")
    parser.add_argument("--class-size", type=int, default=25, help="students per assignment")
    parser.add_argument(
        "--rounds", type=int, default=40, help="assignments posted (one class each)"
    )
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between posts")
    parser.add_argument(
        "--events", type=int, default=20_000, help="events per throughput run (one note each)"
    )
    parser.add_argument(
        "--posted-events",
        type=int,
        default=2_000,
        help="assignment-posted events for that throughput run (each a note per class member)",
    )
    parser.add_argument("--batch-size", type=int, default=200, help="consumer batch (as deployed)")
    parser.add_argument(
        "--only", nargs="*", choices=("notifications", "analytics"), help="throughput runs of"
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    base = Settings.load()
    logs = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    print(f"logs: {logs}")
    with scratch_database(base) as settings:
        if not args.skip_latency:
            asyncio.run(latency(settings, args, logs))
        if not args.skip_throughput:
            asyncio.run(throughput(settings, args))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
