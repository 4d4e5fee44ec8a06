"""The attempt model: an attempt's row and the one column list it is read with, the rules every
attempt follows (time limit and grace, stop reasons, repeated answers), the exam as delivery sees
it (its pool at the pinned versions), what completing an attempt writes and announces, the
result it reads as, and who may act on it.

No I/O here: `queries` reads and writes these types, the two deliveries (`adaptive_delivery`,
`fixed_delivery`) move them on, and `delivery` loads and authorizes them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import msgspec

from apis.exams.adaptive import PersonFitResult, Score
from apis.exams.schemas import (
    AnswerRequest,
    Attempt,
    Exam,
    ExamItem,
    PersonFit,
    Response,
    Result,
    SkillScore,
)
from apis.gateway.policy import PolicyGate, Resource
from apis.gateway.principal import Principal
from core.errors import Conflict, InvalidInput
from core.events import AttemptCompletedV1, AttemptScoredV1, Event

# Answers arriving this long after the deadline still count (network and client latency).
GRACE = timedelta(seconds=2)
TIME_LIMIT_REASON = "time limit reached"
ANSWER_ACTION = "exams.attempt.answer"  # answering and finishing are the same policy action
STUDENT_FINISH_REASON = "finished by the student"
DEFAULT_SCALE = {"mean": 500.0, "sd": 100.0}


class AttemptRow(msgspec.Struct, kw_only=True):
    """One `exams.attempts` row (either kind). Adaptive attempts also carry their selection seed,
    bank key, position and the item being asked; fixed-form ones leave those unset."""

    attempt_id: str
    exam_id: str
    student_id: str
    status: str = "in_progress"
    started_at: datetime
    completed_at: datetime | None = None
    raw_score: int | None = None
    max_score: int | None = None
    seed: int | None = None
    bank_key: str | None = None
    deadline: datetime | None = None
    position: int = 0  # adaptive: items answered so far
    current_item: str | None = None  # adaptive: the item being asked
    n_scored: int = 0
    n_correct: int = 0
    theta: float | None = None
    se: float | None = None
    scale_score: float | None = None
    percentile: float | None = None
    skill_profile: list[dict[str, Any]] | None = None
    stop_reason: str | None = None
    person_fit_lz: float | None = None
    is_person_misfit: bool | None = None
    person_fit_reason: str | None = None

    def time_up(self, now: datetime) -> datetime | None:
        """The deadline, when the attempt is still in progress past it and the grace."""
        deadline = self.deadline
        past = self.status == "in_progress" and deadline is not None and now > deadline + GRACE
        return deadline if past else None

    def ensure_open(self, then: str = "") -> None:
        """A completed attempt takes no more answers and cannot be finished again."""
        if self.status != "in_progress":
            raise Conflict(f"this attempt is already completed ({self.stop_reason}){then}")


_TEXT_IDS = {"attempt_id", "exam_id", "student_id", "current_item"}


def attempt_columns(alias: str = "") -> str:
    """THE select list of an attempt row, in `AttemptRow` order (uuids as text), optionally
    qualified by a table alias."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(
        f"{prefix}{name}::text" if name in _TEXT_IDS else f"{prefix}{name}"
        for name in AttemptRow.__struct_fields__
    )


ATTEMPT_COLUMNS = attempt_columns()


class AttemptHeader(msgspec.Struct, frozen=True):
    """The fields of an adaptive attempt that never change once it has started (what the CAT
    cache keeps beside the state)."""

    attempt_id: str
    student_id: str
    exam_id: str
    seed: int
    bank_key: str
    deadline: datetime | None
    started_at: datetime

    def row(self, position: int, current_item: str) -> AttemptRow:
        """The attempt row as far as this header, a position and the item asked describe it."""
        return AttemptRow(
            attempt_id=self.attempt_id,
            exam_id=self.exam_id,
            student_id=self.student_id,
            started_at=self.started_at,
            seed=self.seed,
            bank_key=self.bank_key,
            deadline=self.deadline,
            position=position,
            current_item=current_item,
        )


