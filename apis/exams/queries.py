"""The exams service's SQL, each statement once, returning typed rows (`model`): exams and their
parameters, attempts and their answers.

The one-statement writes of the adaptive answer path are in `recording`, the reports' reads in
`report_queries`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import kwargs_row

from apis.assignments.completion import exam_completed
from apis.exams.adaptive import ParamRow, StoredStep
from apis.exams.model import (
    ATTEMPT_COLUMNS,
    AttemptRow,
    Completion,
    ExamInfo,
    PoolEntry,
    PreviousAnswer,
    completion_events,
)
from apis.exams.schemas import Exam, Response, Selection
from core import outbox
from core.db import AdvisoryLock
from core.errors import Forbidden, NotFound

T = TypeVar("T")
Conn = AsyncConnection[Any]


async def fetch_all(
    conn: Conn, row: type[T], sql: str, params: Sequence[Any] | dict[str, Any]
) -> list[T]:
    cur = conn.cursor(row_factory=kwargs_row(row))
    await cur.execute(sql, params)
    return await cur.fetchall()


async def fetch_one(
    conn: Conn, row: type[T], sql: str, params: Sequence[Any] | dict[str, Any]
) -> T | None:
    cur = conn.cursor(row_factory=kwargs_row(row))
    await cur.execute(sql, params)
    return await cur.fetchone()


# ------------------------------------------------------------------------------ exams
EXAM_COLUMNS = (
    "exam_id::text, owner_id::text, class_id::text, title, kind, item_ids::text[], created_at,"
    " config"
)


async def exam(conn: Conn, exam_id: str) -> Exam:
    cur = await conn.execute(
        f"select {EXAM_COLUMNS} from exams.exams where exam_id = %s", (exam_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"exam {exam_id} not found")
    return Exam.from_row(row)


async def listed_exams(conn: Conn, user_id: str, *, member: bool) -> list[Exam]:
    """The exams of the classes a student is in (`member`), else the exams a user owns."""
    where = (
        "class_id in (select class_id from classes.memberships where student_id = %s)"
        if member
        else "owner_id = %s"
    )
    cur = await conn.execute(
        f"select {EXAM_COLUMNS} from exams.exams where {where} order by created_at, exam_id",
        (user_id,),
    )
    return [Exam.from_row(r) for r in await cur.fetchall()]


async def exam_info(conn: Conn, exam_id: str) -> ExamInfo:
    """The exam and its pool at the pinned item versions."""
    cur = await conn.execute(
        f"select {EXAM_COLUMNS}, item_versions from exams.exams where exam_id = %s", (exam_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"exam {exam_id} not found")
    found = Exam.from_row(row)
    versions = row["item_versions"]
    if versions is None:  # fixed-form exams made before versions were pinned: the current ones
        cur = await conn.execute(
            "select item_id::text, version from content.items where item_id = any(%s::uuid[])",
            (found.item_ids,),
        )
        current = {r["item_id"]: r["version"] for r in await cur.fetchall()}
        versions = [current.get(i, 1) for i in found.item_ids]
    cur = await conn.execute(
        "select v.item_id::text, v.version, v.stem, v.options, v.answer_key, v.scoring, v.skills,"
        " v.media, v.status from unnest(%s::uuid[], %s::int[]) as u(item_id, version)"
        " join content.item_versions v using (item_id, version)",
        (found.item_ids, list(versions)),
    )
    by_id = {
        r["item_id"]: PoolEntry(
            r["item_id"], r["version"], r["stem"], tuple(r["options"]), r["answer_key"],
            r["scoring"], tuple(r["skills"]), tuple(r["media"]), r["status"],
        )
        for r in await cur.fetchall()
    }  # fmt: skip
    return ExamInfo.build(found, tuple(by_id[i] for i in found.item_ids if i in by_id))


async def ensure_teaches(conn: Conn, teacher_id: str, class_id: str | None) -> None:
    """An exam may be set for a class only by the class's own teacher."""
    if class_id is None:
        return
    cur = await conn.execute(
        "select teacher_id::text from classes.classes where class_id = %s", (class_id,)
    )
    owner = await cur.fetchone()
    if owner is None:
        raise NotFound(f"class {class_id} does not exist")
    if owner["teacher_id"] != teacher_id:
        raise Forbidden(f"class {class_id} is not one of your classes")


