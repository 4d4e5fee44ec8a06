"""Fixed-form delivery: the exam's items, in its order, at the versions pinned when it was set.

Each step is one transaction under the attempt's row lock, which `delivery` takes and authorizes
before calling in here, so concurrent answers and a concurrent finish serialise. Answers may come
in any order. Each is scored against its pinned version, so a teacher editing an item later
changes nothing for exams already set. Repeats behave as in adaptive delivery: the same
idempotency key (or the same item and choice) returns the stored answer and records nothing.
With a time limit, the attempt is finished at its deadline by whichever request comes first
after it (an answer, a read, a finish, a new start); nothing answered after it counts.

A finished attempt has its raw score and, when some answered items have live IRT parameters, an
IRT result as adaptive attempts do (`irt_result`): θ, SE, scale score, percentile and a per-skill
profile, with the parameters used recorded on the attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from psycopg import AsyncConnection

from apis.exams import adaptive, rules
from apis.exams.rules import STUDENT_FINISH_REASON, TIME_LIMIT_REASON, expired
from apis.exams.schemas import AnswerReply, AnswerRequest, Attempt, ExamItem, Response
from core import outbox
from core.errors import Conflict, InvalidInput
from core.events import AttemptCompletedV1, AttemptScoredV1, AttemptStartedV1, ResponseRecordedV1
from core.ids import new_id
from psychometrics import eap_scores

if TYPE_CHECKING:
    from apis.exams.delivery import ExamInfo, PoolEntry

_COLUMNS = (
    "attempt_id::text, exam_id::text, student_id::text, status, started_at, completed_at,"
    " raw_score, max_score, deadline, stop_reason, n_scored, n_correct, theta, se, scale_score,"
    " percentile, skill_profile"
)


async def start(
    conn: AsyncConnection[Any], info: ExamInfo, student_id: str
) -> tuple[Attempt, bool]:
    """Start an attempt, or resume the one in progress. Returns (attempt, created)."""
    exam_id = info.exam.exam_id
    # Serialise starts of the same student on the same exam (no duplicate attempts).
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{exam_id}:{student_id}",)
    )
    cur = await conn.execute(
        f"select {_COLUMNS} from exams.attempts where exam_id = %s and student_id = %s"
        " and status = 'in_progress'",
        (exam_id, student_id),
    )
    existing = await cur.fetchone()
    if existing is not None:
        row = dict(existing)
        if not expired(row, datetime.now(UTC)):
            return await view(conn, row, info), False
        await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
    cur = await conn.execute(
        "insert into exams.attempts (attempt_id, exam_id, student_id, deadline)"
        " values (%(id)s, %(exam)s, %(student)s, now() + make_interval(secs => %(limit)s))"
        f" returning {_COLUMNS}",
        {"id": new_id(), "exam": exam_id, "student": student_id, "limit": info.time_limit},
    )
    row = await cur.fetchone()
    assert row is not None
    await outbox.append(
        conn,
        AttemptStartedV1(
            attempt_id=row["attempt_id"],
            exam_id=exam_id,
            student_id=student_id,
            started_at=row["started_at"],
        ),
    )
    return Attempt.from_row(row, _items(info), [], deadline=row["deadline"]), True


async def answer(
    conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo, data: AnswerRequest
) -> tuple[AnswerReply, bool] | None:
    """Record one answer (`row`: the attempt, locked). Returns (reply, recorded now), or None
    when the time limit had passed: the attempt is then finished at its deadline, and the caller
    commits that and refuses the answer."""
    attempt_id, item_id = row["attempt_id"], str(data.item_id)
    previous = await rules.previous_answer(conn, attempt_id, item_id, data.idempotency_key)
    if previous is not None:
        rules.ensure_same_answer(previous, data)
        reply = AnswerReply(
            previous["item_id"], previous["choice"], previous["answered_at"],
            status=row["status"], replayed=True,
        )  # fmt: skip
        return reply, False
    if row["status"] != "in_progress":
        raise Conflict("this attempt is already completed; no more answers are accepted")
    if expired(row, datetime.now(UTC)):
        await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
        return None
    position = info.index_of.get(item_id)
    if position is None:
        raise InvalidInput(f"item {item_id} is not part of this exam")
    entry = info.pool[position]
    entry.check_choice(data.choice)
    score, is_correct = entry.score_of(data.choice)
    cur = await conn.execute(
        "insert into exams.responses (attempt_id, item_id, choice, is_correct, position, score,"
        " item_version, idempotency_key) values (%s, %s, %s, %s, %s, %s, %s, %s)"
        " returning answered_at",
        (
            attempt_id, item_id, data.choice, is_correct, position, score, entry.version,
            data.idempotency_key,
        ),
    )  # fmt: skip
    stored = await cur.fetchone()
    assert stored is not None
    await outbox.append(
        conn,
        ResponseRecordedV1(
            attempt_id=attempt_id,
            exam_id=info.exam.exam_id,
            student_id=row["student_id"],
            item_id=item_id,
            choice=data.choice,
            is_correct=is_correct,
            answered_at=stored["answered_at"],
        ),
    )
    return AnswerReply(item_id, data.choice, stored["answered_at"]), True


async def finish(conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo) -> Attempt:
    """The student hands in (`row`: locked); past the time limit, it ends at the deadline."""
    if row["status"] != "in_progress":
        raise Conflict("this attempt is already completed")
    if expired(row, datetime.now(UTC)):
        done = await _complete(conn, row, info, TIME_LIMIT_REASON, at=row["deadline"])
    else:
        done = await _complete(conn, row, info, STUDENT_FINISH_REASON)
    return await view(conn, done, info)


async def finish_if_expired(
    conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo
) -> dict[str, Any]:
    """The attempt as it stands: finished at its deadline first if that has passed (`row`:
    read without a lock; it is locked and read again before anything is written)."""
    if not expired(row, datetime.now(UTC)):
        return row
    async with conn.transaction():
        cur = await conn.execute(
            f"select {_COLUMNS} from exams.attempts where attempt_id = %s for update",
            (row["attempt_id"],),
        )
        locked = await cur.fetchone()
        assert locked is not None
        if not expired(dict(locked), datetime.now(UTC)):
            return dict(locked)
        return await _complete(conn, dict(locked), info, TIME_LIMIT_REASON, at=locked["deadline"])


async def _complete(
    conn: AsyncConnection[Any],
    row: dict[str, Any],
    info: ExamInfo,
    reason: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Score the locked attempt, complete it (`at`, default now) and announce
    `exams.attempt.completed.v1` (and `exams.attempt.scored.v1` with an IRT result). Returns the
    completed row."""
    answered, param_ids, irt = await _irt(conn, row["attempt_id"], info)
    score = irt.score if irt else None
    cur = await conn.execute(
        "update exams.attempts set status = 'completed', completed_at = coalesce(%(at)s, now()),"
        " raw_score = (select count(*) from exams.responses where attempt_id = %(id)s"
        " and is_correct), max_score = %(max)s, stop_reason = %(reason)s,"
        " param_ids = %(param_ids)s::uuid[], n_scored = %(n_scored)s, n_correct = %(n_correct)s,"
        " theta = %(theta)s, se = %(se)s, scale_score = %(scale_score)s,"
        " percentile = %(percentile)s, skill_profile = %(skills)s::jsonb"
        f" where attempt_id = %(id)s returning {_COLUMNS}",
        {
            "id": row["attempt_id"], "max": len(info.pool), "reason": reason, "at": at,
            "param_ids": param_ids,
            "n_scored": irt.n_scored if irt else 0,
            "n_correct": irt.n_correct if irt else 0,
            "theta": score.theta if score else None,
            "se": score.se if score else None,
            "scale_score": score.scale_score if score else None,
            "percentile": score.percentile if score else None,
            "skills": json.dumps(score.skills) if score else None,
        },
    )  # fmt: skip
    done = await cur.fetchone()
    assert done is not None
    await outbox.append(
        conn,
        AttemptCompletedV1(
            attempt_id=done["attempt_id"],
            exam_id=info.exam.exam_id,
            student_id=done["student_id"],
            class_id=info.exam.class_id,
            raw_score=done["raw_score"],
            max_score=done["max_score"],
            started_at=done["started_at"],
            completed_at=done["completed_at"],
        ),
        occurred_at=done["completed_at"],
    )
    if irt is not None:
        await outbox.append(
            conn,
            AttemptScoredV1(
                attempt_id=done["attempt_id"],
                exam_id=info.exam.exam_id,
                student_id=done["student_id"],
                class_id=info.exam.class_id,
                theta=irt.score.theta,
                se=irt.score.se,
                scale_score=irt.score.scale_score,
                percentile=irt.score.percentile,
                items_administered=answered,
                scored_items=irt.n_scored,
                stop_reason=reason,
                completed_at=done["completed_at"],
            ),
            occurred_at=done["completed_at"],
        )
    return dict(done)


