"""The CAT mechanics of an adaptive exam's attempts: the bank of the parameter set an attempt
was started on, its CAT state (from the cache when current, else rebuilt from the stored
selections), scoring an answer and selecting the next item, written in one statement
(`recording`), and the fast path that does all that from the CAT cache without a read or a lock.

The CAT state is cached (`cat_cache`: this process, then Redis) and never trusted: the write is
conditional on the attempt's position, and whenever the cache is missing, stale or unreachable
the state is rebuilt. `adaptive_delivery.AdaptiveDelivery` builds the delivery protocol on this.
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg.errors import UniqueViolation

from apis.assignments.completion import exam_completed
from apis.exams import adaptive, queries, recording
from apis.exams.caches import ExamCaches
from apis.exams.cat_cache import CacheWrite, Entry
from apis.exams.model import (
    ANSWER_ACTION,
    GRACE,
    AttemptHeader,
    AttemptRow,
    Completion,
    ExamInfo,
    PoolEntry,
    authorize,
    completion_events,
    result_of,
)
from apis.exams.protocol import Conn, Unlocked
from apis.exams.schemas import AnswerReply, AnswerRequest, Result
from apis.gateway.principal import Principal
from apis.gateway.timing import stage
from apis.state import AppState
from core.errors import Conflict
from core.events import ItemSelectedV1, ResponseRecordedV1
from psychometrics import CATBank, CATConfig, CATState, ItemChoice, record_response


def cat_keys(row: AttemptRow) -> tuple[int, str]:
    """An adaptive attempt's selection seed and bank key (both set when it started)."""
    if row.seed is None or row.bank_key is None:
        raise Conflict(f"attempt {row.attempt_id} has no CAT state")
    return row.seed, row.bank_key


def header_of(row: AttemptRow) -> AttemptHeader:
    seed, bank_key = cat_keys(row)
    return AttemptHeader(
        attempt_id=row.attempt_id,
        student_id=row.student_id,
        exam_id=row.exam_id,
        seed=seed,
        bank_key=bank_key,
        deadline=row.deadline,
        started_at=row.started_at,
    )


