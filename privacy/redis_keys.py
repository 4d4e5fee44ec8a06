"""A subject's Redis keys and stream entries, found from the inventory's key prefixes.

A key belongs to the subject when its name holds one of her needles (her id, or the hashed e-mail
the sign-in throttle keys by) or, for the prefixes whose values carry ids (adaptive attempt state),
when its value does. Streams (`events.*`) keep raw ids inside entries: those entries are the
subject's, not the whole stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from privacy.postgres import Subject

SCAN_COUNT = 1000
STREAM_PAGE = 1000


def needles(subject: Subject) -> tuple[str, ...]:
    found = [subject.user_id]
    if subject.email:
        # core.login_throttle keys sign-in failures by this digest, never by the clear address.
        found.append(hashlib.sha256(subject.email.strip().lower().encode()).hexdigest()[:32])
    return tuple(found)


@dataclass(slots=True)
class RedisFindings:
    keys: dict[str, Any] = field(default_factory=dict)  # key -> value (as exported)
    stream_entries: dict[str, list[tuple[str, dict[str, str]]]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.keys) + sum(len(v) for v in self.stream_entries.values())


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _value(client: redis.Redis, key: str, kind: str) -> Any:
    if kind == "string":
        return _text(client.get(key))
    if kind == "hash":
        return {_text(k): _text(v) for k, v in client.hgetall(key).items()}
    if kind == "set":
        return sorted(_text(v) for v in client.smembers(key))
    if kind == "zset":
        return [[_text(pair[0]), pair[1]] for pair in client.zrange(key, 0, -1, withscores=True)]
    if kind == "list":
        return [_text(v) for v in client.lrange(key, 0, -1)]
    return None


def _stream_entries(
    client: redis.Redis, key: str, marks: Sequence[str]
) -> Iterator[tuple[str, dict[str, str]]]:
    start = "-"
    while True:
        page = client.xrange(key, min=start, count=STREAM_PAGE)
        if not page:
            return
        for entry_id, fields in page:
            values = {_text(k): _text(v) for k, v in (fields or {}).items()}
            if any(m in v for v in values.values() for m in marks):
                yield _text(entry_id), values
        if len(page) < STREAM_PAGE:
            return
        start = "(" + _text(page[-1][0])


def find(client: redis.Redis, inventory: Mapping[str, Any], subject: Subject) -> RedisFindings:
    marks = needles(subject)
    found = RedisFindings()
    for prefix in inventory["redis"]:
        for raw in client.scan_iter(match=prefix + "*", count=SCAN_COUNT):
            key = _text(raw)
            kind = _text(client.type(key))
            if kind == "stream":
                entries = list(_stream_entries(client, key, (subject.user_id,)))
                if entries:
                    found.stream_entries[key] = entries
                continue
            by_name = any(m in key for m in marks)
            value = _value(client, key, kind)
            if by_name or subject.user_id in repr(value):
                found.keys[key] = value
    return found


def erase(client: redis.Redis, findings: RedisFindings) -> int:
    """Delete the keys and stream entries found; returns how many went."""
    removed = 0
    if findings.keys:
        removed += int(client.delete(*findings.keys))
    for stream, entries in findings.stream_entries.items():
        removed += int(client.xdel(stream, *[entry_id for entry_id, _ in entries]))
    return removed
