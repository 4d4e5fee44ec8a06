"""The API's policy decision log: governance's `DecisionLog` with cheaper batches.

Same guarantees as `governance.decision_log.DecisionLog` (non-blocking `record`, bounded buffer
that refuses rather than drops the oldest, retries with backoff keeping the batch, idempotent
writes), two changes for a busy API process:

- **Linger**: the writer waits `linger_seconds` (default 50 ms) after the first decision of a
  batch unless a full batch is already queued, so at 100 requests/s a write carries ~10
  decisions instead of one or two (each write costs a PostgreSQL round trip plus the statement).
- **One statement per batch**: `insert … select from unnest(<one array per column>) on conflict
  (decision_id) do nothing`, instead of `executemany` (one Bind/Execute per row); autocommit, so
  the statement is its own transaction and `txid` is that transaction's id as before.

Decisions are written at most `linger_seconds` later than before; `flush()` and `stop()` still
wait for every recorded decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from psycopg.types.json import Jsonb

from governance.decision import Decision
from governance.decision_log import DecisionLog, log

UNNEST_SQL: Final = (
    "insert into governance.decisions (decision_id, decided_at, decision, subject_id,"
    " subject_role, action, resource, allowed, reason, policy_revision, latency_us, request_id)"
    " select * from unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::jsonb[], %s::bool[], %s::text[], %s::text[], %s::int[], %s::text[])"
    " on conflict (decision_id) do nothing"
)


def batch_columns(batch: Sequence[Decision]) -> tuple[list[Any], ...]:
    """The UNNEST_SQL parameters: one list per column, in column order."""
    return (
        [d.decision_id for d in batch],
        [d.decided_at for d in batch],
        [d.decision for d in batch],
        [d.subject_id for d in batch],
        [d.subject_role for d in batch],
        [d.action for d in batch],
        [Jsonb(d.resource) if d.resource is not None else None for d in batch],
        [d.allowed for d in batch],
        [d.reason for d in batch],
        [d.policy_revision for d in batch],
        [d.latency_us for d in batch],
        [d.request_id for d in batch],
    )


class ApiDecisionLog(DecisionLog):
    def __init__(self, conninfo: str, *, linger_seconds: float = 0.05, **kwargs: Any) -> None:
        super().__init__(conninfo, **kwargs)
        self._linger = linger_seconds

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if self._linger > 0 and self._queue.qsize() < self._batch_size - 1:
                await asyncio.sleep(self._linger)
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            self._in_flight = len(batch)
            await self._write_with_retry(batch)
            self._in_flight = 0
            for _ in batch:
                self._queue.task_done()

    async def _write_with_retry(self, batch: Sequence[Decision]) -> None:
        delay = self._retry_initial
        params = batch_columns(batch)
        while True:
            try:
                conn = await self._connection()  # autocommit: the statement is its transaction
                await conn.execute(UNNEST_SQL, params)
                self.written += len(batch)
                self.last_error = None
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed_writes += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "decision log write of %d decisions failed (retrying in %.1fs): %s",
                    len(batch),
                    delay,
                    self.last_error,
                )
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
