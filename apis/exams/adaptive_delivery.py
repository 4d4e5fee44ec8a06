"""Adaptive delivery: start → next item → answer → … → stop → result, stateless across replicas.

PostgreSQL is the truth: the attempt row holds the position and the item being asked;
`exams.responses` and `exams.selections` hold every answer and every selection with its seed,
rule and reason. Each answer, the next selection and their outbox events are written by one
statement before the next item is returned (`adaptive_steps`, which also holds the fast path:
the answer to the item being asked, from the cached CAT state, without a read or a lock).
Anything else (no cache, a retry, a concurrent answer, the time limit, a stale cache) takes the
locked path (`AdaptiveDelivery.answer`), which rebuilds what it needs from PostgreSQL.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from apis.exams import adaptive, queries, recording, report_queries
from apis.exams.adaptive_steps import AdaptiveSteps, answer_from_cache, cat_keys
from apis.exams.cat_cache import CacheWrite, Entry
from apis.exams.model import (
    TIME_LIMIT_REASON,
    AttemptHeader,
    AttemptRow,
    PreviousAnswer,
    attempt_view,
)
from apis.exams.protocol import Answered, Completed, Conn, Started, TimeUp, Unlocked
from apis.exams.report_queries import ItemStats
from apis.exams.schemas import AnswerReply, AnswerRequest, Attempt, Replay
from apis.gateway.principal import Principal
from apis.state import AppState
from core.errors import Conflict
from core.events import AttemptStartedV1
from core.ids import new_id
from psychometrics import CATBank, CATState, start


class AdaptiveDelivery(AdaptiveSteps):
    """The attempts of one adaptive exam."""

    async def start(self, conn: Conn, student_id: str) -> Started:
        """A new attempt with its first item selected and stored (one statement)."""
        exam_id = self.info.exam.exam_id
        live = await queries.live_params(conn, exam_id)
        key = f"{exam_id}:{live.digest}"
        bank = self.caches.banks.get(key) or await self._build_bank(conn, key, live.ids())
        seed = secrets.randbits(63)
        cat = start(seed, self.cat)
        step = adaptive.advance(cat, bank, self.cat)
        if step.choice is None:
            raise Conflict(f"this exam cannot start: {step.stop_reason}")
        started_at = datetime.now(UTC)
        limit = self.info.time_limit
        header = AttemptHeader(
            attempt_id=str(new_id()),
            student_id=student_id,
            exam_id=exam_id,
            seed=seed,
            bank_key=key,
            deadline=started_at + timedelta(seconds=limit) if limit else None,
            started_at=started_at,
        )
        started = AttemptStartedV1(
            attempt_id=header.attempt_id,
            exam_id=exam_id,
            student_id=student_id,
            started_at=started_at,
        )
        selected_event, selected = self._selection(header, 0, cat, step, step.choice, started_at)
        attempt = recording.StartedAttempt(
            attempt_id=header.attempt_id,
            student_id=student_id,
            param_ids=live.param_ids,
            bank_key=key,
            started_at=started_at,
            deadline=header.deadline,
        )
        events = [(started, started_at), (selected_event, started_at)]
        await recording.start(conn, attempt, selected, events)
        first = self.info.pool[step.choice.item]
        view = attempt_view(
            header.row(0, first.item_id), kind="adaptive", items=[], responses=[],
            next_item=first.shown(0),
        )  # fmt: skip
        return Started(view, CacheWrite(header.attempt_id, Entry(header, 0, cat, step.choice)))

    async def answer_unlocked(
        self, state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
    ) -> Unlocked:
        return await answer_from_cache(state, principal, attempt_id, data)

    async def answer(
        self, conn: Conn, row: AttemptRow, data: AnswerRequest, cached: Entry | None
    ) -> Answered | TimeUp:
        """The locked path: any answer, checked against the stored attempt."""
        item_id = str(data.item_id)
        # Not the item being asked: a retry of an earlier answer, or a mistake. (A reused
        # idempotency key on the current item is caught by the insert's unique index.)
        if item_id != row.current_item:
            previous = await queries.previous_answer(
                conn, row.attempt_id, item_id, data.idempotency_key
            )
            if previous is not None:
                return Answered(self._repeat(row, previous, data), recorded=False)
        row.ensure_open("; no more answers are accepted")
        entry = self.info.entry(item_id)
        now = datetime.now(UTC)
        bank = await self._bank(conn, row)
        deadline = row.time_up(now)
        if deadline is not None:
            cat, _ = await self._state(conn, row, bank, cached)
            await self._complete(conn, row, bank, cat, TIME_LIMIT_REASON, deadline)
            return TimeUp(deadline, CacheWrite(row.attempt_id, None))
        if item_id != row.current_item:
            raise Conflict(
                f"item {item_id} is not the item being asked; answer the current "
                f"item {row.current_item} (GET the attempt to see it)"
            )
        entry.check_choice(data.choice)
        cat, pending = await self._state(conn, row, bank, cached)
        if pending is None or self.info.pool[pending.item].item_id != entry.item_id:
            raise Conflict("the attempt's selection log is inconsistent; contact support")
        written = await self.write_answer(conn, row, bank, entry, data, cat, pending, now)
        if written is None:  # cannot happen under the lock; never write half an answer
            raise Conflict("the attempt changed while this answer was recorded; retry")
        return Answered(written[0], recorded=True, cache=written[1])

    async def complete(
        self, conn: Conn, row: AttemptRow, reason: str, at: datetime | None = None
    ) -> Completed:
        bank = await self._bank(conn, row)
        cat, _ = await self._state(conn, row, bank, None)
        done = await self._complete(conn, row, bank, cat, reason, at)
        return Completed(done, CacheWrite(row.attempt_id, None))

    async def _complete(
        self,
        conn: Conn,
        row: AttemptRow,
        bank: CATBank,
        cat: CATState,
        reason: str,
        at: datetime | None,
    ) -> AttemptRow:
        """Complete the locked attempt on the answers in `cat` (finish, time limit)."""
        done = self._completion(bank, cat, reason)
        return await queries.complete(conn, row, self.info.exam, done, at)

    async def view(self, conn: Conn, row: AttemptRow) -> Attempt:
        """The items administered so far with their answers, and the item being asked."""
        completed = row.status == "completed"
        pool, index_of = self.info.pool, self.info.index_of
        items, responses = [], []
        for selection in await queries.administered(conn, row.attempt_id):
            answer = selection.answer()
            if answer is not None:
                items.append(pool[index_of[selection.item_id]].shown(selection.position))
                responses.append(answer.shown(completed))
        next_item = None
        if row.status == "in_progress" and row.current_item:
            next_item = pool[index_of[row.current_item]].shown(row.position)
        return attempt_view(
            row, kind="adaptive", items=items, responses=responses, next_item=next_item,
            result=self.result(row) if completed else None,
        )  # fmt: skip

    async def item_stats(self, conn: Conn) -> dict[str, ItemStats]:
        return await report_queries.selection_stats(conn, self.info.exam.exam_id)

    async def replay(self, conn: Conn, row: AttemptRow) -> Replay:
        """Recompute the attempt from its stored seed, configuration, parameters and responses."""
        seed, _ = cat_keys(row)
        bank = await self._bank(conn, row)
        steps = await queries.stored_steps(conn, row.attempt_id)
        selections = await queries.selections(conn, row.attempt_id)
        stop = row.stop_reason if row.status == "completed" else None
        report = adaptive.replay(seed, self.cat, bank, steps, stop)
        ids = [p.item_id for p in self.info.pool]
        return Replay(
            attempt_id=row.attempt_id,
            matches=report.matches,
            positions_checked=report.positions_checked,
            first_mismatch=report.first_mismatch,
            detail=report.detail,
            seed=seed,
            rng=adaptive.RNG_DESCRIPTION,
            replayed_item_ids=[ids[i] for i in report.replayed_items],
            stored_item_ids=[ids[i] for i in report.stored_items],
            stop_reason=report.stop_reason,
            theta=report.theta,
            se=report.se,
            selections=selections,
        )

    def _repeat(
        self, row: AttemptRow, previous: PreviousAnswer, data: AnswerRequest
    ) -> AnswerReply:
        previous.ensure_same(data)
        reply = AnswerReply(
            previous.item_id, previous.choice, previous.answered_at, status=row.status,
            answered=row.position, replayed=True,
        )  # fmt: skip
        if row.status == "in_progress" and row.current_item:
            reply.next_item = self.info.pool[self.info.index_of[row.current_item]].shown(
                row.position
            )
        elif row.status == "completed":
            reply.result = self.result(row)
        return reply
