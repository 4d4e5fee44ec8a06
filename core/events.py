"""Event contracts, defined once and shared by producers (services) and consumers (relay, lake).

Names follow `<domain>.<entity>.<past_verb>.v<N>`. A new version is a new Struct with a new name;
old versions stay readable forever because the lake keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event. `event_type` is the contract's name; `aggregate_id` keys its stream."""

    event_type: ClassVar[str]

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError


class UserRegisteredV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "users.user.registered.v1"
    user_id: str
    role: str
    registered_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.user_id


class UserDeactivatedV1(Event, frozen=True, kw_only=True):
    """An administrator deactivated the account: no more sign-ins, its tokens are revoked."""

    event_type: ClassVar[str] = "users.user.deactivated.v1"
    user_id: str
    deactivated_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.user_id


class UserRoleChangedV1(Event, frozen=True, kw_only=True):
    """An administrator changed the account's role (its tokens are revoked: they carry the role)."""

    event_type: ClassVar[str] = "users.user.role_changed.v1"
    user_id: str
    role: str
    previous_role: str
    changed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.user_id


class ClassCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "classes.class.created.v1"
    class_id: str
    teacher_id: str
    created_at: datetime
    # Optional since issue 18 (marts from the lake): the class's name (null before).
    name: str | None = None

    @property
    def aggregate_id(self) -> str:
        return self.class_id


class ClassJoinedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "classes.membership.joined.v1"
    class_id: str
    student_id: str
    joined_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.class_id


class ItemCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "content.item.created.v1"
    item_id: str
    owner_id: str
    skills: list[str]
    created_at: datetime
    # Optional since issue 18 (marts from the lake; null before): the first version's number and
    # status, its scoring rule and how many options it offers (never the options or the key).
    version: int | None = None
    status: str | None = None
    scoring: str | None = None
    option_count: int | None = None

    @property
    def aggregate_id(self) -> str:
        return self.item_id


class ExamCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "exams.exam.created.v1"
    exam_id: str
    owner_id: str
    class_id: str | None
    item_count: int
    created_at: datetime
    # Optional since issue 18 (marts from the lake): the exam's form and title.
    kind: str | None = None
    title: str | None = None
    # Optional since issue 18 (null before, and for exams without one): the adaptive exam's
    # exposure target (Sympson-Hetter max_rate, exams.exams.config -> exposure -> max_rate).
    exposure_max_rate: float | None = None

    @property
    def aggregate_id(self) -> str:
        return self.exam_id


class AttemptStartedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "exams.attempt.started.v1"
    attempt_id: str
    exam_id: str
    student_id: str
    started_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


class ResponseRecordedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "exams.response.recorded.v1"
    attempt_id: str
    exam_id: str
    student_id: str
    item_id: str
    choice: int
    is_correct: bool
    answered_at: datetime
    # Optional since issue 18 (marts from the lake): what exams.responses also records.
    position: int | None = None
    item_version: int | None = None
    score: int | None = None
    pilot: bool | None = None

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


class AttemptCompletedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "exams.attempt.completed.v1"
    attempt_id: str
    exam_id: str
    student_id: str
    class_id: str | None
    raw_score: int
    max_score: int
    started_at: datetime
    completed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


class ItemUpdatedV1(Event, frozen=True, kw_only=True):
    """An item got a new version (edit, status change, retirement)."""

    event_type: ClassVar[str] = "content.item.updated.v1"
    item_id: str
    owner_id: str
    version: int
    status: str
    skills: list[str]
    updated_at: datetime
    # Optional since issue 18 (marts from the lake; null before): scoring rule and option count.
    scoring: str | None = None
    option_count: int | None = None

    @property
    def aggregate_id(self) -> str:
        return self.item_id


