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
2. **Consumer throughput.** `--events` entries of a type no rule handles are put on a stream; one
   `core.consumers.Consumer` (in this process: XREADGROUP, the `realtime.processed` insert in a
   PostgreSQL transaction, XACK) drains them; then the same with `assignments.work.returned.v1`
   events, each making a notification, its outbox event and its mail-queue row. Baseline: a bare
   XREADGROUP + XACK loop over the same entries (another group), no PostgreSQL.

`python -m bench.realtime.delivery --clients 1000 --events 20000`. Prints figures and ratios and
the load average (the machines are shared: compare ratios).
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


async def throughput(settings: Settings, args: argparse.Namespace) -> None:
    from apis.notifications.rules import consumer
    from core.consumers import Consumer, ConsumerConfig
    from core.db import create_pool

    teacher, students, classes = school(settings, 1, 1)
    assignment_id = str(uuid.uuid4())
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into assignments.assignments (assignment_id, owner_id, class_id, kind, title,"
            " accepts_text, open_at, due_at, late_policy, points) values (%s, %s, %s, 'task',"
            " 'Bench', true, now() - interval '1 day', now() + interval '3 days', 'accept', 10)",
            (assignment_id, teacher, classes[0]),
        )
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    results = {}
    try:
        runs: list[tuple[str, str, dict[str, Any]]] = [
            ("no rule (bookkeeping only)", "exams.response.recorded.v1", {"x": 1}),
            (
                "work returned (1 notification each)",
                "assignments.work.returned.v1",
                {"assignment_id": assignment_id, "student_id": students[0], "points_awarded": 9},
            ),
        ]
        for label, event_type, payload in runs:
            prefix = f"bench:{secrets.token_hex(4)}:events."
            stream = prefix + event_type.split(".", 1)[0]
            spec = replace(consumer(redis, prefix), domains=(event_type.split(".", 1)[0],))
            member = Consumer(
                spec, pool, redis, "bench", ConsumerConfig(stream_prefix=prefix, block_ms=50)
            )
            await member.ensure_groups()
            await redis.xgroup_create(stream, "bare", id="0", mkstream=True)
            pipe = redis.pipeline(transaction=False)
            for _ in range(args.events):
                pipe.xadd(stream, stream_entry(event_type, payload))
            await pipe.execute()

            start = time.perf_counter()
            done = 0
            while done < args.events:
                reply: Any = await redis.xreadgroup("bare", "b", {stream: ">"}, count=200, block=50)
                ids = [e[0] for _, entries in reply or [] for e in entries]
                if ids:
                    await redis.xack(stream, "bare", *ids)
                done += len(ids)
            bare = args.events / (time.perf_counter() - start)

            start = time.perf_counter()
            while member.handled < args.events:
                await member.step()
            ours = args.events / (time.perf_counter() - start)
            results[label] = (ours, bare)
            await redis.delete(stream)
    finally:
        await pool.close()
        await redis.aclose()
    print(f"consumer throughput, one process, {args.events} events, batches of 200:")
    for label, (ours, bare) in results.items():
        goal = "met" if ours >= 5000 else "NOT met"
        print(
            f"  {label:<36} {ours:9.0f} events/s   bare XREADGROUP+XACK {bare:9.0f} events/s"
            f"   ratio {ours / bare:.2f}   goal >= 5000/s: {goal}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="connected SSE clients")
    parser.add_argument("--class-size", type=int, default=25, help="students per assignment")
    parser.add_argument(
        "--rounds", type=int, default=40, help="assignments posted (one class each)"
    )
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between posts")
    parser.add_argument("--events", type=int, default=20_000, help="events for the throughput run")
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