class PreviousAnswer(msgspec.Struct, frozen=True):
    """An answer already stored for the attempt (under the same key, or to the same item)."""

    item_id: str
    choice: int
    answered_at: datetime
    idempotency_key: str | None

    def ensure_same(self, data: AnswerRequest) -> None:
        """A repeat is harmless only when it says what was stored: the same key (or item) with a
        different answer is a conflict, never a second record."""
        item_id = str(data.item_id)
        if data.idempotency_key is not None and self.idempotency_key == data.idempotency_key:
            if (self.item_id, self.choice) != (item_id, data.choice):
                raise Conflict(
                    f"idempotency key {data.idempotency_key!r} was already used for item "
                    f"{self.item_id} with choice {self.choice}"
                )
        elif self.choice != data.choice:
            raise Conflict(f"item {item_id} was already answered with choice {self.choice}")


# ------------------------------------------------------------------------------ the exam
class PoolEntry(msgspec.Struct, frozen=True):
    """One pool item at its pinned version."""

    item_id: str
    version: int
    stem: str
    options: tuple[str, ...]
    answer_key: int | None
    scoring: str
    skills: tuple[str, ...]
    media: tuple[dict[str, Any], ...]
    status: str

    def shown(self, position: int | None = None) -> ExamItem:
        return ExamItem(self.item_id, self.stem, list(self.options), position, list(self.media))

    def check_choice(self, choice: int) -> None:
        if choice >= len(self.options):
            raise InvalidInput(
                f"choice {choice} is out of range: this item has options 0 to {len(self.options) - 1}"
            )

    def score_of(self, choice: int) -> tuple[int, bool]:
        """IRT category score and correctness (graded: full credit counts as correct)."""
        if self.scoring == "graded":
            return choice, choice == len(self.options) - 1
        return int(choice == self.answer_key), choice == self.answer_key


class ExamInfo(msgspec.Struct, frozen=True):
    """An exam as delivery needs it: its settings and its pool at the pinned item versions
    (immutable once created, so cached in process)."""

    exam: Exam
    scale: dict[str, float]
    time_limit: int | None
    pool: tuple[PoolEntry, ...]
    index_of: dict[str, int]

    @classmethod
    def build(cls, exam: Exam, pool: tuple[PoolEntry, ...]) -> ExamInfo:
        config = exam.config or {}
        return cls(
            exam=exam,
            scale=dict(config.get("scale", DEFAULT_SCALE)),
            time_limit=config.get("time_limit_seconds"),
            pool=pool,
            index_of={p.item_id: n for n, p in enumerate(pool)},
        )

    def entry(self, item_id: str) -> PoolEntry:
        """The pool entry of an item of this exam (InvalidInput when it is not one)."""
        n = self.index_of.get(item_id)
        if n is None:
            raise InvalidInput(f"item {item_id} is not part of this exam")
        return self.pool[n]


# ------------------------------------------------------------------------------ completion
class Completion(msgspec.Struct, frozen=True):
    """What completing an attempt writes: its scores, why it stopped, and (fixed form) the
    live parameters the IRT result used."""

    raw_score: int  # correct scored answers
    max_score: int
    n_scored: int  # answers that count toward θ (adaptive: non-pilot; fixed: calibrated)
    n_correct: int
    items_administered: int
    stop_reason: str
    score: Score | None  # θ, SE, scale score, percentile, skills; None: raw score only
    position: int | None = None  # adaptive: items answered (the attempt's final position)
    param_ids: list[str | None] | None = None  # fixed form: recorded on completion

    def columns(self) -> dict[str, Any]:
        """The attempt's result columns, as statement parameters."""
        sc = self.score
        fit = sc.fit if sc else None
        return {
            "raw_score": self.raw_score,
            "max_score": self.max_score,
            "n_scored": self.n_scored,
            "n_correct": self.n_correct,
            "theta": sc.theta if sc else None,
            "se": sc.se if sc else None,
            "scale_score": sc.scale_score if sc else None,
            "percentile": sc.percentile if sc else None,
            "skill_profile": json.dumps(sc.skills) if sc else None,
            "stop_reason": self.stop_reason,
            "person_fit_lz": fit.lz_star if fit else None,
            "is_person_misfit": fit.is_misfit if fit else None,
            "person_fit_reason": fit.reason if fit else None,
        }


