"""The cheaper request path keeps its guarantees: one Redis round trip that still fails closed on
revocation (and open for the limiter), a class-id cache that never grants a non-member, and the
API's batched decision log writes every decision exactly once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from apis.app import create_app
from apis.gateway.metrics import Metrics
from apis.gateway.policy import PolicyGate, Resource
from apis.gateway.principal import Principal
from core.errors import Forbidden
from core.settings import Settings
from governance import LocalEngine
from governance.decision import Decision
from governance.decision_log import DecisionLog
from tests.integration.apis.conftest import make_account


class _Pipe:
    def __init__(self, owner: _CountingRedis, real: Any) -> None:
        self.owner, self.real = owner, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __len__(self) -> int:
        return len(self.real)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.owner.executes += 1
        if self.owner.down:
            raise RedisConnectionError("Redis went away")
        replies: list[Any] = await self.real.execute(raise_on_error=False)
        if self.owner.fail_exists:
            replies[0] = ResponseError("LOADING Redis is loading the dataset in memory")
        if self.owner.fail_counters:
            replies[1:] = [ResponseError("OOM command not allowed")] * (len(replies) - 1)
        return replies


class _CountingRedis:
    """Wraps the app's Redis client: counts pipeline round trips, injects failures."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.executes = 0
        self.commands = 0
        self.down = self.fail_exists = self.fail_counters = False

    def pipeline(self, transaction: bool = True) -> _Pipe:
        return _Pipe(self, self.real.pipeline(transaction=transaction))

    def __getattr__(self, name: str) -> Any:
        self.commands += 1
        return getattr(self.real, name)


async def test_one_redis_round_trip_fails_closed_on_revocation(settings: Settings) -> None:
    app = create_app(replace(settings, rate_limit_per_user=3, rate_limit_per_ip=100_000))
    async with AsyncTestClient(app) as client:
        account = await make_account(client, "student")
        redis = _CountingRedis(app.state.dreamseed.redis)
        app.state.dreamseed.redis = redis
        me = await client.get("/api/v1/users/me", headers=account.headers)
        assert me.status_code == 200, me.text
        assert (redis.executes, redis.commands) == (1, 0)  # revocation + limiter together

        redis.fail_exists = True  # the revocation check errors, the counters answer
        failed = await client.get("/api/v1/users/me", headers=account.headers)
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        assert "revocation" in failed.json()["error"]["message"]
        redis.fail_exists, redis.down = False, True
        down = await client.get("/api/v1/users/me", headers=account.headers)
        assert down.status_code == 503

        redis.down, redis.fail_counters = False, True  # limiter fails open, auth still checked
        for _ in range(5):  # over the limit of 3/min, but the counters are unavailable
            ok = await client.get("/api/v1/users/me", headers=account.headers)
            assert ok.status_code == 200, ok.text
        redis.fail_counters = False
        limited = await client.get("/api/v1/users/me", headers=account.headers)
        assert limited.status_code == 429  # the counters resumed with Redis

        other = await make_account(client, "student")  # under its own per-user limit
        out = await client.post("/api/v1/auth/logout", headers=other.headers)
        assert out.status_code in (200, 204), out.text
        revoked = await client.get("/api/v1/users/me", headers=other.headers)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


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
    gate._class_ids_ttl = 0.05
    await asyncio.sleep(0.06)
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