class ItemParametersAddedV1(Event, frozen=True, kw_only=True):
    """A calibration wrote a new version of an item's IRT parameters.

    The optional fields (issue 18) carry the calibration's provenance the marts read, as the
    `content.item_parameters.provenance` JSON holds it (`parameter_provenance`): the response
    history's Iceberg snapshot, responses used, the item's role (operational / pilot), the
    standard errors of a and b, and the S-X2 item fit (statistic, df, p). Null when the producer
    did not know them (parameters set by hand) and in events recorded before they existed."""

    event_type: ClassVar[str] = "content.item_parameters.added.v1"
    param_id: str
    item_id: str
    version: int
    calibration_id: str
    model: str
    a: float
    b: list[float]
    c: float
    created_at: datetime
    source_snapshot_id: str | None = None
    n_responses: int | None = None
    role: str | None = None
    se_a: float | None = None
    se_b: float | None = None
    sx2: float | None = None
    sx2_df: float | None = None
    sx2_p: float | None = None

    @property
    def aggregate_id(self) -> str:
        return self.item_id


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parameter_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The `ItemParametersAddedV1` provenance fields from a parameter row's provenance JSON
    (`role`, `n_responses`, `source_snapshot_id`, `se: {a, b}`, `fit: {value, df, p}`, as the
    calibration pipeline writes it). Free-form provenance (the content API accepts any object):
    a value of the wrong type, or a non-finite number, becomes None, never an error."""

    def part(name: str) -> Mapping[str, Any]:
        value = provenance.get(name)
        return value if isinstance(value, Mapping) else {}

    snapshot = provenance.get("source_snapshot_id")
    if isinstance(snapshot, int) and not isinstance(snapshot, bool):
        snapshot = str(snapshot)
    count = _finite(provenance.get("n_responses"))
    n_responses = int(count) if count is not None and count.is_integer() else None
    role = provenance.get("role")
    se, fit = part("se"), part("fit")
    return {
        "source_snapshot_id": snapshot if isinstance(snapshot, str) else None,
        "n_responses": n_responses,
        "role": role if isinstance(role, str) else None,
        "se_a": _finite(se.get("a")),
        "se_b": _finite(se.get("b")),
        "sx2": _finite(fit.get("value")),
        "sx2_df": _finite(fit.get("df")),
        "sx2_p": _finite(fit.get("p")),
    }


class ItemParametersPromotedV1(Event, frozen=True, kw_only=True):
    """A parameter version became the live one of its item."""

    event_type: ClassVar[str] = "content.item_parameters.promoted.v1"
    param_id: str
    item_id: str
    version: int
    calibration_id: str
    previous_param_id: str | None
    promoted_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.item_id


class ItemSelectedV1(Event, frozen=True, kw_only=True):
    """An adaptive exam chose the next item; enough to audit and replay the choice."""

    event_type: ClassVar[str] = "exams.item.selected.v1"
    attempt_id: str
    exam_id: str
    student_id: str
    position: int
    item_id: str
    pilot: bool
    rule: str
    reason: str
    criterion: float | None
    candidates: int
    seed: int
    theta_before: float
    se_before: float
    selected_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


class AttemptScoredV1(Event, frozen=True, kw_only=True):
    """The IRT result of a finished attempt (beside `exams.attempt.completed.v1`): adaptive, or
    fixed-form with calibrated items answered."""

    event_type: ClassVar[str] = "exams.attempt.scored.v1"
    attempt_id: str
    exam_id: str
    student_id: str
    class_id: str | None
    theta: float
    se: float
    scale_score: float
    percentile: float
    items_administered: int
    scored_items: int
    stop_reason: str
    completed_at: datetime
    # Person fit (Snijders' lz*); null lz/flag when the pattern cannot be judged (the reason says)
    person_fit_lz: float | None = None
    is_person_misfit: bool | None = None
    person_fit_reason: str | None = None

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


# ------------------------------------------------------------------------------ learning
class CourseCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "learning.course.created.v1"
    course_id: str
    owner_id: str
    created_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.course_id


class CourseUpdatedV1(Event, frozen=True, kw_only=True):
    """Renamed, described again, archived or restored."""

    event_type: ClassVar[str] = "learning.course.updated.v1"
    course_id: str
    owner_id: str
    archived: bool
    updated_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.course_id


class CourseAssignedV1(Event, frozen=True, kw_only=True):
    """A class now sees the course (`assigned` false: it no longer does)."""

    event_type: ClassVar[str] = "learning.course.assigned.v1"
    course_id: str
    class_id: str
    owner_id: str
    assigned: bool
    changed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.course_id


class UnitCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "learning.unit.created.v1"
    unit_id: str
    course_id: str
    position: int
    created_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.unit_id


class LessonChangedV1(Event, frozen=True, kw_only=True):
    """Base of the lesson events (one family, one silver table)."""

    lesson_id: str
    unit_id: str
    course_id: str
    owner_id: str
    version: int
    published_version: int | None
    attachment_count: int
    changed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.lesson_id


class LessonCreatedV1(LessonChangedV1, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "learning.lesson.created.v1"


class LessonUpdatedV1(LessonChangedV1, frozen=True, kw_only=True):
    """A new version of the lesson's title, body or attachments."""

    event_type: ClassVar[str] = "learning.lesson.updated.v1"


