"""Live learner analytics over HTTP with real PostgreSQL and Redis: students take an adaptive exam,
the relay publishes the events, the analytics consumer updates the live figures, and the analytics
API serves them — mastery equal to the mart's definition computed from the stored responses, θ
as stored on the attempt, class summaries — from a Redis cache that the next event invalidates.
The first attempt is history when the consumer starts (its new group starts from the OLTP tables,
apis/analytics/rebuild.py), the second arrives live. Only the student reads her progress; only the class's teacher (and admins) its progress and
presence; presence follows an open notification stream."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from redis.asyncio import Redis

from apis.analytics.consumer import consumer
from apis.app import create_app
from core.consumers import Consumer, ConsumerConfig
from core.db import create_pool
from core.settings import Settings
from tests.integration.exams.school import adaptive_exam, school, user
from tests.integration.exams.test_adaptive import take
from tests.integration.notifications.test_notifications_e2e import Stream, realtime_settings
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration
WAIT = 20.0  # a bound only a broken path reaches (no timing claim: see bench/)


@asynccontextmanager
async def running_analytics(settings: Settings) -> AsyncIterator[Consumer]:
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    config = ConsumerConfig(
        stream_prefix=settings.realtime.stream_prefix, claim_idle_ms=500, block_ms=200
    )
    member = Consumer(consumer(redis), pool, redis, "live", config)
    await member.ensure_groups()
    stop = asyncio.Event()
    task = asyncio.create_task(member.run(stop))
    try:
        yield member
    finally:
        stop.set()
        await task
        await redis.aclose()
        await pool.close()


async def until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """Poll `probe` until `done(value)`; fails after WAIT."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + WAIT
    while True:
        value = await probe()
        if done(value):
            return value
        assert loop.time() < ends, f"not reached: {value}"
        await asyncio.sleep(0.1)


def mart_mastery(
    settings: Settings, student_id: str
) -> dict[tuple[str, str | None], tuple[int, int]]:
    """(skill, class) -> (responses, correct) as fct_student_skill_mastery defines them, from the
    stored responses (not from the live tables)."""
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "select s.skill, e.class_id::text, count(*) as n,"
            " count(*) filter (where r.is_correct) as correct"
            " from exams.responses r join exams.attempts a using (attempt_id)"
            " join exams.exams e on e.exam_id = a.exam_id"
            " join content.items i on i.item_id = r.item_id"
            " cross join lateral unnest(i.skills) as s (skill)"
            " where a.student_id = %s group by s.skill, e.class_id",
            (student_id,),
        ).fetchall()
    return {(r["skill"], r["class_id"]): (r["n"], r["correct"]) for r in rows}


def attempt_row(settings: Settings, attempt_id: str) -> dict[str, Any]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "select theta, se, raw_score, max_score from exams.attempts where attempt_id = %s",
            (attempt_id,),
        ).fetchone()
    assert row is not None
    return row


