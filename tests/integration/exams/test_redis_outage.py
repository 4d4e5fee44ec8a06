"""Kill Redis mid-exam: the API served by uvicorn on a real socket, with its own redis-server.

Eight students take adaptive exams concurrently over HTTP. When every one of them is a few items
in, their Redis is killed (SIGKILL, no persistence), stays down for a while, and is restarted
empty on the same port. Clients retry with the same idempotency key until they get an answer.
While it is down, one student is served by the exams service directly with the dead Redis (another
replica whose cache is unreachable). Every exam must finish with each acknowledged response stored
exactly once, a θ equal to the EAP of the stored responses, and a replay that reproduces the
item sequence.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from apis.app import create_app
from apis.exams import delivery
from apis.exams.schemas import AnswerRequest
from apis.gateway.metrics import Metrics
from apis.gateway.principal import Principal
from apis.state import AppState
from core.db import create_pool
from core.settings import Settings
from tests.integration.exams.school import School, User, adaptive_exam, choose, school
from tests.integration.exams.test_adaptive import independent_eap
from tests.support.redis_server import RedisServer, throwaway_redis
from tests.support.servers import serve_in_thread

N_STUDENTS = 8


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with throwaway_redis(tmp_path) as server:
        yield server


@pytest.fixture
def api_app(settings: Settings, redis_server: RedisServer) -> Litestar:
    app_settings = replace(
        settings,
        redis_url=redis_server.url,
        rate_limit_per_user=1_000_000,
        rate_limit_per_ip=1_000_000,
    )
    return create_app(app_settings)


@pytest.fixture
def api_url(api_app: Litestar) -> Iterator[str]:
    with serve_in_thread(api_app) as url:
        yield url


@dataclass
class Taker:
    index: int
    theta: float
    attempt_id: str = ""
    next_item: dict[str, Any] | None = None
    acknowledged: list[tuple[str, int]] = field(default_factory=list)
    retries: int = 0
    done: bool = False


class AllowAll:
    """Policy stand-in for the direct service call (the HTTP path is governed as usual)."""

    async def authorize(self, *_: Any) -> None:
        return None


async def _post(api: httpx.AsyncClient, taker: Taker, url: str, **kwargs: Any) -> httpx.Response:
    """Retry transport errors and 5xx (Redis down at the gateway) with the same body and key."""
    for _ in range(600):
        try:
            reply = await api.post(url, **kwargs)
            if reply.status_code < 500:
                return reply
        except httpx.TransportError:
            pass
        taker.retries += 1
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never succeeded")


async def _answer_once(
    api: httpx.AsyncClient, sch: School, taker: Taker, rng: random.Random
) -> None:
    assert taker.next_item is not None
    item_id = taker.next_item["item_id"]
    body = {
        "item_id": item_id,
        "choice": choose(sch.bank[item_id], taker.theta, rng),
        "idempotency_key": str(uuid.uuid4()),
    }
    reply = await _post(
        api,
        taker,
        f"/api/v1/attempts/{taker.attempt_id}/responses",
        json=body,
        headers=sch.students[taker.index].headers,
    )
    assert reply.status_code in (200, 201), reply.text
    taker.acknowledged.append((item_id, body["choice"]))
    taker.next_item = reply.json()["next_item"]
    taker.done = taker.next_item is None


async def _until_refused(api: httpx.AsyncClient, url: str, student: User) -> None:
    """Wait (bounded) until an authenticated request is refused with 503."""
    for _ in range(200):
        if (await api.get(url, headers=student.headers)).status_code == 503:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the API kept serving for 10 s with Redis down")


async def test_killing_redis_mid_exam_loses_and_duplicates_nothing(
    settings: Settings, api_app: Litestar, api_url: str, redis_server: RedisServer
) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        sch = await school(api, n_students=N_STUDENTS, n_items=80, n_pilot=3)
        exam = await adaptive_exam(
            api,
            sch,
            stopping={"min_items": 10, "max_items": 14, "se_target": 0.25},
            pilot_share=0.1,
            blueprint={"algebra": 1, "geometry": 1, "numbers": 1},
        )
        takers = [Taker(i, theta) for i, theta in enumerate([-1.5, -1, -0.5, 0, 0.3, 0.8, 1.2, 2])]
        rngs = [random.Random(i) for i in range(N_STUDENTS)]
        for t in takers:
            started = await _post(
                api, t, f"/api/v1/exams/{exam['exam_id']}/attempts",
                headers=sch.students[t.index].headers,
            )  # fmt: skip
            assert started.status_code == 201, started.text
            t.attempt_id, t.next_item = started.json()["attempt_id"], started.json()["next_item"]

        # Three items each with Redis up.
        for _ in range(3):
            await asyncio.gather(*(_answer_once(api, sch, t, rngs[t.index]) for t in takers))
        tiers = api_app.state.dreamseed.exams.cat  # the API's CAT cache (both tiers)
        hits_before, rebuilds_before = tiers.hits, tiers.rebuilds

        # Kill Redis while everybody keeps answering (their requests fail and are retried). The
        # API notices within about a second (its revocation mirror loses its subscription) and
        # fails closed from then on; a request in that window may still be served, so the
        # answers start once it has noticed.
        redis_server.kill()
        await _until_refused(api, f"/api/v1/attempts/{takers[1].attempt_id}", sch.students[1])
        outage = [asyncio.create_task(_answer_once(api, sch, t, rngs[t.index])) for t in takers[1:]]
        # Meanwhile a replica whose Redis is unreachable serves student 0 from PostgreSQL.
        pool = create_pool(settings.database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        dead = Redis.from_url(redis_server.url, decode_responses=True, socket_connect_timeout=0.2)
        state = AppState(settings, pool, dead, AllowAll(), Metrics())  # type: ignore[arg-type]
        try:
            t0 = takers[0]
            student = sch.students[0]
            principal = Principal(
                student.user_id, "student", "direct", datetime.now(UTC) + timedelta(hours=1)
            )
            for _ in range(2):
                assert t0.next_item is not None
                item_id = t0.next_item["item_id"]
                choice = choose(sch.bank[item_id], t0.theta, rngs[0])
                done = await delivery.answer(
                    state,
                    principal,
                    t0.attempt_id,
                    AnswerRequest(uuid.UUID(item_id), choice, idempotency_key=str(uuid.uuid4())),
                )
                assert done is not None and done[1] is True
                t0.acknowledged.append((item_id, choice))
                t0.next_item = msgspec_to_dict(done[0].next_item)
        finally:
            await state.exams.cat.drain()
            await dead.aclose()
            await pool.close()
        await asyncio.sleep(1.0)
        assert not any(task.done() for task in outage), "answers succeeded with Redis down?"
        # Redis comes back empty, and the API's in-process tier is dropped too (as if it had
        # restarted): every CAT state must be rebuilt from PostgreSQL.
        redis_server.start()
        tiers.drop_local()
        await asyncio.gather(*outage)

        # Everybody finishes.
        while not all(t.done for t in takers):
            await asyncio.gather(
                *(_answer_once(api, sch, t, rngs[t.index]) for t in takers if not t.done)
            )
        assert sum(t.retries for t in takers) > 0
        assert tiers.rebuilds - rebuilds_before >= N_STUDENTS
        assert tiers.hits > hits_before

        for t in takers:
            with psycopg.connect(settings.database_url) as conn:
                stored = conn.execute(
                    "select item_id::text, choice, position from exams.responses"
                    " where attempt_id = %s order by position",
                    (t.attempt_id,),
                ).fetchall()
                status, theta, se = conn.execute(
                    "select status, theta, se from exams.attempts where attempt_id = %s",
                    (t.attempt_id,),
                ).fetchone() or (None, None, None)
            # Nothing lost, nothing duplicated, in the order answered.
            assert [(r[0], r[1]) for r in stored] == t.acknowledged
            assert [r[2] for r in stored] == list(range(len(stored)))
            assert status == "completed"
            expected_theta, expected_se, _ = independent_eap(settings, t.attempt_id, sch)
            assert abs(theta - expected_theta) < 1e-9 and abs(se - expected_se) < 1e-9
            replay = await api.get(
                f"/api/v1/attempts/{t.attempt_id}/replay", headers=sch.teacher.headers
            )
            assert replay.status_code == 200 and replay.json()["matches"], replay.text
        # Ability ordering survives the outage (a sanity check on the estimates, not a bound).
        thetas = [
            (await api.get(f"/api/v1/attempts/{t.attempt_id}/result",
                           headers=sch.students[t.index].headers)).json()["theta"]
            for t in takers
        ]  # fmt: skip
        assert thetas[-1] > thetas[0]


def msgspec_to_dict(value: Any) -> dict[str, Any] | None:
    import msgspec

    return None if value is None else dict(msgspec.to_builtins(value))
