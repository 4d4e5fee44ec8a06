"""The writes of adaptive delivery, each ONE SQL statement: an attempt's start and each answer.

The statement moves the attempt on (or completes it), inserts the response, the next selection
and every outbox event, all as data-modifying CTEs gated on the attempt's UPDATE. That UPDATE
only matches while the attempt is exactly as the caller saw it: same student, in progress, same
position, asking the same item, before its deadline (plus grace). So the statement either writes
everything or nothing, and it is safe without a prior lock: a concurrent answer, a finish or an
expiry makes it match no row (`None`), and a reused idempotency key or a second answer to the
same item is a unique violation that aborts it whole. Under READ COMMITTED a concurrent update of
the attempt row makes PostgreSQL re-check the WHERE clause against the committed row version.

Why one statement: psycopg spends ≈ 0.3 ms of CPU per statement, and the earlier
BEGIN → SELECT … FOR UPDATE → five INSERT/UPDATEs → COMMIT path cost ≈ 2 ms of CPU and three round
trips per answer (bench/exams/README.md). Run on an autocommit connection it is one round trip
and one durable commit; inside the locked fallback transaction it is the same write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import kwargs_row

from apis.exams.model import ATTEMPT_COLUMNS, AttemptRow, Completion
from apis.gateway.timing import stage
from core import outbox
from core.events import Event

# The attempt row is only moved from the state the caller computed the answer on.
# Every parameter is cast: in an INSERT … SELECT a bare NULL parameter would be typed text.
_GUARD = (
    " where attempt_id = %(attempt_id)s::uuid and student_id = %(student_id)s::uuid"
    " and status = 'in_progress' and position = %(position)s::int"
    " and current_item = %(item_id)s::uuid"
    " and (deadline is null or deadline + %(grace)s::interval >= %(answered_at)s::timestamptz)"
)

_RESPONSE = (
    "response as (insert into exams.responses (attempt_id, item_id, choice, is_correct,"
    " position, score, pilot, item_version, idempotency_key, answered_at)"
    " select %(attempt_id)s::uuid, %(item_id)s::uuid, %(choice)s::int, %(is_correct)s::bool,"
    " %(position)s::int, %(score)s::int, %(pilot)s::bool, %(item_version)s::int,"
    " %(idempotency_key)s::text, %(answered_at)s::timestamptz from moved)"
)

_EVENTS = f"events as ({outbox.insert_many_sql('events', gate='moved')})"

ADVANCE_SQL = (
    "with moved as (update exams.attempts set position = %(position)s::int + 1,"
    " current_item = %(next_item_id)s::uuid, n_scored = n_scored + %(scored)s::int,"
    " n_correct = n_correct + %(scored_correct)s::int, theta = %(theta)s::float8,"
    " se = %(se)s::float8"
    f"{_GUARD} returning attempt_id),"
    f" {_RESPONSE},"
    " selection as (insert into exams.selections (attempt_id, position, exam_id, item_id,"
    " bank_index, pilot, rule, reason, criterion, candidates, seed, rng, theta_before,"
    " se_before, selected_at) select %(attempt_id)s::uuid, %(position)s::int + 1, %(exam_id)s::uuid,"
    " %(next_item_id)s::uuid, %(bank_index)s::int, %(next_pilot)s::bool, %(rule)s::text,"
    " %(reason)s::text, %(criterion)s::float8, %(candidates)s::int, %(seed)s::bigint,"
    " %(rng)s::text, %(theta)s::float8, %(se)s::float8,"
    " %(answered_at)s::timestamptz from moved),"
    f" {_EVENTS}"
    " select attempt_id::text from moved"
)

# The last answer: the attempt is completed with its result in the same statement.
COMPLETE_SQL = (
    "with moved as (update exams.attempts set status = 'completed',"
    " completed_at = %(answered_at)s::timestamptz, raw_score = %(raw_score)s::int,"
    " max_score = %(max_score)s::int, n_scored = %(n_scored)s::int,"
    " n_correct = %(n_correct)s::int, theta = %(theta)s::float8, se = %(se)s::float8,"
    " scale_score = %(scale_score)s::float8, percentile = %(percentile)s::float8,"
    " skill_profile = %(skill_profile)s::jsonb, stop_reason = %(stop_reason)s::text,"
    " person_fit_lz = %(person_fit_lz)s::float8, is_person_misfit = %(is_person_misfit)s::bool,"
    " person_fit_reason = %(person_fit_reason)s::text,"
    " current_item = null, position = %(position)s::int + 1"
    f"{_GUARD} returning {ATTEMPT_COLUMNS}),"
    f" {_RESPONSE},"
    f" {_EVENTS}"
    " select * from moved"
)

START_SQL = (
    "with attempt as (insert into exams.attempts (attempt_id, exam_id, student_id, seed,"
    " param_ids, bank_key, started_at, deadline, position, current_item) values"
    " (%(attempt_id)s::uuid, %(exam_id)s::uuid, %(student_id)s::uuid, %(seed)s::bigint,"
    " %(param_ids)s::uuid[], %(bank_key)s::text, %(started_at)s::timestamptz,"
    " %(deadline)s::timestamptz, 0, %(item_id)s::uuid) returning attempt_id),"
    " selection as (insert into exams.selections (attempt_id, position, exam_id, item_id,"
    " bank_index, pilot, rule, reason, criterion, candidates, seed, rng, theta_before,"
    " se_before, selected_at) select attempt_id, 0, %(exam_id)s::uuid, %(item_id)s::uuid,"
    " %(bank_index)s::int, %(pilot)s::bool, %(rule)s::text, %(reason)s::text,"
    " %(criterion)s::float8, %(candidates)s::int, %(seed)s::bigint, %(rng)s::text,"
    " %(theta)s::float8, %(se)s::float8, %(started_at)s::timestamptz from attempt),"
    f" events as ({outbox.insert_many_sql('events', gate='attempt')})"
    " select attempt_id::text from attempt"
)


class Selected(msgspec.Struct, frozen=True, kw_only=True):
    """A selection as stored in `exams.selections` (less its attempt and position)."""

    exam_id: str
    item_id: str
    bank_index: int
    pilot: bool
    rule: str
    reason: str
    criterion: float | None
    candidates: int
    seed: int
    rng: str
    theta: float  # the estimate the item was selected at
    se: float


class StartedAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """A new adaptive attempt: its row's start values and the parameter set it is pinned to."""

    attempt_id: str
    student_id: str
    param_ids: str  # uuid[] as PostgreSQL's array text
    bank_key: str
    started_at: datetime
    deadline: datetime | None