class LessonPublishedV1(LessonChangedV1, frozen=True, kw_only=True):
    """`published_version` is what students see from now on."""

    event_type: ClassVar[str] = "learning.lesson.published.v1"


class LessonUnpublishedV1(LessonChangedV1, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "learning.lesson.unpublished.v1"


class MediaChangedV1(Event, frozen=True, kw_only=True):
    """Base of the media events (one family, one silver table). `reason` says why an upload
    was refused or swept; no file names (free text stays in the service's store)."""

    media_id: str
    user_id: str | None
    holder_type: str | None
    holder_id: str | None
    kind: str | None
    content_type: str | None
    size_bytes: int | None
    reason: str | None = None
    changed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.media_id


class MediaUploadIssuedV1(MediaChangedV1, frozen=True, kw_only=True):
    """A presigned PUT was issued for a declared upload (the row is pending)."""

    event_type: ClassVar[str] = "learning.media.issued.v1"


class MediaFinalisedV1(MediaChangedV1, frozen=True, kw_only=True):
    """The stored object matched its declaration: the file counts from now on."""

    event_type: ClassVar[str] = "learning.media.finalised.v1"


class MediaRejectedV1(MediaChangedV1, frozen=True, kw_only=True):
    """Finalise found no object or a mismatching one: object and row deleted."""

    event_type: ClassVar[str] = "learning.media.rejected.v1"


class MediaPurgedV1(MediaChangedV1, frozen=True, kw_only=True):
    """An upload never finalised (or an object without a row) was removed by the sweep."""

    event_type: ClassVar[str] = "learning.media.purged.v1"


# ------------------------------------------------------------------------------ classes (more)
class ClassUpdatedV1(Event, frozen=True, kw_only=True):
    """Renamed, archived or restored."""

    event_type: ClassVar[str] = "classes.class.updated.v1"
    class_id: str
    teacher_id: str
    archived: bool
    updated_at: datetime
    # Optional since issue 18 (marts from the lake): the class's name after the change.
    name: str | None = None

    @property
    def aggregate_id(self) -> str:
        return self.class_id


class ClassMemberRemovedV1(Event, frozen=True, kw_only=True):
    """The teacher removed a student from the class."""

    event_type: ClassVar[str] = "classes.membership.removed.v1"
    class_id: str
    student_id: str
    removed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.class_id


# ------------------------------------------------------------------------------ assignments
class AssignmentCreatedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "assignments.assignment.created.v1"
    assignment_id: str
    owner_id: str
    class_id: str
    kind: str
    exam_id: str | None
    lesson_id: str | None
    open_at: datetime
    due_at: datetime
    late_policy: str
    points: int
    targeted_students: int | None  # None: the whole class
    created_at: datetime
    # Optional since issue 18 (marts from the lake): the targeted students' ids when the
    # assignment lists them (None: the whole class, or an event recorded before). The lake keeps
    # them only as pseudonyms (silver column `student_keys`, lake.pseudonym.PERSON_FIELDS).
    student_ids: list[str] | None = None

    @property
    def aggregate_id(self) -> str:
        return self.assignment_id


class WorkChangedV1(Event, frozen=True, kw_only=True):
    """Base of a student's work on an assignment (one family, the silver `submissions`)."""

    assignment_id: str
    student_id: str
    class_id: str
    kind: str
    state: str
    version: int
    is_late: bool
    flagged: bool
    points_awarded: float | None = None
    attempt_id: str | None = None
    changed_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.assignment_id


class WorkStartedV1(WorkChangedV1, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "assignments.work.started.v1"


class WorkSubmittedV1(WorkChangedV1, frozen=True, kw_only=True):
    """A submission version (or, for exams and lessons, the completion that counts as one)."""

    event_type: ClassVar[str] = "assignments.work.submitted.v1"


class WorkGradedV1(WorkChangedV1, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "assignments.work.graded.v1"


class WorkReturnedV1(WorkChangedV1, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "assignments.work.returned.v1"


class LearningRecordedV1(Event, frozen=True, kw_only=True):
    """An xAPI statement stored by the Learning Record Store (`lrs.statements`): the platform's
    own records and external players' alike (no free text here; the statement stays in the LRS).
    `student_id` is the actor's platform account when an IFI matched one, else None; `actor_id`
    is always set (the account, or the actor's canonical IFI) and is pseudonymised in the lake.
    `voids_record_id`: the statement a voiding statement voids."""

    event_type: ClassVar[str] = "learning.record.recorded.v1"
    record_id: str
    student_id: str | None = None
    actor_id: str | None = None
    verb: str
    verb_id: str | None = None
    object_type: str
    object_id: str
    activity_id: str | None = None
    registration: str | None = None
    class_id: str | None = None
    score: float | None = None
    success: bool | None = None
    duration_seconds: float | None = None
    progress: float | None = None
    completion: bool | None = None
    voids_record_id: str | None = None
    credential_id: str | None = None
    recorded_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.record_id


class TutorTurnCompletedV1(Event, frozen=True, kw_only=True):
    """One exchange of a tutor conversation. No free text: the question and the answer stay in
    the tutor's store (tutor.turns); the lake gets what analysts count. `kind` is model, fallback
    or refusal; `policy_reason` the reveal policy's reason (or why the fallback answered);
    `lesson_ids` the lessons of the cited passages; `skills` those of the item discussed."""

    event_type: ClassVar[str] = "tutor.turn.completed.v1"
    conversation_id: str
    turn_id: str
    turn_index: int
    student_id: str
    class_id: str | None = None
    item_id: str | None = None
    exam_id: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    revealed_answer: bool = False
    policy_reason: str | None = None
    completed_at: datetime
    kind: str | None = None
    lesson_ids: list[str] = msgspec.field(default_factory=list)
    skills: list[str] = msgspec.field(default_factory=list)

    @property
    def aggregate_id(self) -> str:
        return self.conversation_id


# ------------------------------------------------------------------------------ notifications
class NotificationDeliveredV1(Event, frozen=True, kw_only=True):
    """A notification was delivered to its recipient (in-app: made in her inbox; `channel` says
    where it went).
    No title or body here: those stay in `notifications.notifications`."""

    event_type: ClassVar[str] = "notifications.notification.delivered.v1"
    notification_id: str
    recipient_id: str
    channel: str
    kind: str
    source_event_id: str | None = None
    sent_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.notification_id


class LrsCredentialIssuedV1(Event, frozen=True, kw_only=True):
    """An LRS Basic credential issued (its key and secret stay in `lrs.credentials`)."""

    event_type: ClassVar[str] = "lrs.credential.issued.v1"
    credential_id: str
    owner_id: str  # who issued it
    class_id: str | None = None
    scopes: list[str]
    issued_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.credential_id


class LrsCredentialRevokedV1(Event, frozen=True, kw_only=True):
    event_type: ClassVar[str] = "lrs.credential.revoked.v1"
    credential_id: str
    owner_id: str  # who revoked it
    revoked_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.credential_id


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls
    for cls in (
        UserRegisteredV1,
        UserDeactivatedV1,
        UserRoleChangedV1,
        ClassCreatedV1,
        ClassJoinedV1,
        ItemCreatedV1,
        ExamCreatedV1,
        AttemptStartedV1,
        ResponseRecordedV1,
        AttemptCompletedV1,
        ItemUpdatedV1,
        ItemParametersAddedV1,
        ItemParametersPromotedV1,
        ItemSelectedV1,
        AttemptScoredV1,
        CourseCreatedV1,
        CourseUpdatedV1,
        CourseAssignedV1,
        UnitCreatedV1,
        LessonCreatedV1,
        LessonUpdatedV1,
        LessonPublishedV1,
        LessonUnpublishedV1,
        MediaUploadIssuedV1,
        MediaFinalisedV1,
        MediaRejectedV1,
        MediaPurgedV1,
        ClassUpdatedV1,
        ClassMemberRemovedV1,
        AssignmentCreatedV1,
        WorkStartedV1,
        WorkSubmittedV1,
        WorkGradedV1,
        WorkReturnedV1,
        LearningRecordedV1,
        TutorTurnCompletedV1,
        NotificationDeliveredV1,
        LrsCredentialIssuedV1,
        LrsCredentialRevokedV1,
    )
}


def encode_payload(event: Event) -> bytes:
    return msgspec.json.encode(event)


def decode_payload(event_type: str, payload: bytes | str) -> Event:
    """Decode a stored payload into its contract; unknown types raise KeyError."""
    return msgspec.json.decode(payload, type=EVENT_TYPES[event_type])
