"""The CAT cache's Redis tier: coalesced background writes land, newest entry per attempt."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from redis.asyncio import Redis

from apis.exams import cat_cache
from core.settings import Settings
from psychometrics import CATState, ItemChoice


def _entry(attempt_id: str, position: int) -> cat_cache.Entry:
    header = {
        "attempt_id": attempt_id,
        "student_id": "s",
        "exam_id": "e",
        "seed": 7,
        "bank_key": "k",
        "deadline": None,
        "started_at": datetime.now(UTC).isoformat(),
    }
    state = CATState(seed=7, items=tuple(range(position)), responses=(1,) * position)
    return cat_cache.Entry(header, position, state, ItemChoice(position, False, "max info", 0.5))


async def test_a_burst_of_answers_leaves_each_attempts_latest_entry_in_redis(
    settings: Settings,
) -> None:
    redis = Redis.from_url(settings.redis_url)
    attempts = [secrets.token_hex(8) for _ in range(20)]
    try:
        for position in range(1, 4):  # three answers per attempt, all before the loop turns
            for attempt_id in attempts:
                cat_cache.put(redis, attempt_id, _entry(attempt_id, position))
        finished = attempts[0]
        cat_cache.put(redis, finished, None)  # its last answer completed it
        await cat_cache.drain()
        for attempt_id in attempts[1:]:
            stored = await cat_cache.shared(redis, attempt_id)
            assert stored is not None and stored.position == 3
            assert stored.state.items == (0, 1, 2)
            assert 0 < await redis.ttl(cat_cache.key(attempt_id)) <= cat_cache.TTL_SECONDS
        assert await redis.exists(cat_cache.key(finished)) == 0
        assert cat_cache.local(finished) is None
        assert cat_cache.local(attempts[1]) is not None
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
        cat_cache.put(dead, attempt_id, _entry(attempt_id, 1))  # logged, not raised
        await cat_cache.drain()
        assert await redis.exists(cat_cache.key(attempt_id)) == 0
        cat_cache.put(redis, attempt_id, _entry(attempt_id, 2))
        await asyncio.wait_for(cat_cache.drain(), 5)
        stored = await cat_cache.shared(redis, attempt_id)
        assert stored is not None and stored.position == 2
    finally:
        await redis.delete(cat_cache.key(attempt_id))
        await redis.aclose()
        await dead.aclose()
