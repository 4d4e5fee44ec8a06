"""Request and response bodies of the exams service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")]


class ExposureConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Exposure control: `randomesque` draws among the k best; `sympson-hetter` keeps every
    item's exposure rate under `max_rate` (its K_i are fitted by simulation at creation)."""

    method: Literal["none", "randomesque", "sympson-hetter"] = "randomesque"
    randomesque_k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    max_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.25


class StoppingConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Stop at max_items, or (after min_items) when SE < se_target or θ is classified."""

    min_items: Annotated[int, msgspec.Meta(ge=0, le=200)] = 5
    max_items: Annotated[int, msgspec.Meta(ge=1, le=200)] = 20
    se_target: Annotated[float, msgspec.Meta(gt=0, le=5)] | None = 0.3
    cut_score: Annotated[float, msgspec.Meta(ge=-6, le=6)] | None = None
    classification_z: Annotated[float, msgspec.Meta(gt=0, le=5)] = 1.96


class ScaleConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Reported scale score = mean + sd · θ."""

    mean: Annotated[float, msgspec.Meta(ge=-10000, le=10000)] = 500.0
    sd: Annotated[float, msgspec.Meta(gt=0, le=10000)] = 100.0


class AdaptiveConfig(msgspec.Struct, forbid_unknown_fields=True):
    selection: Literal["mfi", "kl", "astrat", "random"] = "mfi"
    exposure: ExposureConfig = msgspec.field(default_factory=ExposureConfig)
    # Content blueprint: target share of scored items per skill (normalised).
    blueprint: dict[Skill, Annotated[float, msgspec.Meta(gt=0, le=1)]] = {}
    stopping: StoppingConfig = msgspec.field(default_factory=StoppingConfig)
    time_limit_seconds: Annotated[int, msgspec.Meta(ge=10, le=86400)] | None = None
    # Share of administered items that are unscored pilot items (pilot-status pool items).
    pilot_share: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.0
    prior_mean: Annotated[float, msgspec.Meta(ge=-3, le=3)] = 0.0
    prior_sd: Annotated[float, msgspec.Meta(gt=0.1, le=3)] = 1.0
    n_strata: Annotated[int, msgspec.Meta(ge=1, le=10)] = 4
    scale: ScaleConfig = msgspec.field(default_factory=ScaleConfig)


class CreateExamRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # Fixed form: the items in order. Adaptive: the pool the CAT draws from.
    item_ids: Annotated[
        list[UUID],
        msgspec.Meta(min_length=1, max_length=5000, extra_json_schema={"uniqueItems": True}),
    ]
    class_id: UUID | None = None
    kind: Literal["fixed", "adaptive"] = "fixed"
    adaptive: AdaptiveConfig | None = None
    # Either kind: seconds from the start; answers later than that (and a 2 s grace) are refused
    # and the attempt is finished at its deadline. (Adaptive exams may set it in `adaptive`.)
    time_limit_seconds: Annotated[int, msgspec.Meta(ge=10, le=86400)] | None = None


class SkillRange(msgspec.Struct, forbid_unknown_fields=True):
    """How many items of a skill the form holds (min = max for an exact count)."""

    min: Annotated[int, msgspec.Meta(ge=0, le=500)]
    max: Annotated[int, msgspec.Meta(ge=0, le=500)]


class AssembleRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Automated assembly of a fixed form (van der Linden 2005): `length` items from the pool
    (`item_ids`, default every item of your bank with live IRT parameters) meeting the
    `blueprint`, at most one item of each `enemies` set, no item whose exposure rate (share of
    your exams' attempts that showed it) exceeds `max_exposure`, with the test information at
    `theta` as close as possible to `target` (minimax), or as large as possible (maximin) when
    no target is given. Creates the exam (not yet for a class unless `class_id`)."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    length: Annotated[int, msgspec.Meta(ge=1, le=500)]
    theta: Annotated[
        list[Annotated[float, msgspec.Meta(ge=-6, le=6)]], msgspec.Meta(min_length=1, max_length=21)
    ]
    target: (
        Annotated[
            list[Annotated[float, msgspec.Meta(gt=0, le=1000)]],
            msgspec.Meta(min_length=1, max_length=21),
        ]
        | None
    ) = None
    blueprint: dict[Skill, SkillRange] = msgspec.field(default_factory=dict)
    item_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=5000)] | None = None
    enemies: Annotated[
        list[Annotated[list[UUID], msgspec.Meta(min_length=2, max_length=100)]],
        msgspec.Meta(max_length=1000),
    ] = msgspec.field(default_factory=list)
    max_exposure: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    class_id: UUID | None = None
    time_limit_seconds: Annotated[int, msgspec.Meta(ge=10, le=86400)] | None = None


