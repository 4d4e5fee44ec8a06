"""The CAT cache's Redis tier: coalesced background writes land, newest entry per attempt."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from redis.asyncio import Redis

from apis.exams import cat_cache
from apis.exams.model import AttemptHeader
from core.settings import Settings
from psychometrics import CATState, ItemChoice

STARTED = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _entry(attempt_id: str, position: int) -> cat_cache.Entry:
    header = AttemptHeader(
        attempt_id=attempt_id,
        student_id="s",
        exam_id="e",
        seed=7,
        bank_key="k",
        deadline=None,
        started_at=STARTED,
    )
    state = CATState(seed=7, items=tuple(range(position)), responses=(1,) * position)
    return cat_cache.Entry(header, position, state, ItemChoice(position, False, "max info", 0.5))


async def test_a_burst_of_answers_leaves_each_attempts_latest_entry_in_redis(
    settings: Settings,
) -> None:
    redis = Redis.from_url(settings.redis_url)
    cache = cat_cache.CatCache(redis)
    attempts = [secrets.token_hex(8) for _ in range(20)]
    try:
        for position in range(1, 4):  # three answers per attempt, all before the loop turns
            for attempt_id in attempts:
                cache.put(attempt_id, _entry(attempt_id, position))
        finished = attempts[0]
        cache.put(finished, None)  # its last answer completed it
        await cache.drain()
        for attempt_id in attempts[1:]:
            stored = await cache.shared(attempt_id)
            assert stored is not None and stored.position == 3
            assert stored.state.items == (0, 1, 2)
            assert stored.header == _entry(attempt_id, 3).header  # typed, datetimes included
            assert 0 < await redis.ttl(cat_cache.key(attempt_id)) <= cat_cache.TTL_SECONDS
        assert await redis.exists(cat_cache.key(finished)) == 0
        assert cache.local(finished) is None
        assert cache.local(attempts[1]) is not None
    finally:
        await redis.delete(*(cat_cache.key(a) for a in attempts))
        await redis.aclose()


async def test_a_write_while_redis_is_down_is_dropped_and_later_writes_land(
    settings: Settings,
) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    redis = Redis.from_url(settings.redis_url)
    attempt_id = secrets.token_hex(8)
    try:
        down = cat_cache.CatCache(dead)
        down.put(attempt_id, _entry(attempt_id, 1))  # logged, not raised
        await down.drain()
        assert await redis.exists(cat_cache.key(attempt_id)) == 0
        live = cat_cache.CatCache(redis)
        live.put(attempt_id, _entry(attempt_id, 2))
        await asyncio.wait_for(live.drain(), 5)
        stored = await live.shared(attempt_id)
        assert stored is not None and stored.position == 2
    finally:
        await redis.delete(cat_cache.key(attempt_id))
        await redis.aclose()
        await dead.aclose()