async def start(
    conn: AsyncConnection[Any],
    attempt: StartedAttempt,
    first: Selected,
    events: Sequence[tuple[Event, datetime | None]],
) -> None:
    """Insert the attempt, its first selection and their events."""
    params = {
        **msgspec.structs.asdict(attempt),
        **msgspec.structs.asdict(first),
        "events": outbox.encode_many(events),
    }
    with stage("db"):
        await conn.execute(START_SQL, params)


class AnsweredItem(msgspec.Struct, frozen=True, kw_only=True):
    """What the student answered, and how it scored (the response row)."""

    attempt_id: str
    student_id: str
    position: int  # the attempt's position before this answer (0-based)
    item_id: str
    item_version: int
    choice: int
    score: int
    is_correct: bool
    pilot: bool
    idempotency_key: str | None
    answered_at: datetime
    grace: timedelta


async def advance(
    conn: AsyncConnection[Any],
    answered: AnsweredItem,
    selected: Selected,
    events: Sequence[tuple[Event, datetime | None]],
) -> bool:
    """Record the answer and the next selection. False when the attempt was not in the
    expected state: nothing written."""
    params = {
        **msgspec.structs.asdict(answered),
        "exam_id": selected.exam_id,
        "next_item_id": selected.item_id,
        "bank_index": selected.bank_index,
        "next_pilot": selected.pilot,
        "rule": selected.rule,
        "reason": selected.reason,
        "criterion": selected.criterion,
        "candidates": selected.candidates,
        "seed": selected.seed,
        "rng": selected.rng,
        "theta": selected.theta,
        "se": selected.se,
        # the attempt's counters move by one scored (non-pilot) answer, correct or not
        "scored": 0 if answered.pilot else 1,
        "scored_correct": int(answered.is_correct and not answered.pilot),
        "events": outbox.encode_many(events),
    }
    with stage("db"):
        cur = await conn.execute(ADVANCE_SQL, params)
        return await cur.fetchone() is not None


async def complete(
    conn: AsyncConnection[Any],
    answered: AnsweredItem,
    done: Completion,
    events: Sequence[tuple[Event, datetime | None]],
) -> AttemptRow | None:
    """Record the last answer and complete the attempt with `done`. The completed attempt, or
    None when it was not in the expected state: nothing written."""
    params = {
        **msgspec.structs.asdict(answered),
        **done.columns(),
        "events": outbox.encode_many(events),
    }
    with stage("db"):
        cur = conn.cursor(row_factory=kwargs_row(AttemptRow))
        await cur.execute(COMPLETE_SQL, params)
        return await cur.fetchone()
