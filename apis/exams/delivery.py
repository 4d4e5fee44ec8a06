"""Attempts, as the API serves them: load and authorize the attempt, go through its exam's
delivery, and once the transaction has committed tell the CAT cache what changed.

An exam's delivery (`AdaptiveDelivery` or `FixedDelivery`, the `protocol.Delivery` of its kind) is
chosen in one place, `choose`, when the exam is first loaded into this process's cache; an
attempt's delivery is its exam's, remembered per attempt so that its next answer knows it before
reading anything. Both kinds share the rest: the time limit finishes an attempt at its deadline
by whichever request comes first after it (an answer, a read, a finish, a new start).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.errors import UniqueViolation

from apis.exams import queries, report_queries
from apis.exams.adaptive_delivery import AdaptiveDelivery
from apis.exams.adaptive_steps import answer_from_cache
from apis.exams.caches import ExamCaches
from apis.exams.cat_cache import Entry
from apis.exams.fixed_delivery import FixedDelivery
from apis.exams.model import (
    ANSWER_ACTION,
    STUDENT_FINISH_REASON,
    TIME_LIMIT_REASON,
    AttemptRow,
    ExamInfo,
    authorize,
)
from apis.exams.protocol import Conn, Delivery, TimeUp
from apis.exams.schemas import (
    AnswerReply,
    AnswerRequest,
    Attempt,
    Exam,
    ItemReport,
    ItemReportRow,
    Replay,
    Result,
)
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState
from core.errors import Conflict
from psychometrics import CATConfig


# ------------------------------------------------------------------------------ exams
def choose(info: ExamInfo, caches: ExamCaches) -> Delivery:
    """The delivery of an exam, by its kind (adaptive exams carry their CAT configuration)."""
    if info.exam.kind == "adaptive":
        return AdaptiveDelivery(info, _cat_config(info.exam.config), caches)
    return FixedDelivery(info)


def _cat_config(config: dict[str, Any] | None) -> CATConfig | None:
    """The stored CAT configuration, or None when the row has none or an unreadable one (the
    delivery then refuses to deliver items with a 409 naming the exam; results still list)."""
    stored = (config or {}).get("cat")
    if not isinstance(stored, dict):
        return None
    try:
        return CATConfig.from_dict(stored)
    except (TypeError, ValueError):
        return None


async def _delivery(conn: Conn, state: AppState, exam_id: str) -> Delivery:
    delivery: Delivery | None = state.exams.exams.get(exam_id)
    if delivery is None:
        delivery = choose(await queries.exam_info(conn, exam_id), state.exams)
        state.exams.exams[exam_id] = delivery
    return delivery


async def exam_delivery(state: AppState, exam_id: str) -> Delivery:
    """The exam's delivery, from the in-process cache when it is there (exams never change once
    created)."""
    delivery: Delivery | None = state.exams.exams.get(exam_id)
    if delivery is not None:
        return delivery
    async with state.pool.connection() as conn:
        return await _delivery(conn, state, exam_id)


async def cached_exam(state: AppState, exam_id: str) -> Exam:
    """The exam, from the in-process cache. Shared: do not modify the result."""
    return (await exam_delivery(state, exam_id)).info.exam


# ------------------------------------------------------------------------------ attempts
async def load_and_authorize(
    conn: Conn,
    state: AppState,
    principal: Principal,
    attempt_id: str,
    action: str,
    *,
    lock: bool = False,
) -> tuple[AttemptRow, Delivery]:
    """The attempt (`lock`: locked until the transaction ends) and its delivery, once the
    caller may do `action` on it."""
    row = await queries.attempt(conn, attempt_id, lock=lock)
    delivery = await _delivery(conn, state, row.exam_id)
    await authorize(state.policy, principal, row, delivery.info.exam, action)
    state.exams.attempts[attempt_id] = delivery
    return row, delivery


async def start_attempt(state: AppState, exam: Exam, student_id: str) -> tuple[Attempt, bool]:
    """Start an attempt, or resume the one running (adaptive: with the first item selected and
    stored). Returns (attempt, created)."""
    delivery = await exam_delivery(state, exam.exam_id)
    async with state.pool.connection() as conn, conn.transaction():
        running = await queries.running_attempt(conn, exam.exam_id, student_id)
        if running is not None:
            deadline = running.time_up(datetime.now(UTC))
            if deadline is None:
                return await delivery.view(conn, running), False
            await delivery.complete(conn, running, TIME_LIMIT_REASON, deadline)
        started = await delivery.start(conn, student_id)
    state.exams.attempts[started.attempt.attempt_id] = delivery
    state.exams.cat.apply(started.cache)
    return started.attempt, True


async def answer(
    state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
) -> tuple[AnswerReply, bool]:
    """Record one answer; adaptive: and serve the next item (or the result). Returns (reply,
    recorded now).

    Idempotent: the same idempotency key (or the same item and choice) again returns the stored
    outcome and records nothing; a key or item reused with a different answer is a 409.

    The delivery first tries to answer without reading or locking the attempt (adaptive, from
    the CAT cache: one conditional statement); otherwise the attempt is locked and the delivery
    answers from what is stored.
    """
    known: Delivery | None = state.exams.attempts.get(attempt_id)
    # An attempt this process has not met yet may still be in the shared CAT cache (only
    # adaptive attempts have entries there); one it knows goes straight to its delivery.
    unlocked = known.answer_unlocked if known is not None else answer_from_cache
    first = await unlocked(state, principal, attempt_id, data)
    if first.reply is not None:
        return first.reply, True
    try:
        return await _answer_locked(state, principal, attempt_id, data, first.cached)
    except UniqueViolation as exc:  # under the lock only a reused key or position can collide
        raise Conflict(
            f"idempotency key {data.idempotency_key!r} was already used for another answer"
            if exc.diag.constraint_name == "responses_idempotency"
            else f"item {data.item_id} was already answered in this attempt"
        ) from exc


async def _answer_locked(
    state: AppState,
    principal: Principal,
    attempt_id: str,
    data: AnswerRequest,
    cached: Entry | None,
) -> tuple[AnswerReply, bool]:
    async with state.pool.connection() as conn, conn.transaction():
        row, delivery = await load_and_authorize(
            conn, state, principal, attempt_id, ANSWER_ACTION, lock=True
        )
        outcome = await delivery.answer(conn, row, data, cached)
    state.exams.cat.apply(outcome.cache)
    if isinstance(outcome, TimeUp):  # the attempt was finished at its deadline: committed
        raise Conflict(
            f"the time limit expired at {outcome.deadline.isoformat()}; the attempt was finished "
            "and this answer was not recorded"
        )
    return outcome.reply, outcome.recorded


async def finish(state: AppState, principal: Principal, attempt_id: str) -> Attempt:
    """The student ends her attempt (adaptive: early, scored on what she answered); past the
    time limit it ends at the deadline."""
    async with state.pool.connection() as conn, conn.transaction():
        row, delivery = await load_and_authorize(
            conn, state, principal, attempt_id, ANSWER_ACTION, lock=True
        )
        row.ensure_open()
        deadline = row.time_up(datetime.now(UTC))
        reason = STUDENT_FINISH_REASON if deadline is None else TIME_LIMIT_REASON
        done = await delivery.complete(conn, row, reason, deadline)
        view = await delivery.view(conn, done.row)
    state.exams.cat.apply(done.cache)
    return view


async def _current(
    conn: Conn, state: AppState, principal: Principal, attempt_id: str, action: str
) -> tuple[AttemptRow, Delivery]:
    """Load and authorize; an attempt in progress past its deadline is finished (lazily) first
    (read without a lock; locked and read again before anything is written)."""
    row, delivery = await load_and_authorize(conn, state, principal, attempt_id, action)
    if row.time_up(datetime.now(UTC)) is None:
        return row, delivery
    async with conn.transaction():
        row = await queries.attempt(conn, attempt_id, lock=True)
        deadline = row.time_up(datetime.now(UTC))
        if deadline is None:
            return row, delivery
        done = await delivery.complete(conn, row, TIME_LIMIT_REASON, deadline)
    state.exams.cat.apply(done.cache)
    return done.row, delivery


async def get_attempt(state: AppState, principal: Principal, attempt_id: str) -> Attempt:
    async with state.pool.connection() as conn:
        row, delivery = await _current(conn, state, principal, attempt_id, "exams.attempt.read")
        return await delivery.view(conn, row)


async def get_result(state: AppState, principal: Principal, attempt_id: str) -> Result:
    async with state.pool.connection() as conn:
        row, delivery = await _current(conn, state, principal, attempt_id, "exams.result.read")
    if row.status != "completed":
        raise Conflict("this attempt is still in progress; its result exists once it is finished")
    return delivery.result(row)


async def replay(state: AppState, principal: Principal, attempt_id: str) -> Replay:
    """Recompute an attempt from its stored seed, configuration, parameters and responses."""
    async with state.pool.connection() as conn:
        row, delivery = await load_and_authorize(
            conn, state, principal, attempt_id, "exams.attempt.replay"
        )
        return await delivery.replay(conn, row)


# ------------------------------------------------------------------------------ reports
async def list_results(
    state: AppState,
    principal: Principal,
    exam_id: str | None,
    class_id: str | None,
    limit: int,
) -> list[Result]:
    """Completed attempts the caller may read: a student her own; a teacher those of the classes
    she teaches and of the exams she owns; an admin or service all."""
    if principal.role == "student":
        scope, args = "a.student_id = %s", [principal.user_id]
    elif principal.role == "teacher":
        scope = (
            "(e.owner_id = %s or e.class_id in"
            " (select class_id from classes.classes where teacher_id = %s))"
        )
        args = [principal.user_id, principal.user_id]
    else:
        scope, args = "true", []
    async with state.pool.connection() as conn:
        rows = await report_queries.completed_attempts(conn, scope, args, exam_id, class_id, limit)
        return [(await _delivery(conn, state, r.exam_id)).result(r) for r in rows]


async def item_report(state: AppState, principal: Principal, exam_id: str) -> ItemReport:
    """Per-item exposure, responses and proportion correct of an exam, for its teacher."""
    async with state.pool.connection() as conn:
        delivery = await _delivery(conn, state, exam_id)
        exam = delivery.info.exam
        await state.policy.authorize(
            principal,
            "exams.result.read",
            Resource("item_report", exam_id, exam.owner_id, exam.class_id),
        )
        totals = await report_queries.attempt_totals(conn, exam_id)
        stats = await delivery.item_stats(conn)
        live = await report_queries.live_difficulties(conn, exam.item_ids)
    attempts = totals.attempts
    rows = []
    for p in delivery.info.pool:
        s = stats.get(p.item_id)
        shown = s.selections if s else 0
        answered = s.responses if s else 0
        lp = live.get(p.item_id)
        rows.append(
            ItemReportRow(
                item_id=p.item_id,
                status=p.status,
                skills=list(p.skills),
                selections=shown,
                exposure_rate=round(shown / attempts, 4) if attempts else None,
                responses=answered,
                proportion_correct=round(s.correct / answered, 4) if s and answered else None,
                mean_theta_of_takers=(
                    round(float(s.mean_theta), 4) if s and s.mean_theta is not None else None
                ),
                a=lp.a if lp else None,
                b=list(lp.b) if lp else None,
            )
        )
    rows.sort(key=lambda r: -r.selections)
    return ItemReport(exam_id=exam_id, attempts=attempts, completed=totals.completed, items=rows)
