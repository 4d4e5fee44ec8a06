"""The event bus interface (core.bus): the Redis Streams sink and source are what the protocols
say — every member present with the protocol's parameters — and a fake Redis records that the sink
writes the fields a consumer reads back, that the source drops entries trimmed while pending, acks
per stream, and parks a poison event, acknowledges it and forgets its failures in one MULTI."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from core.bus import (
    BusEntry,
    EventSink,
    EventSource,
    RedisStreamSink,
    RedisStreamSource,
    StreamEvent,
    dead_letter_stream,
    domain_of,
)


class FakePipeline:
    def __init__(self, redis: FakeRedis, transaction: bool) -> None:
        self.redis, self.transaction, self.calls = redis, transaction, []

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return queue

    async def execute(self) -> list[Any]:
        self.redis.executed.append((self.transaction, self.calls))
        return []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class FakeRedis:
    """Records pipelines and answers XREADGROUP with canned entries."""

    def __init__(self, reply: Any = None) -> None:
        self.reply, self.executed, self.calls = reply, [], []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self, transaction)

    async def xreadgroup(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("xreadgroup", args, kwargs))
        return self.reply

    async def xack(self, *args: Any) -> int:
        self.calls.append(("xack", args, {}))
        return len(args) - 2


def _members(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if inspect.iscoroutinefunction(value) and not name.startswith("_")
    ]


@pytest.mark.parametrize(
    ("implementation", "protocol"),
    [(RedisStreamSink, EventSink), (RedisStreamSource, EventSource)],
)
def test_the_redis_classes_have_every_member_with_its_parameters(
    implementation: type, protocol: type
) -> None:
    members = _members(protocol)
    assert members, protocol
    for name in members:
        theirs = inspect.signature(getattr(protocol, name))
        ours = inspect.signature(getattr(implementation, name))
        assert inspect.iscoroutinefunction(getattr(implementation, name)), name
        assert list(ours.parameters) == list(theirs.parameters), name
        assert ours.return_annotation == theirs.return_annotation, name
    redis: Any = FakeRedis()
    made = (
        RedisStreamSink(redis, "p.")
        if implementation is RedisStreamSink
        else RedisStreamSource(redis, "p.", "g", ("exams",))
    )
    assert isinstance(made, protocol)


def test_a_class_missing_a_member_is_not_a_source() -> None:
    class NoPark:
        async def read(self, member: str, count: int, block_ms: int) -> list[StreamEvent]:
            return []

    assert not isinstance(NoPark(), EventSource)
    assert not isinstance(NoPark(), EventSink)


async def test_the_sink_writes_what_a_consumer_reads_back() -> None:
    redis = FakeRedis()
    at = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    entries = [
        BusEntry(f"00000000-0000-7000-8000-00000000000{n}", "exams.attempt.completed.v1",
                 f"agg{n}", at, f'{{"n": {n}}}')
        for n in range(3)
    ]  # fmt: skip
    await RedisStreamSink(redis, "events.").publish("exams", entries)
    await RedisStreamSink(redis, "events.").publish("exams", [])  # nothing: no round trip
    [(transaction, calls)] = redis.executed
    assert not transaction
    read = [
        StreamEvent.from_entry(args[0], f"{n}-0", args[1])
        for n, (name, args, kwargs) in enumerate(calls)
        if name == "xadd" and kwargs["maxlen"] and kwargs["approximate"]
    ]
    assert [(e.stream, e.event_id, e.aggregate_id, e.occurred_at, e.payload) for e in read] == [
        ("events.exams", e.event_id, e.aggregate_id, at, {"n": n}) for n, e in enumerate(entries)
    ]
    assert domain_of("exams.attempt.completed.v1") == "exams"


def _event(stream: str, entry_id: str) -> StreamEvent:
    return StreamEvent(entry_id, stream, "e-" + entry_id, "exams.x.v1", "", datetime.now(UTC), {})


async def test_the_source_reads_acks_and_parks() -> None:
    fields = {"event_id": "e1", "event_type": "exams.x.v1", "occurred_at": "2026-12-07T06:00:00",
              "payload": '{"a": 1}'}  # fmt: skip
    redis: Any = FakeRedis(reply=[("p.exams", [("1-0", fields), ("2-0", {})])])
    source = RedisStreamSource(redis, "p.", "notifications", ("exams", "content"))
    [event] = await source.read("m1", 10, 5)  # the trimmed entry is left out
    assert (event.entry_id, event.stream, event.payload) == ("1-0", "p.exams", {"a": 1})
    _, args, kwargs = redis.calls[0]
    assert args[:2] == ("notifications", "m1") and set(args[2]) == {"p.exams", "p.content"}
    assert kwargs == {"count": 10, "block": 5}

    batch: Sequence[StreamEvent] = [
        _event("p.exams", "1-0"), _event("p.content", "2-0"), _event("p.exams", "3-0")
    ]  # fmt: skip
    await source.ack(batch)
    assert [c[1] for c in redis.calls if c[0] == "xack"] == [
        ("p.exams", "notifications", "1-0", "3-0"),
        ("p.content", "notifications", "2-0"),
    ]

    await source.park(batch[0], ValueError("bad payload"))
    [(transaction, calls)] = redis.executed
    assert transaction  # one MULTI: parked, acknowledged and forgotten together
    assert [name for name, _, _ in calls] == ["xadd", "xack", "hdel"]
    stream, dead = calls[0][1]
    assert stream == dead_letter_stream("p.", "notifications") == "p.deadletter.notifications"
    assert (dead["event_id"], dead["error"], dead["consumer"]) == (
        "e-1-0",
        "ValueError: bad payload",
        "notifications",
    )
    assert calls[2][1] == ("consumer:failures:notifications", "1-0")