class AdaptiveSteps:
    """The CAT mechanics of one adaptive exam (`cat`: its CAT configuration)."""

    def __init__(self, info: ExamInfo, cat: CATConfig | None, caches: ExamCaches) -> None:
        self.info = info
        self._cat = cat
        self.caches = caches

    @property
    def cat(self) -> CATConfig:
        """The exam's CAT configuration; an exam stored without one (`config.cat` missing or
        unreadable, e.g. written straight into the table) cannot deliver items: 409 naming it.
        Its finished attempts still list and read as results (they need no CAT rules)."""
        if self._cat is None:
            raise Conflict(
                f"adaptive exam {self.info.exam.exam_id} has no usable CAT configuration"
                " (config.cat is missing or invalid): it cannot deliver or replay attempts;"
                " create the exam again through the API"
            )
        return self._cat

    @property
    def rule(self) -> str:
        return f"{self.cat.selection}/{self.cat.exposure}"

    # -------------------------------------------------------------------------- banks and state
    async def _build_bank(self, conn: Conn, key: str, param_ids: list[str | None]) -> CATBank:
        rows = await queries.param_rows(conn, param_ids)
        items = adaptive.item_parameters(rows, [len(p.options) for p in self.info.pool])
        bank = CATBank.build(items, self.cat)
        self.caches.banks[key] = bank
        return bank

    async def _bank(self, conn: Conn, row: AttemptRow) -> CATBank:
        """The CAT bank of the parameter set the attempt was started on."""
        _, key = cat_keys(row)
        bank: CATBank | None = self.caches.banks.get(key)
        if bank is None:
            bank = await self._build_bank(
                conn, key, await queries.pinned_param_ids(conn, row.attempt_id)
            )
        return bank

    def _served(self, row: AttemptRow, cached: Entry | None) -> tuple[CATState, ItemChoice] | None:
        """The cached (state, pending selection) if it is the attempt's current one, else None."""
        if cached is None:
            return None
        current = row.current_item
        cat, pending = cached.state, cached.pending
        if (
            cached.position == row.position == len(cat.items)
            and cat.seed == row.seed
            and cached.header.attempt_id == row.attempt_id
            and (current is None or self.info.index_of.get(current) == pending.item)
        ):
            self.caches.cat.hits += 1
            return cat, pending
        return None

    async def _state(
        self, conn: Conn, row: AttemptRow, bank: CATBank, cached: Entry | None
    ) -> tuple[CATState, ItemChoice | None]:
        """The state after the answered items and the pending selection: from the cache when it
        is current, else rebuilt from the stored selections."""
        served = self._served(row, cached)
        if served is not None:
            return served
        self.caches.cat.rebuilds += 1
        seed, _ = cat_keys(row)
        steps = await queries.stored_steps(conn, row.attempt_id)
        cat = adaptive.rebuild_state(seed, self.cat, bank, steps)
        pending_step = next((s for s in steps if s.score is None), None)
        return cat, adaptive.choice_of(pending_step) if pending_step else None

    def _selection(
        self,
        header: AttemptHeader,
        position: int,
        cat: CATState,
        step: adaptive.Step,
        choice: ItemChoice,
        at: datetime,
    ) -> tuple[ItemSelectedV1, recording.Selected]:
        """The event and the stored row of selecting `choice` at `position` (`cat`: the state
        it was selected at)."""
        item_id = self.info.pool[choice.item].item_id
        event = ItemSelectedV1(
            attempt_id=header.attempt_id,
            exam_id=header.exam_id,
            student_id=header.student_id,
            position=position,
            item_id=item_id,
            pilot=choice.pilot,
            rule=self.rule,
            reason=choice.reason,
            criterion=choice.value,
            candidates=step.candidates,
            seed=header.seed,
            theta_before=cat.theta,
            se_before=cat.se,
            selected_at=at,
        )
        selected = recording.Selected(
            exam_id=header.exam_id,
            item_id=item_id,
            bank_index=choice.item,
            pilot=choice.pilot,
            rule=self.rule,
            reason=choice.reason,
            criterion=choice.value,
            candidates=step.candidates,
            seed=header.seed,
            rng=adaptive.RNG_DESCRIPTION,
            theta=cat.theta,
            se=cat.se,
        )
        return event, selected

    def _completion(self, bank: CATBank, cat: CATState, reason: str) -> Completion:
        """The result of the answers in `cat`: θ and SE from the CAT, raw score over the scored
        (non-pilot) answers."""
        n_cat = bank.items.n_categories
        correct = [
            int(r) == int(n_cat[i]) - 1 for i, r in zip(cat.items, cat.responses, strict=True)
        ]
        skills = [p.skills for p in self.info.pool]
        sc = adaptive.score(cat, bank, self.cat, self.info.scale, skills, correct)
        scored = [c for c, p in zip(correct, cat.pilot, strict=True) if not p]
        return Completion(
            raw_score=sum(scored),
            max_score=len(scored),
            n_scored=len(scored),
            n_correct=sum(scored),
            items_administered=len(cat.items),
            stop_reason=reason,
            score=sc,
            position=len(cat.items),
        )

    def result(self, row: AttemptRow) -> Result:
        return result_of(row, self.info.exam, items_administered=row.position)

    # -------------------------------------------------------------------------- answers
    async def write_answer(
        self,
        conn: Conn,
        row: AttemptRow,
        bank: CATBank,
        entry: PoolEntry,
        data: AnswerRequest,
        cat: CATState,
        pending: ItemChoice,
        now: datetime,
    ) -> tuple[AnswerReply, CacheWrite] | None:
        """Score the answer, move the CAT on and write response + selection (or result) + events
        in one statement. None when the attempt was no longer as `row` says (nothing written)."""
        score, correct = entry.score_of(data.choice)
        position = row.position
        header = header_of(row)
        with stage("cat"):
            after = record_response(cat, pending, score, bank)
            step = adaptive.advance(after, bank, self.cat)
        answered = recording.AnsweredItem(
            attempt_id=row.attempt_id, student_id=row.student_id, position=position,
            item_id=entry.item_id, item_version=entry.version, choice=data.choice, score=score,
            is_correct=correct, pilot=pending.pilot, idempotency_key=data.idempotency_key,
            answered_at=now, grace=GRACE,
        )  # fmt: skip
        recorded = ResponseRecordedV1(
            attempt_id=row.attempt_id,
            exam_id=row.exam_id,
            student_id=row.student_id,
            item_id=entry.item_id,
            choice=data.choice,
            is_correct=correct,
            answered_at=now,
            position=position,
            item_version=entry.version,
            score=score,
            pilot=pending.pilot,
        )
        reply = AnswerReply(entry.item_id, data.choice, now, answered=position + 1)
        choice = step.choice
        if choice is not None:
            event, selected = self._selection(header, position + 1, after, step, choice, now)
            if not await recording.advance(
                conn, answered, selected, [(recorded, now), (event, now)]
            ):
                return None
            reply.next_item = self.info.pool[choice.item].shown(position + 1)
            return reply, CacheWrite(row.attempt_id, Entry(header, position + 1, after, choice))
        done = self._completion(bank, after, step.stop_reason or "stopped")
        events = [(recorded, now), *completion_events(row, self.info.exam, done, now)]
        completed = await recording.complete(conn, answered, done, events)
        if completed is None:
            return None
        await exam_completed(  # exam assignments are handed in in this transaction
            conn,
            exam_id=self.info.exam.exam_id,
            student_id=completed.student_id,
            attempt_id=completed.attempt_id,
            completed_at=now,
            raw_score=done.raw_score,
            max_score=done.max_score,
        )
        reply.status = "completed"
        reply.result = self.result(completed)
        return reply, CacheWrite(row.attempt_id, None)

    async def answer_cached(
        self,
        state: AppState,
        principal: Principal,
        data: AnswerRequest,
        cached: Entry,
        bank: CATBank,
    ) -> AnswerReply | None:
        """The answer to the item being asked, from the cached state; None: take the locked
        path."""
        pool = self.info.pool
        if not 0 <= cached.pending.item < len(pool):
            return None
        row = cached.header.row(cached.position, pool[cached.pending.item].item_id)
        # The student, exam and bank of an attempt never change, so the cached ones authorize as
        # the stored ones would; the write below re-checks the student and the position.
        await authorize(state.policy, principal, row, self.info.exam, ANSWER_ACTION)
        now = datetime.now(UTC)
        item_id = str(data.item_id)
        if item_id != row.current_item or row.time_up(now) is not None:
            return None
        entry = pool[self.info.index_of[item_id]]
        entry.check_choice(data.choice)
        served = self._served(row, cached)
        if served is None:
            return None
        cat, pending = served
        async with state.pool.connection() as conn:
            await conn.set_autocommit(True)  # the one statement is its own transaction
            try:
                written = await self.write_answer(conn, row, bank, entry, data, cat, pending, now)
            except UniqueViolation:  # answered meanwhile, or a reused key: the locked path says
                written = None
            finally:
                await conn.set_autocommit(False)
        if written is None:
            return None
        reply, cache = written
        state.exams.cat.apply(cache)
        return reply


async def answer_from_cache(
    state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
) -> Unlocked:
    """Answer from the CAT cache, this process's tier first, then Redis's; what the locked path
    should start from when neither serves. Only adaptive attempts have entries, so this is also
    how an attempt this process has not met yet is tried."""
    tiers = state.exams.cat
    cached = tiers.local(attempt_id)
    if cached is not None:
        reply = await _answer_from(state, principal, attempt_id, data, cached)
        if reply is not None:
            return Unlocked(reply)
        tiers.drop_local(attempt_id)  # stale (another replica moved on) or not ours
    shared = await tiers.shared(attempt_id)
    if shared is not None and (cached is None or shared.position != cached.position):
        reply = await _answer_from(state, principal, attempt_id, data, shared)
        if reply is not None:
            return Unlocked(reply)
    return Unlocked(None, shared)


async def _answer_from(
    state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest, cached: Entry
) -> AnswerReply | None:
    header = cached.header
    if header.attempt_id != attempt_id:
        return None
    delivery = state.exams.exams.get(header.exam_id)
    bank: CATBank | None = state.exams.banks.get(header.bank_key)
    if not isinstance(delivery, AdaptiveSteps) or bank is None:
        return None
    return await delivery.answer_cached(state, principal, data, cached, bank)