async def view(conn: AsyncConnection[Any], row: dict[str, Any], info: ExamInfo) -> Attempt:
    """The attempt with its items and answers; correctness only once it is completed."""
    completed = row["status"] == "completed"
    cur = await conn.execute(
        "select item_id::text, choice, answered_at, is_correct from exams.responses"
        " where attempt_id = %s order by answered_at",
        (row["attempt_id"],),
    )
    responses = [
        Response(
            r["item_id"], r["choice"], r["answered_at"], r["is_correct"] if completed else None
        )
        for r in await cur.fetchall()
    ]
    return Attempt.from_row(row, _items(info), responses, deadline=row["deadline"])


def _items(info: ExamInfo) -> list[ExamItem]:
    return [entry.shown() for entry in info.pool]


# ------------------------------------------------------------------------------ IRT result
@dataclass(frozen=True)
class IrtResult:
    """An IRT result and the counts it rests on (calibrated items answered, of them correct)."""

    score: adaptive.Score
    n_scored: int
    n_correct: int


async def _irt(
    conn: AsyncConnection[Any], attempt_id: str, info: ExamInfo
) -> tuple[int, list[str | None], IrtResult | None]:
    """(answers, live parameter ids in pool order, IRT result or None) of an attempt."""
    cur = await conn.execute(
        "select item_id::text, choice from exams.responses where attempt_id = %s", (attempt_id,)
    )
    choices = {r["item_id"]: r["choice"] for r in await cur.fetchall()}
    cur = await conn.execute(
        "select item_id::text, param_id::text, model, a, d, c from content.item_parameters"
        " where item_id = any(%s::uuid[]) and is_live",
        ([p.item_id for p in info.pool],),
    )
    live = {
        r["item_id"]: adaptive.ParamRow(r["param_id"], r["model"], r["a"], tuple(r["d"]), r["c"])
        for r in await cur.fetchall()
    }
    # Parameters fit the pinned version only with its number of score categories (keyed: 2).
    usable = {
        p.item_id: live[p.item_id]
        for p in info.pool
        if p.item_id in live
        and len(live[p.item_id].d) == (len(p.options) - 1 if p.scoring == "graded" else 1)
    }
    param_ids = [usable[p.item_id].param_id if p.item_id in usable else None for p in info.pool]
    scored = [p for p in info.pool if p.item_id in usable and p.item_id in choices]
    result = irt_result(
        scored, [usable[p.item_id] for p in scored], [choices[p.item_id] for p in scored],
        info.scale,
    )  # fmt: skip
    return len(choices), param_ids, result