async def test_live_progress_cached_and_invalidated_by_events(settings: Settings) -> None:
    s = realtime_settings(settings)
    with serve_in_thread(create_app(s)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as api:
            sch = await school(api, n_students=2, n_items=40)
            exam = await adaptive_exam(api, sch)
            first = await take(api, sch, 0, exam["exam_id"], theta=0.5, seed=1)
            # History before the consumer: its new group starts from the OLTP tables (rebuild).
            async with running_analytics(s):
                me = sch.students[0]

                async def my_progress() -> dict[str, Any]:
                    reply = await api.get("/api/v1/analytics/me/progress", headers=me.headers)
                    assert reply.status_code == 200, reply.text
                    return dict(reply.json())

                progress = await until(my_progress, lambda p: len(p["theta_history"]) == 1)
                stored = attempt_row(s, first["attempt_id"])
                point = progress["theta_history"][0]
                assert point["attempt_id"] == first["attempt_id"]
                assert math.isclose(point["theta"], stored["theta"], abs_tol=1e-9)
                assert math.isclose(point["se"], stored["se"], abs_tol=1e-9)
                expected = mart_mastery(s, me.user_id)
                assert expected, "the exam's items carry skills"
                got = {
                    (k["skill"], k["class_id"]): (k["response_count"], k["correct_count"])
                    for k in progress["skills"]
                }
                assert got == expected
                for k in progress["skills"]:
                    n, c = k["response_count"], k["correct_count"]
                    assert math.isclose(k["mastery_estimate"], round((c + 1) / (n + 2), 4))
                    assert k["is_mastered"] == (n >= 5 and (c + 1) / (n + 2) >= 0.8)
                [standing] = progress["classes"]
                assert standing["class_id"] == sch.class_id and standing["attempts_completed"] == 1
                assert math.isclose(
                    standing["mean_score_pct"],
                    stored["raw_score"] / stored["max_score"],
                    rel_tol=1e-9,
                )

                # The class: its teacher reads it; the cached answer stays right after the next event.
                teacher = sch.teacher.headers
                path = f"/api/v1/analytics/classes/{sch.class_id}/progress"
                klass = (await api.get(path, headers=teacher)).json()
                assert klass["attempts_completed"] == 1 and klass["active_students"] == 1
                assert klass["enrolled_students"] == 2
                assert math.isclose(klass["mean_theta"], stored["theta"], abs_tol=1e-9)
                assert (await api.get(path, headers=teacher)).json() == klass  # from the cache
                redis = Redis.from_url(s.redis_url, decode_responses=True)
                try:
                    cached = await redis.keys(f"analytics:class:{sch.class_id}:*")
                    assert len(cached) == 1
                    second = await take(api, sch, 1, exam["exam_id"], theta=-0.5, seed=2)
                    other = attempt_row(s, second["attempt_id"])

                    async def class_now() -> dict[str, Any]:
                        return dict((await api.get(path, headers=teacher)).json())

                    klass = await until(class_now, lambda k: k["theta_students"] == 2)
                    assert klass["attempts_completed"] == 2 and klass["active_students"] == 2
                    assert math.isclose(
                        klass["mean_theta"], (stored["theta"] + other["theta"]) / 2, abs_tol=1e-9
                    )
                    mean_pct = (
                        stored["raw_score"] / stored["max_score"]
                        + other["raw_score"] / other["max_score"]
                    ) / 2
                    assert math.isclose(klass["mean_score_pct"], mean_pct, rel_tol=1e-9)
                    assert {r["student_id"] for r in klass["students"]} == {
                        x.user_id for x in sch.students
                    }
                    # The superseded answers were deleted after the commit.
                    assert cached[0] not in await redis.keys(f"analytics:class:{sch.class_id}:*")
                finally:
                    await redis.aclose()

                # Who may read what.
                peer = sch.students[1]
                assert (await api.get(path, headers=peer.headers)).status_code == 403
                stranger = await user(api, "teacher")
                denied = await api.get(path, headers=stranger.headers)
                assert denied.status_code == 403 and "not_her_class" in denied.text
                presence = f"/api/v1/analytics/classes/{sch.class_id}/presence"
                assert (await api.get(presence, headers=peer.headers)).status_code == 403
                theirs = (await my_progress())["student_id"]
                assert theirs == me.user_id
                peer_view = (
                    await api.get("/api/v1/analytics/me/progress", headers=peer.headers)
                ).json()
                assert me.user_id not in str(peer_view)
                missing = await api.get(
                    "/api/v1/analytics/classes/00000000-0000-4000-8000-000000000000/progress",
                    headers=teacher,
                )
                assert missing.status_code == 404 and "class_id" in missing.text

                # Presence: online while her notification stream is open, gone when it ends.
                async def online() -> list[str]:
                    reply = await api.get(presence, headers=teacher)
                    assert reply.status_code == 200, reply.text
                    return [u["user_id"] for u in reply.json()["users"]]

                assert me.user_id not in await online()
                stream = Stream(api, me)
                await asyncio.wait_for(stream.connected.wait(), WAIT)
                await until(online, lambda users: me.user_id in users)
                await stream.close()
                await until(online, lambda users: me.user_id not in users)
