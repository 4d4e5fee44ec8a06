"""The cache of adaptive attempts' CAT state, in two tiers, never trusted.

An entry holds what answering the attempt's current item needs: the attempt's immutable header
(student, exam, seed, bank, deadline, start), how many items are answered, the CAT state after
them and the selection waiting for an answer.

- **This process** (an LRU of entries): no round trip, right whenever this replica served the
  attempt's previous step.
- **Redis** (JSON, `exams:cat:<attempt id>`, 6 h TTL): shared by the replicas. Writes are sent in
  the background after the reply is on its way; a lost or late write only costs a rebuild.

Neither tier is the truth. PostgreSQL is: the answer's write is conditional on the attempt still
being at the entry's position (see `recording`), so a stale entry from either tier makes that
write match nothing, and the caller falls back to the next tier, then to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis

from apis.exams.lru import Lru
from apis.gateway.timing import stage
from psychometrics import CATState, ItemChoice

_log = logging.getLogger("dreamseed.exams")

PREFIX = "exams:cat:"
TTL_SECONDS = 6 * 3600
TIMEOUT_SECONDS = 0.25
LOCAL_SIZE = 20_000
# The attempt row's fields that never change once it has started.
HEADER = ("attempt_id", "student_id", "exam_id", "seed", "bank_key", "deadline", "started_at")
# How this process got the CAT state of the answers it served (observability and tests).
STATS = {"hits": 0, "rebuilds": 0}


@dataclass(frozen=True)
class Entry:
    header: dict[str, Any]  # HEADER fields; deadline and started_at as datetimes
    position: int  # items answered
    state: CATState  # after those answers
    pending: ItemChoice  # the selection being asked


def key(attempt_id: str) -> str:
    return PREFIX + attempt_id


def _numpy_scalar(value: Any) -> Any:
    """msgspec hook for numpy scalars in the CAT state (int64 → int, float64 is a float)."""
    if hasattr(value, "item"):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


# msgspec encodes the CATState dataclass (and its Decision tuple) directly, giving the JSON of
# `CATState.to_dict()` without building that dict (dataclasses.asdict deep-copies every field).
_encode = msgspec.json.Encoder(enc_hook=_numpy_scalar).encode
_decode = msgspec.json.Decoder().decode


def encode(entry: Entry) -> bytes:
    p = entry.pending
    return _encode(
        {
            "position": entry.position,
            "attempt": entry.header,
            "state": entry.state,
            "pending": [p.item, p.pilot, p.reason, p.value],
        }
    )


def decode(raw: bytes | str) -> Entry | None:
    """The entry in `raw`, or None when it is malformed or written by an older version."""
    try:
        value = _decode(raw)
        header = dict(value["attempt"])
        missing = [k for k in HEADER if k not in header]
        if missing:
            return None
        deadline = header["deadline"]
        header["deadline"] = datetime.fromisoformat(deadline) if deadline else None
        header["started_at"] = datetime.fromisoformat(header["started_at"])
        item, pilot, reason, criterion = value["pending"]
        return Entry(
            header,
            int(value["position"]),
            CATState.from_dict(value["state"]),
            ItemChoice(int(item), bool(pilot), str(reason), criterion),
        )
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        return None


LOCAL = Lru(LOCAL_SIZE)
# Background Redis writes still running (kept referenced until done).
_writes: set[asyncio.Task[None]] = set()


def local(attempt_id: str) -> Entry | None:
    entry: Entry | None = LOCAL.get_fresh(attempt_id)
    return entry


async def shared(redis: Redis, attempt_id: str) -> Entry | None:
    """The Redis tier's entry; None when absent, garbage or Redis is down or slow."""
    try:
        # asyncio.timeout, not wait_for: no extra task per call.
        async with asyncio.timeout(TIMEOUT_SECONDS):
            with stage("cache"):
                raw = await redis.get(key(attempt_id))
    except Exception as exc:  # Redis down or slow: PostgreSQL has everything
        _log.warning("CAT cache read failed for %s (%s); rebuilding", attempt_id, exc)
        return None
    return decode(raw) if raw else None


def put(redis: Redis, attempt_id: str, entry: Entry | None) -> None:
    """Remember `entry` in both tiers (None: the attempt is finished, forget it)."""
    if entry is None:
        LOCAL.pop(attempt_id, None)
    else:
        LOCAL.put(attempt_id, entry)
    writer = _writers.get(redis)
    if writer is None:
        writer = _writers[redis] = _WriteBehind(redis)
    writer.put(attempt_id, entry)


class _WriteBehind:
    """The Redis tier's writes of one client, coalesced: whatever the answers finished while the
    previous pipeline was out goes in the next one, the latest entry of each attempt only. Under
    load that is one round trip for many answers instead of a task and a round trip each, which
    matters most when answers complete in a burst (after a slow disk flush)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.pending: dict[str, Entry | None] = {}
        self.task: asyncio.Task[None] | None = None

    def put(self, attempt_id: str, entry: Entry | None) -> None:
        self.pending[attempt_id] = entry
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
            _writes.add(self.task)
            self.task.add_done_callback(_writes.discard)

    async def _run(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, {}
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    pipe = self.redis.pipeline(transaction=False)
                    for attempt_id, entry in batch.items():
                        if entry is None:
                            pipe.delete(key(attempt_id))
                        else:
                            pipe.set(key(attempt_id), encode(entry), ex=TTL_SECONDS)
                    await pipe.execute()
            except Exception as exc:  # the cache is optional: PostgreSQL already has everything
                _log.warning("CAT cache write of %d attempts failed (%s)", len(batch), exc)


# One write-behind per Redis client (each app has its own, on its own event loop).
_writers: weakref.WeakKeyDictionary[Redis, _WriteBehind] = weakref.WeakKeyDictionary()


DRAIN_SECONDS = 2.0


async def drain() -> None:
    """Wait (at most `DRAIN_SECONDS`) for this event loop's background writes in flight (shutdown,
    tests); writes of another loop (an app that already stopped) are not waited for."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _writes if not t.done() and t.get_loop() is loop]
    if mine:
        await asyncio.wait(mine, timeout=DRAIN_SECONDS)
