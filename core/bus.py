"""The event bus between the outbox relay and the consumers, behind one small interface.

- `EventSink` is what the relay (core.relay) publishes committed outbox events to: one call per
  domain of a batch, the domain's events in outbox order.
- `EventSource` is what a consumer (core.consumers) reads one consumer group's events from:
  new events for one member, entries another member left pending too long (reclaim), the
  acknowledgement after the effects commit, a failure count per entry, and the dead letter.

The implementation is Redis Streams (`RedisStreamSink`, `RedisStreamSource`): one stream
`<prefix><domain>` per domain, consumer groups, XAUTOCLAIM, a dead-letter stream per consumer. A
deployment that outgrows Redis Streams swaps these two classes (docs/realtime.md maps each call to
Kafka: topic per domain keyed by aggregate id, consumer-group offsets, a dead-letter topic); the
relay's cursor and the consumers' `realtime.processed` table, which make delivery at-least-once
and effects exactly-once, stay as they are.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

#: Streams are capped (approximately) at this many entries each.
STREAM_MAXLEN: Final = 1_000_000
#: Redis hash counting failures per entry id of a consumer (cleared when the entry is done).
FAILURES_KEY: Final = "consumer:failures:"


@dataclass(frozen=True, slots=True)
class BusEntry:
    """One outbox event as the relay hands it to the sink (payload: its JSON text)."""

    event_id: str
    event_type: str
    aggregate_id: str
    occurred_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One outbox event as a consumer reads it."""

    entry_id: str  # the bus's id of this delivery (Redis: the stream entry id), to acknowledge
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


def domain_of(event_type: str) -> str:
    """`exams.attempt.completed.v1` -> `exams`."""
    return event_type.split(".", 1)[0]


def dead_letter_stream(prefix: str, consumer: str) -> str:
    return f"{prefix}deadletter.{consumer}"


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """A dead letter: where it stands in the group's dead letters, what it was, and why."""

    position: str
    event_id: str
    event_type: str
    error: str


@runtime_checkable
class EventSink(Protocol):
    """Where the relay publishes. `publish` returns once every entry is stored by the bus (the
    relay moves its cursor only then); an entry may be stored twice (a relay that crashed before
    its cursor moved publishes it again), consumers drop it by `event_id`."""

    async def publish(self, domain: str, entries: Sequence[BusEntry]) -> None: ...


@runtime_checkable
class EventSource(Protocol):
    """One consumer group's view of the bus over its domains."""

    async def ensure_group(self) -> bool:
        """Make the group where it does not exist yet, reading from now on; True when this call
        made it (on any of its domains)."""
        ...

    async def read(self, member: str, count: int, block_ms: int) -> list[StreamEvent]:
        """Up to `count` events not yet delivered to the group, now delivered to `member`
        (waiting up to `block_ms` for the first)."""
        ...

    async def reclaim(self, member: str, min_idle_ms: int, count: int) -> list[StreamEvent]:
        """Events delivered to some member and not acknowledged for `min_idle_ms`, now
        delivered to `member`."""
        ...

    async def ack(self, events: Sequence[StreamEvent]) -> None:
        """The events' effects are committed: never deliver them to the group again."""
        ...

    async def failed(self, event: StreamEvent) -> int:
        """Count one more failure of the event; the count so far."""
        ...

    async def forget_failures(self, event: StreamEvent) -> None: ...

    async def park(self, event: StreamEvent, error: BaseException) -> None:
        """Move the event to the dead letters with its error and acknowledge it, in one step."""
        ...

    async def lag(self) -> dict[str, dict[str, int]]:
        """Per stream: events not yet delivered to the group (`lag`) and delivered but not
        acknowledged (`pending`)."""
        ...

    async def parked(self, after: str, count: int) -> list[ParkedEvent]:
        """Up to `count` of the group's dead letters parked after the one whose `position` is
        `after` ('0-0': from the first), oldest first."""
        ...


