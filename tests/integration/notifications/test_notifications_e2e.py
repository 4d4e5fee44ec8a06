"""The real-time path over HTTP with real PostgreSQL and Redis: a teacher posts an assignment, the
outbox relay publishes it, the notifications consumer makes one notification per student, and the
student's open Server-Sent Events stream receives it; she marks it read; returning her graded work
sends the next one; a student who turned the kind off gets none; a stream resumed with
Last-Event-ID first sends what was made while it was away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from apis.app import create_app
from apis.notifications.rules import consumer
from core.consumers import Consumer, ConsumerConfig
from core.db import create_pool
from core.settings import Settings
from tests.integration.exams.school import User, user
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration
WAIT = 20.0  # a bound that only a broken path reaches (no timing claim: see bench/)


def realtime_settings(settings: Settings) -> Settings:
    prefix = f"test:{secrets.token_hex(4)}:events."
    realtime = replace(
        settings.realtime,
        stream_prefix=prefix,
        sse_heartbeat_seconds=0.5,
        claim_idle_ms=500,
        block_ms=200,
    )
    return replace(
        settings, realtime=realtime, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000
    )


@asynccontextmanager
async def running_consumer(settings: Settings) -> AsyncIterator[Consumer]:
    pool = create_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = settings.realtime.stream_prefix
    config = ConsumerConfig(stream_prefix=prefix, claim_idle_ms=500, block_ms=200)
    member = Consumer(consumer(redis, prefix), pool, redis, "e2e", config)
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


class Stream:
    """An open SSE connection collecting `notification` events."""

    def __init__(self, api: httpx.AsyncClient, who: User, last_event_id: int | None = None):
        self.api, self.who, self.last = api, who, last_event_id
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        headers = dict(self.who.headers)
        if self.last is not None:
            headers["Last-Event-ID"] = str(self.last)
        async with self.api.stream(
            "GET", "/api/v1/notifications/stream", headers=headers, timeout=None
        ) as reply:
            assert reply.status_code == 200, await reply.aread()
            assert reply.headers["content-type"].startswith("text/event-stream")
            event: dict[str, str] = {}
            async for line in reply.aiter_lines():
                if line.startswith(":"):
                    self.connected.set()
                elif line == "" and event.get("event") == "notification":
                    self.events.put_nowait({**json.loads(event["data"]), "id": event["id"]})
                    event = {}
                elif ":" in line:
                    key, _, value = line.partition(":")
                    event[key] = value.strip()

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task


async def ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


async def post_assignment(api: httpx.AsyncClient, teacher: User, class_id: str, title: str) -> str:
    now = datetime.now(UTC)
    body = {
        "class_id": class_id,
        "kind": "task",
        "title": title,
        "accepts_text": True,
        "open_at": (now - timedelta(hours=1)).isoformat(),
        "due_at": (now + timedelta(days=2)).isoformat(),
        "late_policy": "accept",
        "points": 10,
    }
    made = await ok(await api.post("/api/v1/assignments", json=body, headers=teacher.headers), 201)
    return str(made["assignment_id"])


async def test_assignment_notifications_reach_the_open_stream_and_respect_preferences(
    settings: Settings,
) -> None:
    s = realtime_settings(settings)
    with serve_in_thread(create_app(s)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as api, running_consumer(s):
            teacher = await user(api, "teacher")
            student, muted = await user(api, "student"), await user(api, "student")
            klass = await ok(
                await api.post("/api/v1/classes", json={"name": "Live"}, headers=teacher.headers),
                201,
            )
            for who in (student, muted):
                await ok(
                    await api.post(
                        "/api/v1/classes/join",
                        json={"join_code": klass["join_code"]},
                        headers=who.headers,
                    )
                )
            off = {
                "preferences": [
                    {"kind": "assignment_posted", "channel": "in_app", "enabled": False}
                ]
            }
            prefs = await ok(
                await api.put("/api/v1/notifications/preferences", json=off, headers=muted.headers)
            )
            assert {"kind": "assignment_posted", "channel": "in_app", "enabled": False} in prefs[
                "preferences"
            ]
            stream = Stream(api, student)
            await asyncio.wait_for(stream.connected.wait(), WAIT)

            assignment_id = await post_assignment(api, teacher, klass["class_id"], "Fractions")
            posted = await stream.next()
            assert posted["kind"] == "assignment_posted" and "Fractions" in posted["title"]
            assert posted["link"] == f"/api/v1/assignments/{assignment_id}"
            mine = await ok(await api.get("/api/v1/notifications", headers=student.headers))
            assert mine["unread"] == 1
            read = await ok(
                await api.post(
                    f"/api/v1/notifications/{posted['notification_id']}/read",
                    headers=student.headers,
                )
            )
            assert read["read_at"] is not None
            assert (await ok(await api.get("/api/v1/notifications", headers=student.headers)))[
                "unread"
            ] == 0
            # Nobody reads or marks another's notification.
            foreign = await api.post(
                f"/api/v1/notifications/{posted['notification_id']}/read", headers=muted.headers
            )
            assert foreign.status_code == 404

            base = f"/api/v1/assignments/{assignment_id}"
            await ok(
                await api.post(
                    f"{base}/submissions",
                    json={"body": "A half of a half"},
                    headers=student.headers,
                ),
                201,
            )
            who = f"{base}/students/{student.user_id}"
            await ok(await api.post(f"{who}/grade", json={"points": 9}, headers=teacher.headers))
            await ok(await api.post(f"{who}/return", headers=teacher.headers))
            returned = await stream.next()
            assert returned["kind"] == "submission_returned" and "Points: 9" in returned["body"]
            await stream.close()

            # Away, then back with Last-Event-ID: what was made meanwhile comes first.
            second = await post_assignment(api, teacher, klass["class_id"], "Decimals")
            resumed = Stream(api, student, last_event_id=int(returned["id"]))
            again = await resumed.next()
            assert again["kind"] == "assignment_posted" and second in again["link"]
            await resumed.close()

            muted_list = await ok(await api.get("/api/v1/notifications", headers=muted.headers))
            assert [n["kind"] for n in muted_list["notifications"]] == []
            bad = await api.get(
                "/api/v1/notifications/stream",
                headers={**student.headers, "Last-Event-ID": "nope"},
            )
            assert bad.status_code == 400 and "Last-Event-ID" in bad.text
