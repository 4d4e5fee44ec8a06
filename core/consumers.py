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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from core.db import Pool

_log = logging.getLogger("dreamseed.consumers")

#: Redis hash counting failures per entry id of a consumer (cleared when the entry is done).
FAILURES_KEY: Final = "consumer:failures:"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One outbox event as the relay published it."""

    entry_id: str  # the stream entry id (Redis), for XACK
    stream: str
    event_id: str
    event_type: str
    aggregate_id: str
    occurred_at: datetime
    payload: dict[str, Any]

    @classmethod
    def from_entry(cls, stream: str, entry_id: str, fields: dict[str, str]) -> StreamEvent:
        return cls(
            entry_id=entry_id,
            stream=stream,
            event_id=fields["event_id"],
            event_type=fields["event_type"],
            aggregate_id=fields.get("aggregate_id", ""),
            occurred_at=datetime.fromisoformat(fields["occurred_at"]),
            payload=msgspec.json.decode(fields["payload"]),
        )


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


def dead_letter_stream(prefix: str, consumer: str) -> str:
    return f"{prefix}deadletter.{consumer}"


class Consumer:
    """One member (`member`) of consumer group `spec.name`."""

    def __init__(
        self, spec: ConsumerSpec, pool: Pool, redis: Redis, member: str, config: ConsumerConfig
    ) -> None:
        self.spec, self.pool, self.redis, self.member, self.config = (
            spec,
            pool,
            redis,
            member,
            config,
        )
        self.streams = tuple(config.stream_prefix + d for d in spec.domains)
        self.failures_key = FAILURES_KEY + spec.name
        self.handled = 0  # events whose effect this member committed
        self.parked = 0  # events this member moved to the dead-letter stream
        self._reclaim_at = 0.0  # (event loop clock) when to look for stale pending entries next

    async def ensure_groups(self) -> None:
        """Create the group on each stream (from its end: a new consumer starts with new events);
        when this member made one, run the spec's `on_new_group`."""
        made = False
        for stream in self.streams:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self.redis.xgroup_create(stream, self.spec.name, id="$", mkstream=True)
                made = True
        if made and self.spec.on_new_group is not None:
            async with self.pool.connection() as conn, conn.transaction():
                await self.spec.on_new_group(conn)

    async def _read(self) -> list[StreamEvent]:
        reply: Any = await self.redis.xreadgroup(
            self.spec.name,
            self.member,
            dict.fromkeys(self.streams, ">"),
            count=self.config.batch_size,
            block=self.config.block_ms,
        )
        return [
            StreamEvent.from_entry(_text(stream), _text(eid), _fields(f))
            for stream, entries in reply or []
            for eid, f in entries
            if f  # an entry trimmed away while pending comes back empty
        ]

    async def _reclaim(self) -> list[StreamEvent]:
        """Entries another member (or this one, before a crash) left pending too long."""
        out: list[StreamEvent] = []
        for stream in self.streams:
            reply: Any = await self.redis.xautoclaim(
                stream,
                self.spec.name,
                self.member,
                min_idle_time=self.config.claim_idle_ms,
                start_id="0-0",
                count=self.config.batch_size,
            )
            entries, deleted = reply[1], reply[2] if len(reply) > 2 else []
            out += [StreamEvent.from_entry(stream, _text(e), _fields(f)) for e, f in entries if f]
            if deleted:  # trimmed before anyone handled them: nothing left to do
                await self.redis.xack(stream, self.spec.name, *deleted)
        return out

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
        by_stream: dict[str, list[str]] = {}
        for e in events:
            by_stream.setdefault(e.stream, []).append(e.entry_id)
        for stream, ids in by_stream.items():
            await self.redis.xack(stream, self.spec.name, *ids)

    async def _one_by_one(self, events: Sequence[StreamEvent]) -> None:
        for event in events:
            try:
                await self._commit([event])
            except Exception as exc:  # the handler's failure: count it, park it when hopeless
                failures = await self.redis.hincrby(self.failures_key, event.entry_id, 1)
                if failures < self.config.max_deliveries:
                    _log.warning(
                        "consumer %s: event %s failed (%s)", self.spec.name, event.event_id, exc
                    )
                    continue  # stays pending; reclaimed after claim_idle_ms
                await self._park(event, exc)  # parked and acknowledged in one step
                continue
            await self._ack([event])
            await self.redis.hdel(self.failures_key, event.entry_id)

    async def _park(self, event: StreamEvent, exc: BaseException) -> None:
        """Dead-letter entry, XACK and the failure count in one MULTI: a member killed here
        either parked the event (and it is not redelivered) or did not (and it is retried), so
        a poison event is parked once."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                dead_letter_stream(self.config.stream_prefix, self.spec.name),
                {
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "stream": event.stream,
                    "entry_id": event.entry_id,
                    "payload": msgspec.json.encode(event.payload).decode(),
                    "error": "".join(traceback.format_exception_only(exc)).strip()[:2000],
                    "consumer": self.spec.name,
                },
            )
            pipe.xack(event.stream, self.spec.name, event.entry_id)
            pipe.hdel(self.failures_key, event.entry_id)
            await pipe.execute()
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
    out: dict[str, dict[str, int]] = {}
    for domain in domains:
        stream = prefix + domain
        with contextlib.suppress(ResponseError):  # no such stream yet
            for group in await redis.xinfo_groups(stream):
                if _text(group["name"]) == consumer:
                    out[stream] = {
                        "lag": int(group.get("lag") or 0),
                        "pending": int(group["pending"]),
                    }
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    if isinstance(next(iter(raw)), str):  # a client that decodes responses
        return dict(raw)
    return {_text(k): _text(v) for k, v in raw.items()}