class RedisStreamSink:
    """Publishes to Redis Streams `<prefix><domain>` (XADD, capped at about STREAM_MAXLEN)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis, self.prefix = redis, prefix

    async def publish(self, domain: str, entries: Sequence[BusEntry]) -> None:
        if not entries:
            return
        stream = self.prefix + domain
        pipe = self.redis.pipeline(transaction=False)
        for e in entries:
            pipe.xadd(
                stream,
                {
                    "event_id": e.event_id,
                    "event_type": e.event_type,
                    "aggregate_id": e.aggregate_id,
                    "occurred_at": e.occurred_at.isoformat(),
                    "payload": e.payload,
                },
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        await pipe.execute()


class RedisStreamSource:
    """Consumer group `group` over the streams `<prefix><domain>` of `domains`."""

    def __init__(self, redis: Redis, prefix: str, group: str, domains: Sequence[str]) -> None:
        self.redis, self.prefix, self.group = redis, prefix, group
        self.streams = tuple(prefix + d for d in domains)
        self.failures_key = FAILURES_KEY + group

    async def ensure_group(self) -> bool:
        made = False
        for stream in self.streams:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self.redis.xgroup_create(stream, self.group, id="$", mkstream=True)
                made = True
        return made

    async def read(self, member: str, count: int, block_ms: int) -> list[StreamEvent]:
        reply: Any = await self.redis.xreadgroup(
            self.group, member, dict.fromkeys(self.streams, ">"), count=count, block=block_ms
        )
        return [
            StreamEvent.from_entry(_text(stream), _text(eid), _fields(f))
            for stream, entries in reply or []
            for eid, f in entries
            if f  # an entry trimmed away while pending comes back empty
        ]

    async def reclaim(self, member: str, min_idle_ms: int, count: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for stream in self.streams:
            reply: Any = await self.redis.xautoclaim(
                stream,
                self.group,
                member,
                min_idle_time=min_idle_ms,
                start_id="0-0",
                count=count,
            )
            entries, deleted = reply[1], reply[2] if len(reply) > 2 else []
            out += [StreamEvent.from_entry(stream, _text(e), _fields(f)) for e, f in entries if f]
            if deleted:  # trimmed before anyone handled them: nothing left to do
                await self.redis.xack(stream, self.group, *deleted)
        return out

    async def ack(self, events: Sequence[StreamEvent]) -> None:
        by_stream: dict[str, list[str]] = {}
        for e in events:
            by_stream.setdefault(e.stream, []).append(e.entry_id)
        for stream, ids in by_stream.items():
            await self.redis.xack(stream, self.group, *ids)

    async def failed(self, event: StreamEvent) -> int:
        return int(await self.redis.hincrby(self.failures_key, event.entry_id, 1))

    async def forget_failures(self, event: StreamEvent) -> None:
        await self.redis.hdel(self.failures_key, event.entry_id)

    async def park(self, event: StreamEvent, error: BaseException) -> None:
        """Dead-letter entry, XACK and the failure count in one MULTI: a member killed here
        either parked the event (and it is not redelivered) or did not (and it is retried), so
        a poison event is parked once."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                dead_letter_stream(self.prefix, self.group),
                {
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "stream": event.stream,
                    "entry_id": event.entry_id,
                    "payload": msgspec.json.encode(event.payload).decode(),
                    "error": "".join(traceback.format_exception_only(error)).strip()[:2000],
                    "consumer": self.group,
                },
            )
            pipe.xack(event.stream, self.group, event.entry_id)
            pipe.hdel(self.failures_key, event.entry_id)
            await pipe.execute()

    async def lag(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for stream in self.streams:
            with contextlib.suppress(ResponseError):  # no such stream yet
                for group in await self.redis.xinfo_groups(stream):
                    if _text(group["name"]) == self.group:
                        out[stream] = {
                            "lag": int(group.get("lag") or 0),
                            "pending": int(group["pending"]),
                        }
        return out

    async def parked(self, after: str, count: int) -> list[ParkedEvent]:
        stream = dead_letter_stream(self.prefix, self.group)
        entries: Any = await self.redis.xrange(stream, f"({after}", "+", count=count)
        out = []
        for entry_id, raw in entries or []:
            fields = _fields(raw)
            out.append(
                ParkedEvent(
                    _text(entry_id),
                    fields.get("event_id", "?"),
                    fields.get("event_type", "?"),
                    fields.get("error", ""),
                )
            )
        return out


def _conforms(redis: Redis) -> tuple[EventSink, EventSource]:
    """Never called: mypy checks here that the Redis classes are what the protocols say."""
    return RedisStreamSink(redis, ""), RedisStreamSource(redis, "", "", ())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    if isinstance(next(iter(raw)), str):  # a client that decodes responses
        return dict(raw)
    return {_text(k): _text(v) for k, v in raw.items()}
