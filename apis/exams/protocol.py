"""What a delivery is: how one exam's attempts start, take answers, complete and read.

Two implementations, `adaptive_delivery.AdaptiveDelivery` and `fixed_delivery.FixedDelivery`,
one per exam; `delivery` chooses between them once, when it loads the exam into the cache, and
everything an attempt does afterwards goes through its exam's delivery. Each method that
changes an attempt runs inside the caller's transaction (the attempt row locked where it says
so) and returns what to tell the CAT cache once that transaction has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec
from psycopg import AsyncConnection

from apis.exams.cat_cache import CacheWrite, Entry
from apis.exams.model import AttemptRow, ExamInfo
from apis.exams.report_queries import ItemStats
from apis.exams.schemas import AnswerReply, AnswerRequest, Attempt, Replay, Result
from apis.gateway.principal import Principal
from apis.state import AppState

Conn = AsyncConnection[Any]


class Started(msgspec.Struct, frozen=True):
    attempt: Attempt
    cache: CacheWrite | None = None


class Answered(msgspec.Struct, frozen=True):
    reply: AnswerReply
    recorded: bool  # False: it repeats an answer already stored
    cache: CacheWrite | None = None


class TimeUp(msgspec.Struct, frozen=True):
    """The answer came after the time limit: the attempt was finished at `deadline` instead."""

    deadline: datetime
    cache: CacheWrite | None = None


class Completed(msgspec.Struct, frozen=True):
    row: AttemptRow
    cache: CacheWrite | None = None


class Unlocked(msgspec.Struct, frozen=True):
    """The outcome of answering without the lock: the reply, or None (take the locked path,
    with whatever the try found in the CAT cache)."""

    reply: AnswerReply | None = None
    cached: Entry | None = None


class Delivery(Protocol):
    info: ExamInfo

    async def start(self, conn: Conn, student_id: str) -> Started:
        """A new attempt (the student has none in progress)."""
        ...

    async def answer_unlocked(
        self, state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
    ) -> Unlocked:
        """Answer without reading or locking the attempt, where the delivery can."""
        ...

    async def answer(
        self, conn: Conn, row: AttemptRow, data: AnswerRequest, cached: Entry | None
    ) -> Answered | TimeUp:
        """Record one answer on the locked attempt (a repeat: the stored outcome)."""
        ...

    async def complete(
        self, conn: Conn, row: AttemptRow, reason: str, at: datetime | None = None
    ) -> Completed:
        """Score and complete the locked attempt at `at` (default now)."""
        ...

    async def view(self, conn: Conn, row: AttemptRow) -> Attempt:
        """The attempt with its items and answers (correctness once completed)."""
        ...

    def result(self, row: AttemptRow) -> Result: ...

    async def item_stats(self, conn: Conn) -> dict[str, ItemStats]:
        """Per item: how often it was shown and answered, and how well."""
        ...

    async def replay(self, conn: Conn, row: AttemptRow) -> Replay:
        """Recompute the attempt from what is stored and say whether it reproduces."""
        ...