def irt_result(
    entries: Sequence[PoolEntry],
    params: Sequence[adaptive.ParamRow],
    choices: Sequence[int],
    scale: dict[str, float],
) -> IrtResult | None:
    """θ and SE by EAP (Bock & Mislevy 1982) under the N(0, 1) prior of the calibration scale,
    the scale score (mean + sd · θ), the percentile in that population, and a per-skill profile
    (EAP from each skill's items alone, as for adaptive attempts). None with no item to score.

    entries, params, choices: one per answered calibrated item, in the same order (length J).
    """
    if not entries:
        return None
    items = adaptive.item_parameters(list(params), [len(p.d) + 1 for p in params])
    scored = [e.score_of(c) for e, c in zip(entries, choices, strict=True)]
    codes = np.array([s for s, _ in scored], dtype=np.float64)
    by_skill: dict[str, list[int]] = {}
    for j, e in enumerate(entries):
        for skill in e.skills or (adaptive.NO_SKILL,):
            by_skill.setdefault(skill, []).append(j)
    skills = sorted(by_skill)
    # Row 0: every item; row 1 + k: only skill k's items (the others missing).
    responses = np.full((1 + len(skills), len(entries)), np.nan)
    responses[0] = codes
    for k, skill in enumerate(skills, start=1):
        responses[k, by_skill[skill]] = codes[by_skill[skill]]
    est = eap_scores(responses, items)
    theta, se = float(est.theta[0]), float(est.se[0])
    profile = [
        {
            "skill": skill,
            "items": len(by_skill[skill]),
            "correct": sum(1 for j in by_skill[skill] if scored[j][1]),
            "theta": round(float(est.theta[k]), 4),
            "se": round(float(est.se[k]), 4),
        }
        for k, skill in enumerate(skills, start=1)
    ]
    score = adaptive.Score(
        theta=theta,
        se=se,
        scale_score=round(scale["mean"] + scale["sd"] * theta, 1),
        percentile=adaptive.percentile_of(theta, 0.0, 1.0),
        skills=profile,
    )
    return IrtResult(score, len(entries), sum(1 for _, correct in scored if correct))
