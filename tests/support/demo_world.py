"""The demo's data in a test: what `make demo` builds, on a scratch database, for the browser tests.

`build(settings, state_dir)` calls the demo's own `cli.demo.populate` (one code path with
`dreamseed demo`): the school seeded through the HTTP API, its simulated history, the analytics
consumer, the pipeline (outbox → Iceberg lake → lake_silver → dbt marts → calibration), the
scored retakes and the pipeline again. What `dreamseed demo` runs as child processes on fixed
ports runs here in process: the API on a free port in a thread (tests.support.servers), the
analytics consumer in a thread (cli.consume.run_consumer) and the Dagster job in this process
(cli.pipeline.materialize), recorded under `<state_dir>/dagster`, where the platform-health page
reads it. Streams get a private prefix so other tests' events stay out of this consumer.

Only the history's size differs from the demo's (`HISTORY_STUDENTS_PER_CLASS`, fewer simulated
students; every seeded demo login, class, exam, course and retake is the same).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
import redis.asyncio

from apis.app import create_app
from cli.consume import CONSUMERS, run_consumer
from cli.demo import DemoRuntime, Login, populate
from cli.pipeline import materialize
from core.consumers import lag
from core.settings import Settings
from tests.support.servers import serve_in_thread

#: Simulated students per class (the demo's 1,500 take ~4 min more of seeding and marts; 400
#: still calibrate and promote every unit-test item, so the retakes are IRT-scored).
HISTORY_STUDENTS_PER_CLASS = 400


@dataclass
class Person:
    user_id: str
    email: str
    role: str
    name: str
    password: str


@dataclass
class DemoWorld:
    settings: Settings  # the scratch database; state_dir holds the demo folder and Dagster's
    logins: list[Login]
    people: dict[str, Person] = field(default_factory=dict)  # teacher1, teacher2, admin, ...
    classes: dict[str, tuple[str, str]] = field(default_factory=dict)  # teacher key -> (id, name)
    student_ids: list[str] = field(default_factory=list)
    pipeline_runs: list[list[str]] = field(default_factory=list)  # each run's summary lines


@contextmanager
def _analytics_consumer(settings: Settings) -> Iterator[None]:
    """The analytics consumer in a thread (its own event loop) until the block ends."""
    ready = threading.Event()
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    failed: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        await run_consumer("analytics", settings, stop, "demo-world", ready.set)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # shown by the waiting test
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=target, daemon=True, name="analytics-consumer")
    thread.start()
    if not ready.wait(300) or failed:
        raise RuntimeError(f"the analytics consumer did not start: {failed}")
    try:
        yield
    finally:
        if stopping:
            loop, stop = stopping[0]
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


def _caught_up(settings: Settings, timeout: float = 300.0) -> None:
    """Wait until the relay published every outbox event and the analytics consumer handled
    every one (as the demo's pipeline, a child process started seconds later, finds it)."""
    domains = CONSUMERS["analytics"](redis.asyncio.Redis(), settings).domains

    async def behind() -> int:
        client = redis.asyncio.Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            figures = await lag(client, settings.realtime.stream_prefix, "analytics", domains)
        finally:
            await client.aclose()
        return sum(f["lag"] + f["pending"] for f in figures.values())

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "select count(*) from events.outbox o join events.relay_cursors c"
                " on c.relay = 'redis-streams' where (o.txid, o.event_seq) > (c.txid, c.event_seq)"
            ).fetchone()
        if row is not None and row[0] == 0 and asyncio.run(behind()) == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("the relay and the analytics consumer did not catch up")


def build(base: Settings, state_dir: Path) -> DemoWorld:
    """The demo's data on `base`'s (scratch) database, with the demo folder under `state_dir`."""
    settings = replace(
        base,
        state_dir=state_dir,
        realtime=replace(base.realtime, stream_prefix=f"demo{secrets.token_hex(3)}."),
    )
    # The whole school is seeded from one loopback address, as `dreamseed demo` lifts it.
    api = create_app(replace(settings, rate_limit_per_ip=100_000))
    runs: list[list[str]] = []
    with serve_in_thread(api) as api_url, ExitStack() as consumers:

        def run_pipeline(name: str) -> None:
            _caught_up(settings)
            ok, lines = materialize(settings)
            runs.append(lines)
            if not ok:
                failed = [line for line in lines if "FAIL" in line]
                raise AssertionError(f"the demo's {name} failed: {failed or lines[-1:]}")

        logins = populate(
            settings,
            api_url,
            DemoRuntime(
                start_analytics=lambda: consumers.enter_context(_analytics_consumer(settings)),
                run_pipeline=run_pipeline,
            ),
            history_students=HISTORY_STUDENTS_PER_CLASS,
        )
    world = DemoWorld(settings, logins, pipeline_runs=runs)
    with psycopg.connect(settings.database_url) as conn:
        for login in logins:
            row = conn.execute(
                "select user_id::text, display_name from users.accounts where email = %s",
                (login.email,),
            ).fetchone()
            assert row is not None, login.email
            person = Person(row[0], login.email, login.role, row[1], login.password)
            key = login.email.split("@")[0].split("-")[0]  # teacher1, student1, admin, analyst
            world.people.setdefault(key, person)
        for key, person in world.people.items():
            if person.role == "teacher":
                found = conn.execute(
                    "select class_id::text, name from classes.classes where teacher_id = %s",
                    (person.user_id,),
                ).fetchone()
                assert found is not None, person.email
                world.classes[key] = (found[0], found[1])
        world.student_ids = [
            r[0]
            for r in conn.execute(
                "select user_id::text from users.accounts where role = 'student'"
            ).fetchall()
        ]
    return world