class AssemblyReport(msgspec.Struct):
    """How the form was built: objective value (minimax: worst |information - target|;
    maximin: the smallest information), solver status and gap, information achieved at each θ,
    items per blueprint skill, candidates considered and those over the exposure cap."""

    objective: str
    value: float
    status: str
    gap: float
    theta: list[float]
    target: list[float] | None
    information: list[float]
    skill_counts: dict[str, int]
    seconds: float
    candidates: int
    over_exposure_cap: int


IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AnswerRequest(msgspec.Struct, forbid_unknown_fields=True):
    item_id: UUID
    choice: Annotated[int, msgspec.Meta(ge=0, le=100)]
    # Re-sending the same key returns the stored outcome instead of recording twice.
    idempotency_key: IdempotencyKey | None = None


class ExamItem(msgspec.Struct):
    """An item as a student sees it: no key."""

    item_id: str
    stem: str
    options: list[str]
    position: int | None = None
    media: list[dict[str, Any]] = []


class Exam(msgspec.Struct):
    exam_id: str
    owner_id: str
    class_id: str | None
    title: str
    kind: str
    item_ids: list[str]
    created_at: datetime
    config: dict[str, Any] | None = None  # adaptive settings and CAT config; fixed: time limit

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Exam:
        """From an `exams.exams` row selected with text ids (config only when selected)."""
        return cls(
            row["exam_id"],
            row["owner_id"],
            row["class_id"],
            row["title"],
            row["kind"],
            list(row["item_ids"]),
            row["created_at"],
            row.get("config"),
        )


class AssembledExam(msgspec.Struct):
    exam: Exam
    assembly: AssemblyReport


class Response(msgspec.Struct):
    item_id: str
    choice: int
    answered_at: datetime
    is_correct: bool | None = None  # revealed once the attempt is completed


class SkillScore(msgspec.Struct):
    skill: str
    items: int
    correct: int
    theta: float
    se: float


class PersonFit(msgspec.Struct):
    """Person fit of the scored answers: Snijders' (2001) lz* at the MAP ability (graded items
    by the same correction over categories), flagged as misfit below -1.645 (α = .05). lz_star
    and is_misfit are null when the pattern cannot be judged (too few items, all right or all
    wrong); the reason says why."""

    lz_star: float | None
    is_misfit: bool | None
    reason: str


class Result(msgspec.Struct):
    attempt_id: str
    exam_id: str
    student_id: str
    status: str
    kind: str
    raw_score: int | None
    max_score: int | None
    theta: float | None
    se: float | None
    scale_score: float | None
    percentile: float | None
    items_administered: int
    stop_reason: str | None
    skills: list[SkillScore]
    started_at: datetime
    completed_at: datetime | None
    person_fit: PersonFit | None = None  # with an IRT result


class Attempt(msgspec.Struct):
    attempt_id: str
    exam_id: str
    student_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    raw_score: int | None
    max_score: int | None
    items: list[ExamItem]  # adaptive: the items administered so far, in order
    responses: list[Response]
    kind: str = "fixed"
    deadline: datetime | None = None
    next_item: ExamItem | None = None  # adaptive: the item to answer now
    result: Result | None = None


class AnswerReply(msgspec.Struct):
    item_id: str
    choice: int
    answered_at: datetime
    is_correct: bool | None = None
    status: str = "in_progress"  # the attempt's status after this answer
    answered: int | None = None  # items answered so far (adaptive)
    next_item: ExamItem | None = None  # adaptive: the next item, null once finished
    result: Result | None = None  # adaptive: the result, once finished
    replayed: bool = False  # true when this repeats an already recorded answer


class Selection(msgspec.Struct):
    position: int
    item_id: str
    pilot: bool
    rule: str
    reason: str
    criterion: float | None
    candidates: int
    theta_before: float
    se_before: float
    selected_at: datetime
    choice: int | None
    score: int | None


class Replay(msgspec.Struct):
    attempt_id: str
    matches: bool
    positions_checked: int
    first_mismatch: int | None
    detail: str
    seed: int
    rng: str
    replayed_item_ids: list[str]
    stored_item_ids: list[str]
    stop_reason: str | None
    theta: float
    se: float
    selections: list[Selection]


class ItemReportRow(msgspec.Struct):
    item_id: str
    status: str
    skills: list[str]
    selections: int
    exposure_rate: float | None  # selections / attempts started
    responses: int
    proportion_correct: float | None
    mean_theta_of_takers: float | None
    a: float | None
    b: list[float] | None


class ItemReport(msgspec.Struct):
    exam_id: str
    attempts: int
    completed: int
    items: list[ItemReportRow]
