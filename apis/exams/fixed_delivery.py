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

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import numpy as np

from apis.exams import adaptive, queries, report_queries
from apis.exams.cat_cache import Entry
from apis.exams.model import (
    TIME_LIMIT_REASON,
    AttemptRow,
    Completion,
    ExamInfo,
    PoolEntry,
    attempt_view,
    result_of,
)
from apis.exams.protocol import Answered, Completed, Conn, Started, TimeUp, Unlocked
from apis.exams.report_queries import ItemStats
from apis.exams.schemas import AnswerReply, AnswerRequest, Attempt, ExamItem, Replay, Result
from apis.gateway.principal import Principal
from apis.state import AppState
from core import outbox
from core.errors import InvalidInput
from core.events import AttemptStartedV1, ResponseRecordedV1
from core.ids import new_id
from psychometrics import eap_scores


class FixedDelivery:
    """The attempts of one fixed-form exam."""

    def __init__(self, info: ExamInfo) -> None:
        self.info = info

    def _items(self) -> list[ExamItem]:
        return [entry.shown() for entry in self.info.pool]

    async def start(self, conn: Conn, student_id: str) -> Started:
        exam_id = self.info.exam.exam_id
        row = await queries.insert_attempt(
            conn, str(new_id()), exam_id, student_id, self.info.time_limit
        )
        await outbox.append(
            conn,
            AttemptStartedV1(
                attempt_id=row.attempt_id,
                exam_id=exam_id,
                student_id=student_id,
                started_at=row.started_at,
            ),
        )
        return Started(attempt_view(row, kind="fixed", items=self._items(), responses=[]))

    async def answer_unlocked(
        self, state: AppState, principal: Principal, attempt_id: str, data: AnswerRequest
    ) -> Unlocked:
        return Unlocked()  # every fixed-form answer takes the lock

    async def answer(
        self, conn: Conn, row: AttemptRow, data: AnswerRequest, cached: Entry | None
    ) -> Answered | TimeUp:
        """Record one answer on the locked attempt; past the time limit the attempt is finished
        at its deadline instead."""
        attempt_id, item_id = row.attempt_id, str(data.item_id)
        previous = await queries.previous_answer(conn, attempt_id, item_id, data.idempotency_key)
        if previous is not None:
            previous.ensure_same(data)
            reply = AnswerReply(
                previous.item_id, previous.choice, previous.answered_at, status=row.status,
                replayed=True,
            )  # fmt: skip
            return Answered(reply, recorded=False)
        row.ensure_open("; no more answers are accepted")
        deadline = row.time_up(datetime.now(UTC))
        if deadline is not None:
            await self.complete(conn, row, TIME_LIMIT_REASON, deadline)
            return TimeUp(deadline)
        position = self.info.index_of.get(item_id)
        if position is None:
            raise InvalidInput(f"item {item_id} is not part of this exam")
        entry = self.info.pool[position]
        entry.check_choice(data.choice)
        score, is_correct = entry.score_of(data.choice)
        answered_at = await queries.insert_response(
            conn, attempt_id=attempt_id, item_id=item_id, choice=data.choice,
            is_correct=is_correct, position=position, score=score, item_version=entry.version,
            idempotency_key=data.idempotency_key,
        )  # fmt: skip
        await outbox.append(
            conn,
            ResponseRecordedV1(
                attempt_id=attempt_id,
                exam_id=self.info.exam.exam_id,
                student_id=row.student_id,
                item_id=item_id,
                choice=data.choice,
                is_correct=is_correct,
                answered_at=answered_at,
                position=position,
                item_version=entry.version,
                score=score,
                pilot=False,
            ),
        )
        return Answered(AnswerReply(item_id, data.choice, answered_at), recorded=True)

    async def complete(
        self, conn: Conn, row: AttemptRow, reason: str, at: datetime | None = None
    ) -> Completed:
        """Score the locked attempt: raw score over the pool, and an IRT result over the answered
        items that have live parameters fitting their pinned version."""
        answers = await queries.responses(conn, row.attempt_id)
        choices = {a.item_id: a.choice for a in answers}
        live = await queries.live_params_of(conn, [p.item_id for p in self.info.pool])
        # Parameters fit the pinned version only with its number of score categories (keyed: 2).
        usable = {
            p.item_id: live[p.item_id]
            for p in self.info.pool
            if p.item_id in live
            and len(live[p.item_id].d) == (len(p.options) - 1 if p.scoring == "graded" else 1)
        }
        scored = [p for p in self.info.pool if p.item_id in usable and p.item_id in choices]
        irt = irt_result(
            scored, [usable[p.item_id] for p in scored], [choices[p.item_id] for p in scored],
            self.info.scale,
        )  # fmt: skip
        done = Completion(
            raw_score=sum(1 for a in answers if a.is_correct),
            max_score=len(self.info.pool),
            n_scored=irt.n_scored if irt else 0,
            n_correct=irt.n_correct if irt else 0,
            items_administered=len(answers),
            stop_reason=reason,
            score=irt.score if irt else None,
            param_ids=[
                usable[p.item_id].param_id if p.item_id in usable else None for p in self.info.pool
            ],
        )
        return Completed(await queries.complete(conn, row, self.info.exam, done, at))

    async def view(self, conn: Conn, row: AttemptRow) -> Attempt:
        """Every item of the form, and the answers given (correctness once completed)."""
        completed = row.status == "completed"
        responses = [r.shown(completed) for r in await queries.responses(conn, row.attempt_id)]
        return attempt_view(row, kind="fixed", items=self._items(), responses=responses)

    def result(self, row: AttemptRow) -> Result:
        return result_of(row, self.info.exam, items_administered=row.max_score or 0)

    async def item_stats(self, conn: Conn) -> dict[str, ItemStats]:
        return await report_queries.response_stats(conn, self.info.exam.exam_id)

    async def replay(self, conn: Conn, row: AttemptRow) -> Replay:
        raise InvalidInput("only adaptive attempts can be replayed; fixed forms have no selection")


# ------------------------------------------------------------------------------ IRT result
class IrtResult(msgspec.Struct, frozen=True):
    """An IRT result and the counts it rests on (calibrated items answered, of them correct)."""

    score: adaptive.Score
    n_scored: int
    n_correct: int


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
        fit=adaptive.person_fit_of(items, [s for s, _ in scored], 0.0, 1.0),
    )
    return IrtResult(score, len(entries), sum(1 for _, correct in scored if correct))