async def usable_versions(conn: Conn, owner_id: str, item_ids: list[str]) -> dict[str, int]:
    """The current version of each of the owner's items among `item_ids` that is not retired."""
    cur = await conn.execute(
        "select item_id::text, version from content.items where item_id = any(%s::uuid[])"
        " and owner_id = %s and status <> 'retired'",
        (item_ids, owner_id),
    )
    return {r["item_id"]: r["version"] for r in await cur.fetchall()}


class PoolCandidate(msgspec.Struct, frozen=True):
    """An item proposed for an adaptive exam's pool, with its live parameters if any."""

    item_id: str
    version: int
    status: str
    skills: list[str]
    scoring: str
    n_options: int
    has_params: bool
    model: str | None
    a: float | None
    d: list[float] | None
    c: float | None

    def params(self) -> ParamRow | None:
        """Its live parameters (None: it has none; the columns are NOT NULL when it has)."""
        if self.model is None or self.a is None or self.d is None or self.c is None:
            return None
        return ParamRow(None, self.model, self.a, tuple(self.d), self.c)


async def pool_candidates(conn: Conn, owner_id: str, item_ids: list[str]) -> list[PoolCandidate]:
    """The owner's items among `item_ids`, in that order, with their live parameters."""
    return await fetch_all(
        conn,
        PoolCandidate,
        "select i.item_id::text, i.version, i.status, i.skills, i.scoring,"
        " jsonb_array_length(i.options) as n_options, p.param_id is not null as has_params,"
        " p.model, p.a, p.d, p.c from unnest(%s::uuid[]) with ordinality as u(item_id, n)"
        " join content.items i using (item_id)"
        " left join content.item_parameters p on p.item_id = i.item_id and p.is_live"
        " where i.owner_id = %s order by u.n",
        (item_ids, owner_id),
    )


