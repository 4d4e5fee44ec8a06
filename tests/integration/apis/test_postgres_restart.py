"""Restart PostgreSQL under load: the API answers 503 with Retry-After, never 500, loses nothing and
recovers by itself.

The API runs on a throwaway PostgreSQL cluster of its own (tests/support/postgres_server.py;
the shared server is never touched), served by uvicorn on a real socket. Four teachers' clients
create classes continuously, a reader lists classes and a poller samples `/ready`, while the
cluster is stopped (fast shutdown: open transactions rolled back, clients disconnected), kept
down until the outage has been seen, and started again.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import psycopg
import pytest

from apis.app import create_app
from core.db import create_pool
from core.migrate import migrate
from core.settings import Settings
from tests.support.postgres_server import PostgresServer, throwaway_postgres
from tests.support.servers import serve_in_thread

WRITERS = 4


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    url = postgres.create_database("dreamseed")
    migrate(url)
    return url


@dataclass
class Reply:
    started: float
    status: int
    body: dict[str, Any]
    retry_after: str | None
    name: str = ""


@dataclass
class Log:
    writes: list[Reply] = field(default_factory=list)
    reads: list[Reply] = field(default_factory=list)
    ready: list[Reply] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    def acked_since(self, moment: float) -> int:
        return sum(1 for w in self.writes if w.status == 201 and w.started >= moment)


def _reply(started: float, reply: httpx.Response, name: str = "") -> Reply:
    try:
        body = reply.json()
    except ValueError:
        body = {"unparsed": reply.text}
    return Reply(started, reply.status_code, body, reply.headers.get("retry-after"), name)


async def _teacher(api: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"t-{secrets.token_hex(4)}@restart.test", "restart-" + secrets.token_hex(8)
    body = {"email": email, "password": password, "display_name": "T", "role": "teacher"}
    assert (await api.post("/api/v1/auth/register", json=body)).status_code == 201
    login = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _writer(
    api: httpx.AsyncClient, headers: dict[str, str], tag: str, log: Log, stop: asyncio.Event
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        name = f"restart {tag} {n}"
        started = time.monotonic()
        try:
            reply = await api.post("/api/v1/classes/", json={"name": name}, headers=headers)
        except httpx.TransportError as exc:
            log.transport_errors.append(f"POST {name}: {exc!r}")
        else:
            log.writes.append(_reply(started, reply, name))
        await asyncio.sleep(0.05)


async def _poll(
    api: httpx.AsyncClient, path: str, into: list[Reply], log: Log, stop: asyncio.Event,
    headers: dict[str, str] | None = None,
) -> None:  # fmt: skip
    while not stop.is_set():
        started = time.monotonic()
        try:
            into.append(_reply(started, await api.get(path, headers=headers)))
        except httpx.TransportError as exc:
            log.transport_errors.append(f"GET {path}: {exc!r}")
        await asyncio.sleep(0.1)


async def _until(condition: Any, what: str, within: float, log: Log) -> None:
    deadline = time.monotonic() + within
    while not condition():
        faults = [r for r in log.writes + log.reads + log.ready if r.status not in (200, 201, 503)]
        assert not faults, f"answered {faults[0].status}: {faults[0].body}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_postgres_restart_answers_503_and_loses_no_acknowledged_write(
    settings: Settings, postgres: PostgresServer, database_url: str
) -> None:
    app_settings = replace(
        settings,
        database_url=database_url,
        rate_limit_per_user=1_000_000,
        rate_limit_per_ip=1_000_000,
    )
    log = Log()
    with serve_in_thread(create_app(app_settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as api:
            teachers = [await _teacher(api) for _ in range(WRITERS)]
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(_writer(api, teachers[i], f"w{i}", log, stop))
                for i in range(WRITERS)
            ]
            tasks.append(asyncio.create_task(_poll(api, "/ready", log.ready, log, stop)))
            tasks.append(
                asyncio.create_task(
                    _poll(api, "/api/v1/classes/", log.reads, log, stop, teachers[0])
                )
            )
            try:
                await _until(lambda: log.acked_since(0) >= 2 * WRITERS, "first writes", 120, log)
                await asyncio.to_thread(postgres.stop, "fast")
                down_at = time.monotonic()
                # Kept down until both a client and the readiness poller have seen it.
                await _until(
                    lambda: (
                        any(r.status == 503 and r.started > down_at for r in log.ready)
                        and any(w.status == 503 and w.started > down_at for w in log.writes)
                    ),
                    "the outage to be reported",
                    120,
                    log,
                )
                await asyncio.to_thread(postgres.start)
                up_at = time.monotonic()
                # Service resumes by itself: new writes are acknowledged, /ready is green.
                await _until(
                    lambda: (
                        log.acked_since(up_at) >= 2 * WRITERS
                        and any(r.status == 200 and r.started > up_at for r in log.ready)
                    ),
                    "the service to resume",
                    180,
                    log,
                )
            finally:
                stop.set()
                await asyncio.gather(*tasks)

    print(
        f"writes {len(log.writes)} (refused {sum(w.status == 503 for w in log.writes)}),"
        f" reads {len(log.reads)} (refused {sum(r.status == 503 for r in log.reads)}),"
        f" /ready {len(log.ready)} (503: {sum(r.status == 503 for r in log.ready)}),"
        f" down {up_at - down_at:.1f} s"
    )
    assert log.transport_errors == []
    statuses = {r.status for r in log.writes + log.reads + log.ready}
    assert statuses <= {200, 201, 503}, sorted(statuses)  # never a 500
    for refused in [r for r in log.writes + log.reads if r.status == 503]:
        assert refused.retry_after is not None, refused
        assert refused.body["error"]["status"] == 503, refused
        assert "database is unavailable" in refused.body["error"]["message"], refused
    outage = [r for r in log.ready if r.status == 503]
    assert outage and all("failed" in r.body["checks"]["postgresql"] for r in outage)
    assert all(r.body["checks"]["redis"] == "ok" for r in outage)

    acked = {w.name: w.body["class_id"] for w in log.writes if w.status == 201}
    refused_names = {w.name for w in log.writes if w.status == 503}
    assert acked and refused_names
    with psycopg.connect(database_url) as conn:
        stored = dict(
            conn.execute(
                "select name, class_id::text from classes.classes where name like 'restart %%'"
            ).fetchall()
        )
        events = {
            row[0]
            for row in conn.execute(
                "select aggregate_id from events.outbox where event_type = 'classes.class.created.v1'"
            ).fetchall()
        }
    # Every acknowledged write is stored (with its event); no refused one changed anything.
    assert stored == acked
    assert set(acked.values()) <= events
    assert not refused_names & set(stored)


async def test_the_pool_hands_out_live_connections_after_a_restart(
    postgres: PostgresServer,
) -> None:
    """Connections the server closed are dropped at checkout, not handed to a request."""
    pool = create_pool(postgres.url(), min_size=3, max_size=3)
    await pool.open(wait=True)
    try:
        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.to_thread(postgres.start)
        for _ in range(6):  # more checkouts than the pool held connections
            async with pool.connection() as conn:
                assert await (await conn.execute("select 1 as one")).fetchone() == {"one": 1}
        assert pool.get_stats().get("connections_lost", 0) + pool.get_stats()["connections_num"] > 3
    finally:
        await pool.close()
