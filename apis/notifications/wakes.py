"""One Redis pub/sub connection per API process for every open notification stream.

The consumer publishes a wake-up on `<prefix>notify:<user_id>` after it commits (rules.wake). A
stream per connection subscribing on its own would hold one Redis connection each (the client's
pool refuses new ones past its limit: a hundred open tabs broke streams), so the process keeps one
pattern subscription (`PSUBSCRIBE <prefix>notify:*`) and sets the asyncio events of that user's
open streams. A stream registers before it reads what is stored (no gap); if the subscription is
lost, every stream is woken once it is back (each re-reads after its last sequence number, so a
wake-up lost meanwhile costs nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

_log = logging.getLogger("dreamseed.notifications.wakes")


class WakeHub:
    """Wake-ups by user, from one pattern subscription started on first use."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def _run(self) -> None:
        pattern = f"{self.prefix}notify:*"
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                self._subscribed.set()
                self._wake_all()  # back after a loss: whatever was missed is re-read
                while True:
                    message: Any = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=1.0
                    )
                    if message is not None:
                        channel = str(message.get("channel", ""))
                        for event in self._waiters.get(channel.rpartition(":")[2], ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: streams keep their heartbeats; try again
                _log.warning("notification wake-ups: subscription lost; retrying", exc_info=True)
                self._subscribed.clear()
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    @contextlib.asynccontextmanager
    async def listen(self, user_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever something new is made for `user_id` (clear it after use)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        event = asyncio.Event()
        self._waiters.setdefault(user_id, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):  # Redis away: the stream still heartbeats
                await asyncio.wait_for(self._subscribed.wait(), 10.0)
            yield event
        finally:
            events = self._waiters.get(user_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[user_id]

    @property
    def listeners(self) -> int:
        return sum(len(e) for e in self._waiters.values())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