async def insert_exam(
    conn: Conn,
    *,
    exam_id: str,
    owner_id: str,
    class_id: str | None,
    title: str,
    kind: str,
    item_ids: list[str],
    versions: list[int],
    config: dict[str, Any] | None,
) -> Exam:
    cur = await conn.execute(
        "insert into exams.exams (exam_id, owner_id, class_id, title, kind, item_ids,"
        " item_versions, config) values (%s, %s, %s, %s, %s, %s::uuid[], %s, %s)"
        f" returning {EXAM_COLUMNS}",
        (
            exam_id, owner_id, class_id, title, kind, item_ids, versions,
            json.dumps(config) if config is not None else None,
        ),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None  # an INSERT … RETURNING returns its row
    return Exam.from_row(row)


# ------------------------------------------------------------------------------ parameters
async def pinned_param_ids(conn: Conn, attempt_id: str) -> list[str | None]:
    """The parameter set an adaptive attempt was started on, in pool order."""
    cur = await conn.execute(
        "select param_ids::text[] from exams.attempts where attempt_id = %s", (attempt_id,)
    )
    found = await cur.fetchone()
    if found is None or found["param_ids"] is None:
        raise NotFound(f"attempt {attempt_id} has no pinned parameters")
    return list(found["param_ids"])


async def param_rows(conn: Conn, param_ids: Sequence[str | None]) -> list[ParamRow | None]:
    """The parameters of each id, in order (None where the id is None: an uncalibrated item)."""
    cur = await conn.execute(
        "select u.n, p.param_id::text, p.model, p.a, p.d, p.c from unnest(%s::uuid[])"
        " with ordinality as u(item_id, n)"
        " left join content.item_parameters p on p.param_id = u.item_id order by u.n",
        (list(param_ids),),
    )
    return [
        ParamRow(r["param_id"], r["model"], r["a"], tuple(r["d"]), r["c"])
        if r["param_id"]
        else None
        for r in await cur.fetchall()
    ]


class LiveParams(msgspec.Struct, frozen=True):
    """An exam's live parameter ids in pool order, as PostgreSQL's array text (`{a,NULL,b}`),
    and the digest `adaptive.bank_key` computes from them."""

    param_ids: str
    digest: str

    def ids(self) -> list[str | None]:
        inner = self.param_ids.strip("{}")
        return [None if v == "NULL" else v for v in inner.split(",")] if inner else []


# Computed in PostgreSQL, so that no 300-element array crosses the driver on the way in or out.
async def live_params(conn: Conn, exam_id: str) -> LiveParams:
    found = await fetch_one(
        conn,
        LiveParams,
        "select coalesce(array_agg(p.param_id order by u.n), '{}')::text as param_ids,"
        " left(encode(sha256(convert_to(string_agg(coalesce(p.param_id::text, '-'), '|'"
        " order by u.n), 'UTF8')), 'hex'), 24) as digest"
        " from exams.exams e cross join unnest(e.item_ids) with ordinality as u(item_id, n)"
        " left join content.item_parameters p on p.item_id = u.item_id and p.is_live"
        " where e.exam_id = %s",
        (exam_id,),
    )
    assert found is not None  # an aggregate returns one row
    return found


async def live_params_of(conn: Conn, item_ids: list[str]) -> dict[str, ParamRow]:
    """The live parameters of each of these items that has some."""
    cur = await conn.execute(
        "select item_id::text, param_id::text, model, a, d, c from content.item_parameters"
        " where item_id = any(%s::uuid[]) and is_live",
        (item_ids,),
    )
    return {
        r["item_id"]: ParamRow(r["param_id"], r["model"], r["a"], tuple(r["d"]), r["c"])
        for r in await cur.fetchall()
    }


# ------------------------------------------------------------------------------ attempts
async def attempt(conn: Conn, attempt_id: str, *, lock: bool = False) -> AttemptRow:
    """The attempt (`lock`: FOR UPDATE, until the transaction ends)."""
    found = await fetch_one(
        conn,
        AttemptRow,
        f"select {ATTEMPT_COLUMNS} from exams.attempts where attempt_id = %s"
        + (" for update" if lock else ""),
        (attempt_id,),
    )
    if found is None:
        raise NotFound(f"attempt {attempt_id} not found")
    return found


async def running_attempt(conn: Conn, exam_id: str, student_id: str) -> AttemptRow | None:
    """The student's attempt in progress on this exam, locked; starts are serialised first."""
    await AdvisoryLock(f"{exam_id}:{student_id}").hold(conn)
    return await fetch_one(
        conn,
        AttemptRow,
        f"select {ATTEMPT_COLUMNS} from exams.attempts where exam_id = %s and student_id = %s"
        " and status = 'in_progress' for update",
        (exam_id, student_id),
    )


async def insert_attempt(
    conn: Conn, attempt_id: str, exam_id: str, student_id: str, time_limit: int | None
) -> AttemptRow:
    """A fixed-form attempt, started now (its deadline `time_limit` seconds on)."""
    found = await fetch_one(
        conn,
        AttemptRow,
        "insert into exams.attempts (attempt_id, exam_id, student_id, deadline)"
        " values (%(id)s, %(exam)s, %(student)s, now() + make_interval(secs => %(limit)s))"
        f" returning {ATTEMPT_COLUMNS}",
        {"id": attempt_id, "exam": exam_id, "student": student_id, "limit": time_limit},
    )
    assert found is not None  # an INSERT … RETURNING returns its row
    return found


async def complete(
    conn: Conn, row: AttemptRow, exam: Exam, done: Completion, at: datetime | None
) -> AttemptRow:
    """Complete the locked attempt with `done` at `at` (default now) and announce it."""
    completed = await fetch_one(
        conn,
        AttemptRow,
        "update exams.attempts set status = 'completed',"
        " completed_at = coalesce(%(at)s::timestamptz, now()), raw_score = %(raw_score)s,"
        " max_score = %(max_score)s, n_scored = %(n_scored)s, n_correct = %(n_correct)s,"
        " theta = %(theta)s, se = %(se)s, scale_score = %(scale_score)s,"
        " percentile = %(percentile)s, skill_profile = %(skill_profile)s::jsonb,"
        " stop_reason = %(stop_reason)s, current_item = null,"
        " person_fit_lz = %(person_fit_lz)s, is_person_misfit = %(is_person_misfit)s,"
        " person_fit_reason = %(person_fit_reason)s,"
        " position = coalesce(%(position)s::int, position),"
        " param_ids = coalesce(%(param_ids)s::uuid[], param_ids)"
        f" where attempt_id = %(id)s returning {ATTEMPT_COLUMNS}",
        {
            **done.columns(),
            "id": row.attempt_id,
            "at": at,
            "position": done.position,
            "param_ids": done.param_ids,
        },
    )
    assert completed is not None  # the row is locked by the caller
    assert completed.completed_at is not None
    await outbox.append_many(conn, completion_events(completed, exam, done, completed.completed_at))
    # Exam assignments are handed in with the attempt, in this transaction.
    await exam_completed(
        conn,
        exam_id=exam.exam_id,
        student_id=completed.student_id,
        attempt_id=completed.attempt_id,
        completed_at=completed.completed_at,
        raw_score=done.raw_score,
        max_score=done.max_score,
    )
    return completed


# ------------------------------------------------------------------------------ responses
async def previous_answer(
    conn: Conn, attempt_id: str, item_id: str, key: str | None
) -> PreviousAnswer | None:
    """The answer already stored under this idempotency key, else the one to this item."""
    return await fetch_one(
        conn,
        PreviousAnswer,
        "select item_id::text, choice, answered_at, idempotency_key from exams.responses"
        " where attempt_id = %s and (item_id = %s or idempotency_key = %s)"
        " order by (idempotency_key = %s) desc nulls last limit 1",
        (attempt_id, item_id, key, key),
    )


async def insert_response(
    conn: Conn,
    *,
    attempt_id: str,
    item_id: str,
    choice: int,
    is_correct: bool,
    position: int,
    score: int,
    item_version: int,
    idempotency_key: str | None,
) -> datetime:
    """Store one answer (fixed form); returns when it was recorded."""
    cur = await conn.execute(
        "insert into exams.responses (attempt_id, item_id, choice, is_correct, position, score,"
        " item_version, idempotency_key) values (%s, %s, %s, %s, %s, %s, %s, %s)"
        " returning answered_at",
        (attempt_id, item_id, choice, is_correct, position, score, item_version, idempotency_key),
    )
    stored = await cur.fetchone()
    assert stored is not None  # an INSERT … RETURNING returns its row
    answered_at: datetime = stored["answered_at"]
    return answered_at


class ResponseRow(msgspec.Struct, frozen=True):
    """A stored answer."""

    item_id: str
    choice: int
    answered_at: datetime
    is_correct: bool

    def shown(self, completed: bool) -> Response:
        """As the student sees it: correctness only once the attempt is completed."""
        return Response(
            self.item_id, self.choice, self.answered_at, self.is_correct if completed else None
        )


async def responses(conn: Conn, attempt_id: str) -> list[ResponseRow]:
    """A fixed-form attempt's answers, in the order given."""
    return await fetch_all(
        conn,
        ResponseRow,
        "select item_id::text, choice, answered_at, is_correct from exams.responses"
        " where attempt_id = %s order by answered_at",
        (attempt_id,),
    )


class AdministeredRow(msgspec.Struct, frozen=True):
    """An adaptive selection, and its answer once given."""

    position: int
    item_id: str
    choice: int | None
    answered_at: datetime | None
    is_correct: bool | None

    def answer(self) -> ResponseRow | None:
        if self.choice is None or self.answered_at is None or self.is_correct is None:
            return None
        return ResponseRow(self.item_id, self.choice, self.answered_at, self.is_correct)


async def administered(conn: Conn, attempt_id: str) -> list[AdministeredRow]:
    """An adaptive attempt's selections in order, each with its answer once given."""
    return await fetch_all(
        conn,
        AdministeredRow,
        "select s.position, s.item_id::text, r.choice, r.answered_at, r.is_correct"
        " from exams.selections s left join exams.responses r"
        " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
        " where s.attempt_id = %s order by s.position",
        (attempt_id,),
    )


async def stored_steps(conn: Conn, attempt_id: str) -> list[StoredStep]:
    """An adaptive attempt's selections with their scores, to rebuild or replay its CAT state."""
    return await fetch_all(
        conn,
        StoredStep,
        "select s.position, s.bank_index, s.pilot, s.reason, s.criterion, r.score"
        " from exams.selections s left join exams.responses r"
        " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
        " where s.attempt_id = %s order by s.position",
        (attempt_id,),
    )


async def selections(conn: Conn, attempt_id: str) -> list[Selection]:
    """An adaptive attempt's selection log, for its replay."""
    return await fetch_all(
        conn,
        Selection,
        "select s.position, s.item_id::text, s.pilot, s.rule, s.reason, s.criterion,"
        " s.candidates, s.theta_before, s.se_before, s.selected_at, r.choice, r.score"
        " from exams.selections s left join exams.responses r"
        " on r.attempt_id = s.attempt_id and r.item_id = s.item_id"
        " where s.attempt_id = %s order by s.position",
        (attempt_id,),
    )
