"""The cheaper request path keeps its guarantees: no Redis round trip per request, yet revocation
still fails closed (and spreads to every process) and the limiter still limits (and fails open);
a class-id cache that never grants a non-member; the API's batched decision log writes every
decision exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from apis.app import create_app
from apis.gateway.metrics import Metrics
from apis.gateway.policy import CLASS_IDS_TTL_SECONDS, PolicyGate, Resource
from apis.gateway.principal import Principal
from apis.gateway.rate_limit import WINDOW_SECONDS, RateCounters
from core.errors import Forbidden
from core.settings import Settings
from governance import LocalEngine
from governance.decision import Decision
from governance.decision_log import DecisionLog
from tests.integration.apis.conftest import make_account
from tests.support.redis_server import throwaway_redis


class _CountingRedis:
    """Wraps the app's Redis client and counts every command and pipeline it is asked for."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        return getattr(self.real, name)


async def _until(predicate: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_an_authenticated_request_makes_no_redis_round_trip(settings: Settings) -> None:
    app = create_app(replace(settings, rate_limit_per_user=3, rate_limit_per_ip=100_000))
    async with AsyncTestClient(app) as client:
        account = await make_account(client, "student")
        redis = _CountingRedis(app.state.dreamseed.redis)
        app.state.dreamseed.redis = redis
        for _ in range(3):
            me = await client.get("/api/v1/users/me", headers=account.headers)
            assert me.status_code == 200, me.text
        assert redis.calls == 0  # revocation mirrored in process, counters flushed behind
        limited = await client.get("/api/v1/users/me", headers=account.headers)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_revocation_fails_closed_without_redis_and_spreads_to_other_processes(
    settings: Settings, tmp_path: Path
) -> None:
    with throwaway_redis(tmp_path) as server:
        own = replace(settings, redis_url=server.url)
        app_a, app_b = create_app(own, relay=False), create_app(own, relay=False)
        async with AsyncTestClient(app_a) as a, AsyncTestClient(app_b) as b:
            account = await make_account(a, "student")
            other = await make_account(a, "student")
            assert (await b.get("/api/v1/users/me", headers=other.headers)).status_code == 200

            # Logout through A: A refuses the token at once, B as soon as it reads the news.
            out = await a.post("/api/v1/auth/logout", headers=other.headers)
            assert out.status_code in (200, 204), out.text
            assert (await a.get("/api/v1/users/me", headers=other.headers)).status_code == 401

            async def b_refuses() -> bool:
                reply = await b.get("/api/v1/users/me", headers=other.headers)
                return reply.status_code == 401 and "revoked" in reply.text

            await _until(b_refuses, 2.0)

            # Redis dies: nobody can vouch for the list any more, so requests get 503 ...
            server.kill()

            async def refused() -> bool:
                reply = await a.get("/api/v1/users/me", headers=account.headers)
                return reply.status_code == 503 and reply.headers.get("retry-after") == "1"

            await _until(refused, 3.0)
            ready = await a.get("/ready")
            assert ready.status_code == 503
            # ... until it is back: the mirror reloads the list (the revocation survived in
            # the test's restarted server? no -- it restarts empty, like a Redis that lost its
            # data; the restarted mirror reflects exactly what Redis holds).
            server.start()

            async def served() -> bool:
                reply = await a.get("/api/v1/users/me", headers=account.headers)
                return reply.status_code == 200

            await _until(served, 5.0)


async def test_limiter_fails_open_when_redis_refuses_writes(
    settings: Settings, tmp_path: Path
) -> None:
    with throwaway_redis(tmp_path) as server:
        own = replace(settings, redis_url=server.url, rate_limit_per_user=3)
        app = create_app(own, relay=False)
        async with AsyncTestClient(app) as client:
            account = await make_account(client, "student")
            admin = Redis.from_url(server.url)
            try:
                # Out of memory for every write: the counters cannot be stored, reads still work.
                await admin.config_set("maxmemory-policy", "noeviction")
                await admin.config_set("maxmemory", "1")
                counters = app.state.dreamseed.rate_counters

                async def unavailable() -> bool:
                    await client.get("/api/v1/users/me", headers=account.headers)
                    return not counters.available

                await _until(unavailable, 3.0)
                for _ in range(6):  # over the limit of 3/min, but the limiter steps aside
                    ok = await client.get("/api/v1/users/me", headers=account.headers)
                    assert ok.status_code == 200, ok.text

                await admin.config_set("maxmemory", "0")  # writes work again: limits resume

                async def limited() -> bool:
                    reply = await client.get("/api/v1/users/me", headers=account.headers)
                    return reply.status_code == 429

                await _until(limited, 3.0)
            finally:
                await admin.aclose()


async def test_class_id_cache_never_grants_a_non_member() -> None:
    engine = LocalEngine()
    memberships: dict[str, list[str]] = {"s1": ["class-b"]}
    loads: list[str] = []

    async def class_ids_of(user_id: str) -> list[str]:
        loads.append(user_id)
        return list(memberships.get(user_id, []))

    decisions: list[Decision] = []
    gate = PolicyGate(engine, class_ids_of, lambda d: decisions.append(d) or True, Metrics())
    student = Principal("s1", "student", "t1", None)  # type: ignore[arg-type]
    exam_a = Resource("exam", "e-a", "teacher", "class-a")
    exam_b = Resource("exam", "e-b", "teacher", "class-b")

    await gate.authorize(student, "exams.exam.read", exam_b)
    await gate.authorize(student, "exams.exam.read", exam_b)
    assert loads == ["s1"]  # the second check was served by the cache
    for _ in range(2):  # not a member of class-a: every check reloads, and denies
        with pytest.raises(Forbidden):
            await gate.authorize(student, "exams.exam.read", exam_a)
    assert loads == ["s1", "s1", "s1"]

    memberships["s1"].append("class-a")  # a new membership counts at once
    await gate.authorize(student, "exams.exam.read", exam_a)
    assert len(loads) == 4

    memberships["s1"] = []  # removed: the positive cache may serve it until the TTL ends
    gate._class_ids.expire(time.monotonic() + CLASS_IDS_TTL_SECONDS)  # as when the TTL ends
    with pytest.raises(Forbidden):
        await gate.authorize(student, "exams.exam.read", exam_a)
    assert [d.allowed for d in decisions] == [True, True, False, False, True, False]


async def test_decision_log_batches_and_never_writes_twice(settings: Settings) -> None:
    log = DecisionLog(settings.database_url, linger=0.02, batch_size=100)
    request_id = f"fast-path-{uuid.uuid4()}"
    decisions = [
        Decision.new(
            decision="data.dreamseed.api.authz.decision",
            subject_id=f"user-{i}",
            subject_role="student",
            action="exams.attempt.read",
            resource={"type": "attempt", "id": f"a{i}"} if i % 2 else None,
            allowed=bool(i % 3),
            reason="r",
            policy_revision="rev",
            latency_us=i,
            request_id=request_id,
        )
        for i in range(250)
    ]
    await log.start()
    for d in decisions:
        assert log.record(d)
    await log.flush()
    await log._write_with_retry(decisions[:10])  # a retried batch: no duplicates
    await log.stop()
    assert log.dropped == 0 and log.failed_writes == 0
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select decision_id::text, resource, allowed, latency_us, txid is not null"
            " from governance.decisions where request_id = %s",
            (request_id,),
        ).fetchall()
    by_id = {r[0]: r for r in rows}
    assert len(rows) == 250 == len(by_id)
    for d in decisions:
        assert by_id[d.decision_id][1:] == (d.resource, d.allowed, d.latency_us, True)


async def test_counts_in_flight_to_redis_still_count(settings: Settings) -> None:
    """A request arriving while a flush awaits Redis is judged on the flushed counts too."""
    redis = Redis.from_url(settings.redis_url)
    counters = RateCounters(redis)
    try:
        window = int(time.time() // WINDOW_SECONDS)
        key = f"rl:user:{uuid.uuid4()}:{window}"
        assert [counters.hit(key) for _ in range(3)] == [1, 2, 3]
        flushing = asyncio.create_task(counters.flush())
        await asyncio.sleep(0)  # the flush has taken the pending counts, Redis not answered yet
        assert counters.hit(key) == 4
        await flushing
        assert counters.hit(key) == 5
        await counters.flush()
        assert int(await redis.get(key)) == 5
    finally:
        await redis.aclose()
