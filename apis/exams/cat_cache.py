"""The cache of adaptive attempts' CAT state, in two tiers, never trusted.

An entry holds what answering the attempt's current item needs: the attempt's immutable header
(student, exam, seed, bank, deadline, start), how many items are answered, the CAT state after
them and the selection waiting for an answer.

- **This process** (an LRU of entries): no round trip, right whenever this replica served the
  attempt's previous step.
- **Redis** (JSON, `exams:cat:<attempt id>`, 6 h TTL): shared by the replicas. Writes are sent in
  the background after the reply is on its way; a lost or late write only costs a rebuild.

One `CatCache` per app, held on the app state (`ExamCaches.cat`), bound to the app's Redis client.

Neither tier is the truth. PostgreSQL is: the answer's write is conditional on the attempt still
being at the entry's position (see `recording`), so a stale entry from either tier makes that
write match nothing, and the caller falls back to the next tier, then to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from cachetools import LRUCache
from redis.asyncio import Redis

from apis.exams.model import AttemptHeader
from apis.gateway.timing import stage
from psychometrics import CATState, ItemChoice

_log = logging.getLogger("dreamseed.exams")

PREFIX = "exams:cat:"
TTL_SECONDS = 6 * 3600
TIMEOUT_SECONDS = 0.25
LOCAL_SIZE = 20_000
DRAIN_SECONDS = 2.0


class Entry(msgspec.Struct, frozen=True):
    header: AttemptHeader  # what never changes once the attempt has started
    position: int  # items answered
    state: CATState  # after those answers
    pending: ItemChoice  # the selection being asked


class CacheWrite(msgspec.Struct, frozen=True):
    """A change to make once the transaction that justifies it has committed."""

    attempt_id: str
    entry: Entry | None  # None: the attempt is finished, forget it


def key(attempt_id: str) -> str:
    return PREFIX + attempt_id


def _numpy_scalar(value: Any) -> Any:
    """msgspec hook for numpy scalars in the CAT state (int64 → int, float64 is a float)."""
    if hasattr(value, "item"):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


class _Stored(msgspec.Struct):
    """An entry as Redis holds it (JSON)."""

    position: int
    attempt: AttemptHeader
    state: dict[str, Any]
    pending: tuple[int, bool, str, float | None]


# msgspec encodes the CATState dataclass (and its Decision tuple) directly, giving the JSON of
# `CATState.to_dict()` without building that dict (dataclasses.asdict deep-copies every field).
_encode = msgspec.json.Encoder(enc_hook=_numpy_scalar).encode
_decode = msgspec.json.Decoder(_Stored).decode


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
        stored = _decode(raw)
        item, pilot, reason, criterion = stored.pending
        return Entry(
            stored.attempt,
            stored.position,
            CATState.from_dict(stored.state),
            ItemChoice(item, pilot, reason, criterion),
        )
    except (msgspec.DecodeError, KeyError, TypeError, ValueError):
        return None


class CatCache:
    """Both tiers for one app: this process's LRU and the Redis client `redis`, whose writes
    are coalesced: whatever the answers finished while the previous pipeline was out goes in the
    next one, the latest entry of each attempt only. Under load that is one round trip for many
    answers instead of a task and a round trip each, which matters most when answers complete
    in a burst (after a slow disk flush)."""

    def __init__(self, redis: Redis, local_size: int = LOCAL_SIZE) -> None:
        self.redis = redis
        self._local: LRUCache[str, Entry] = LRUCache(maxsize=local_size)
        self._pending: dict[str, Entry | None] = {}
        self._task: asyncio.Task[None] | None = None
        # How this process got the CAT state of the answers it served (observability, tests).
        self.hits = 0
        self.rebuilds = 0

    def local(self, attempt_id: str) -> Entry | None:
        entry: Entry | None = self._local.get(attempt_id)
        return entry

    def drop_local(self, attempt_id: str | None = None) -> None:
        """Forget this process's entry of an attempt (stale), or all of them."""
        if attempt_id is None:
            self._local.clear()
        else:
            self._local.pop(attempt_id, None)

    async def shared(self, attempt_id: str) -> Entry | None:
        """The Redis tier's entry; None when absent, garbage or Redis is down or slow."""
        try:
            # asyncio.timeout, not wait_for: no extra task per call.
            async with asyncio.timeout(TIMEOUT_SECONDS):
                with stage("cache"):
                    raw = await self.redis.get(key(attempt_id))
        except Exception as exc:  # Redis down or slow: PostgreSQL has everything
            _log.warning("CAT cache read failed for %s (%s); rebuilding", attempt_id, exc)
            return None
        return decode(raw) if raw else None

    def put(self, attempt_id: str, entry: Entry | None) -> None:
        """Remember `entry` in both tiers (None: the attempt is finished, forget it)."""
        if entry is None:
            self._local.pop(attempt_id, None)
        else:
            self._local[attempt_id] = entry
        self._pending[attempt_id] = entry
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write())

    def apply(self, write: CacheWrite | None) -> None:
        if write is not None:
            self.put(write.attempt_id, write.entry)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
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

    async def drain(self) -> None:
        """Wait (at most `DRAIN_SECONDS`) for the background write in flight (shutdown, tests)."""
        task = self._task
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([task], timeout=DRAIN_SECONDS)
