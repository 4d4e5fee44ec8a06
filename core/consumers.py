"""Event consumers on Redis Streams consumer groups: at-least-once delivery, effects exactly once.

The relay (core.relay) publishes every outbox event to `<prefix><domain>`. A consumer is a named
consumer group over some of those streams; each process of it (`dreamseed consume NAME`, any
number of replicas) is one member of the group. For each batch read:

1. one PostgreSQL transaction records the batch's event ids in `realtime.processed` (consumer,
   event_id) — ids already there were handled before (a redelivery after a crash between commit
   and XACK) and are skipped — and runs the spec's batch handler once on the new ones (set-wise:
   a handful of statements per batch, not per event), so the effects and the record that they
   happened commit together: each event's effect happens exactly once;
2. after the commit the entries are acknowledged (XACK).

A process that dies leaves its entries pending; any member reclaims entries idle longer than
`claim_idle_ms` (XAUTOCLAIM, looked for every `claim_idle_ms / 2`) and handles them. When a batch fails, its events are retried one at a
time (the batch handler with a one-element list, so one bad event cannot hold its batch back);
after `max_deliveries` failures an event is parked in the dead-letter stream
`<prefix>deadletter.<consumer>` with the error, and acknowledged.

Lag (entries not yet delivered to the group, and pending ones) is read with XINFO GROUPS.

The Redis calls are behind `core.bus.EventSource` (Redis Streams: `core.bus.RedisStreamSource`),
so another bus can take their place (docs/realtime.md, *Scale-out to Kafka*).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import AsyncConnection
from redis.asyncio import Redis

from core.bus import (
    FAILURES_KEY,
    EventSource,
    RedisStreamSource,
    StreamEvent,
    dead_letter_stream,
)
from core.db import Pool

__all__ = [
    "FAILURES_KEY",
    "AfterCommit",
    "BatchHandler",
    "Consumer",
    "ConsumerConfig",
    "ConsumerSpec",
    "Handler",
    "StreamEvent",
    "dead_letter_stream",
    "lag",
    "per_event",
]

_log = logging.getLogger("dreamseed.consumers")


#: Work to do after the commit (e.g. publishing to SSE listeners), which must be safe to lose.
AfterCommit = Callable[[], Awaitable[None]]
#: A per-event handler: runs inside the batch's transaction, may write with `conn`.
Handler = Callable[[AsyncConnection[Any], StreamEvent], Awaitable[AfterCommit | None]]
#: A batch handler: the batch's new events (each once, in stream order within a stream), in one
#: call inside the batch's transaction; it should work set-wise (one statement per kind of effect,
#: not per event). It must give each event the effect it would have alone: the events may also
#: come one at a time (the retry of a failed batch) or in any grouping.
BatchHandler = Callable[
    [AsyncConnection[Any], Sequence[StreamEvent]], Awaitable[AfterCommit | None]
]


def per_event(handle: Handler) -> BatchHandler:
    """A batch handler running a per-event handler on each event in turn (one or more round trips
    per event: for consumers whose volume does not call for set-wise handling)."""

    async def handle_batch(
        conn: AsyncConnection[Any], events: Sequence[StreamEvent]
    ) -> AfterCommit | None:
        after = [then for e in events if (then := await handle(conn, e)) is not None]
        if not after:
            return None

        async def all_of_them() -> None:
            for then in after:
                with contextlib.suppress(Exception):
                    await then()

        return all_of_them

    return handle_batch


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    name: str  # the consumer group; also the key of its processed events
    domains: tuple[str, ...]  # streams `<prefix><domain>` it reads
    handle_batch: BatchHandler
    #: Run (in a transaction) by the member that made the group, after making it: a consumer
    #: whose state is derived from history builds it from PostgreSQL here (a new group reads
    #: only new events) and marks the events it covered in `realtime.processed`.
    on_new_group: Callable[[AsyncConnection[Any]], Awaitable[object]] | None = None


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    stream_prefix: str = "events."
    claim_idle_ms: int = 30_000
    max_deliveries: int = 3
    batch_size: int = 200
    block_ms: int = 1_000


class Consumer:
    """One member (`member`) of consumer group `spec.name`, reading from `source` (by default
    the Redis Streams `<config.stream_prefix><domain>` of the spec's domains)."""

    def __init__(
        self,
        spec: ConsumerSpec,
        pool: Pool,
        redis: Redis,
        member: str,
        config: ConsumerConfig,
        source: EventSource | None = None,
    ) -> None:
        self.spec, self.pool, self.member, self.config = spec, pool, member, config
        self.streams = tuple(config.stream_prefix + d for d in spec.domains)  # what it reads
        self.source: EventSource = source or RedisStreamSource(
            redis, config.stream_prefix, spec.name, spec.domains
        )
        self.handled = 0  # events whose effect this member committed
        self.parked = 0  # events this member moved to the dead-letter stream
        self._reclaim_at = 0.0  # (event loop clock) when to look for stale pending entries next

    async def ensure_groups(self) -> None:
        """Create the group (from the end of its streams: a new consumer starts with new events);
        when this member made it, run the spec's `on_new_group`."""
        made = await self.source.ensure_group()
        if made and self.spec.on_new_group is not None:
            async with self.pool.connection() as conn, conn.transaction():
                await self.spec.on_new_group(conn)

    async def _read(self) -> list[StreamEvent]:
        return await self.source.read(self.member, self.config.batch_size, self.config.block_ms)

    async def _reclaim(self) -> list[StreamEvent]:
        """Entries another member (or this one, before a crash) left pending too long."""
        return await self.source.reclaim(
            self.member, self.config.claim_idle_ms, self.config.batch_size
        )

    async def _commit(self, events: Sequence[StreamEvent]) -> None:
        """Handle `events` in one transaction, with one call of the batch handler; skip those
        already processed."""
        then: AfterCommit | None = None
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "insert into realtime.processed (consumer, event_id)"
                " select %s, e::uuid from jsonb_array_elements_text(%s::jsonb) e"
                " on conflict do nothing returning event_id::text",
                (self.spec.name, msgspec.json.encode([e.event_id for e in events]).decode()),
            )
            new = {r["event_id"] for r in await cur.fetchall()}
            fresh: list[StreamEvent] = []
            for event in events:
                if event.event_id in new:
                    new.discard(event.event_id)  # the same event twice in one batch: once
                    fresh.append(event)
            if fresh:
                then = await self.spec.handle_batch(conn, fresh)
        self.handled += len(fresh)  # committed
        if then is not None:
            with contextlib.suppress(Exception):
                await then()

    async def _ack(self, events: Sequence[StreamEvent]) -> None:
        await self.source.ack(events)

    async def _one_by_one(self, events: Sequence[StreamEvent]) -> None:
        for event in events:
            try:
                await self._commit([event])
            except Exception as exc:  # the handler's failure: count it, park it when hopeless
                failures = await self.source.failed(event)
                if failures < self.config.max_deliveries:
                    _log.warning(
                        "consumer %s: event %s failed (%s)", self.spec.name, event.event_id, exc
                    )
                    continue  # stays pending; reclaimed after claim_idle_ms
                await self._park(event, exc)  # parked and acknowledged in one step
                continue
            await self._ack([event])
            await self.source.forget_failures(event)

    async def _park(self, event: StreamEvent, exc: BaseException) -> None:
        """Parked with its error and acknowledged in one step of the source (Redis: one MULTI):
        a member killed here either parked the event (and it is not redelivered) or did not (and
        it is retried), so a poison event is parked once."""
        await self.source.park(event, exc)
        self.parked += 1
        _log.error(
            "consumer %s: event %s parked as dead letter: %s", self.spec.name, event.event_id, exc
        )

    async def step(self) -> int:
        """Handle what was reclaimed, else what is new; the number of entries dealt with.

        Stale pending entries are looked for every `claim_idle_ms / 2` (and at once again after
        a look that found some), not before every read: an entry is reclaimed between
        `claim_idle_ms` and 1.5 × `claim_idle_ms` after its delivery, and a busy member spends
        no round trip per batch and stream on a reclaim that finds nothing."""
        events: list[StreamEvent] = []
        now = asyncio.get_running_loop().time()
        if now >= self._reclaim_at:
            events = await self._reclaim()
            self._reclaim_at = now + (0.0 if events else self.config.claim_idle_ms / 2000)
        if not events:
            events = await self._read()
        if not events:
            return 0
        try:
            await self._commit(events)
        except Exception:
            await self._one_by_one(events)  # find the bad one(s); the rest commit
            return len(events)
        await self._ack(events)
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_groups()
        while not stop.is_set():
            try:
                await self.step()
            except Exception:  # Redis or PostgreSQL away: wait and go on (nothing is lost)
                _log.exception("consumer %s: step failed; retrying", self.spec.name)
                await asyncio.sleep(1.0)


async def lag(
    redis: Redis, prefix: str, consumer: str, domains: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per stream: entries not yet delivered to the group (`lag`) and delivered but unacknowledged
    (`pending`)."""
    return await RedisStreamSource(redis, prefix, consumer, domains).lag()