def completion_events(
    row: AttemptRow, exam: Exam, done: Completion, completed_at: datetime
) -> list[tuple[Event, datetime | None]]:
    """`exams.attempt.completed.v1`, and with an IRT result `exams.attempt.scored.v1`, of an
    attempt completed at `completed_at` (`row`: its id, student and start)."""
    events: list[tuple[Event, datetime | None]] = [
        (
            AttemptCompletedV1(
                attempt_id=row.attempt_id,
                exam_id=exam.exam_id,
                student_id=row.student_id,
                class_id=exam.class_id,
                raw_score=done.raw_score,
                max_score=done.max_score,
                started_at=row.started_at,
                completed_at=completed_at,
            ),
            completed_at,
        )
    ]
    if done.score is not None:
        events.append(
            (
                AttemptScoredV1(
                    attempt_id=row.attempt_id,
                    exam_id=exam.exam_id,
                    student_id=row.student_id,
                    class_id=exam.class_id,
                    theta=done.score.theta,
                    se=done.score.se,
                    scale_score=done.score.scale_score,
                    percentile=done.score.percentile,
                    items_administered=done.items_administered,
                    scored_items=done.n_scored,
                    stop_reason=done.stop_reason,
                    completed_at=completed_at,
                    **_fit_fields(done.score.fit),
                ),
                completed_at,
            )
        )
    return events


def _fit_fields(fit: PersonFitResult | None) -> dict[str, Any]:
    if fit is None:
        return {}
    return {
        "person_fit_lz": fit.lz_star,
        "is_person_misfit": fit.is_misfit,
        "person_fit_reason": fit.reason,
    }


def result_of(row: AttemptRow, exam: Exam, items_administered: int) -> Result:
    """The result an attempt row reads as (in progress: no scores yet)."""
    return Result(
        attempt_id=row.attempt_id,
        exam_id=row.exam_id,
        student_id=row.student_id,
        status=row.status,
        kind=exam.kind,
        raw_score=row.raw_score,
        max_score=row.max_score,
        theta=row.theta,
        se=row.se,
        scale_score=row.scale_score,
        percentile=row.percentile,
        items_administered=items_administered,
        stop_reason=row.stop_reason,
        skills=[msgspec.convert(s, SkillScore) for s in row.skill_profile or []],
        started_at=row.started_at,
        completed_at=row.completed_at,
        person_fit=None
        if row.person_fit_reason is None
        else PersonFit(
            lz_star=row.person_fit_lz,
            is_misfit=row.is_person_misfit,
            reason=row.person_fit_reason,
        ),
    )


def attempt_view(
    row: AttemptRow,
    *,
    kind: str,
    items: list[ExamItem],
    responses: list[Response],
    next_item: ExamItem | None = None,
    result: Result | None = None,
) -> Attempt:
    """The attempt as the API shows it (`items`: fixed form, all of them; adaptive, those
    administered so far)."""
    return Attempt(
        attempt_id=row.attempt_id,
        exam_id=row.exam_id,
        student_id=row.student_id,
        status=row.status,
        started_at=row.started_at,
        completed_at=row.completed_at,
        raw_score=row.raw_score,
        max_score=row.max_score,
        items=items,
        responses=responses,
        kind=kind,
        deadline=row.deadline,
        next_item=next_item,
        result=result,
    )


# ------------------------------------------------------------------------------ authorization
async def authorize(
    policy: PolicyGate, principal: Principal, row: AttemptRow, exam: Exam, action: str
) -> None:
    """The student acts on her own attempt ("own" scope: no class lookup needed); anyone else
    (her teacher, an admin) through the exam's class."""
    class_id = None if principal.user_id == row.student_id else exam.class_id
    await policy.authorize(
        principal, action, Resource("attempt", row.attempt_id, row.student_id, class_id)
    )
