"""Request and response bodies of the assignments service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Kind = Literal["exam", "lesson", "task"]
LatePolicy = Literal["accept", "flag", "refuse"]
Status = Literal["not_started", "in_progress", "submitted", "late", "graded", "returned"]


class CreateAssignmentRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`kind` exam needs `exam_id` (an exam of the class), lesson needs `lesson_id` (a lesson of a
    course assigned to the class), task accepts text and/or files. `student_ids` limits it to
    some students of the class (default: all). Times are RFC 3339 with an offset."""

    class_id: str
    kind: Kind
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    open_at: datetime
    due_at: datetime
    points: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 100
    late_policy: LatePolicy = "accept"
    instructions: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    exam_id: str | None = None
    lesson_id: str | None = None
    accepts_text: bool = False
    accepts_files: bool = False
    student_ids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=1000)] | None = None


class SubmitRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A new version of the caller's submission: text and/or finalised files (media uploaded with
    `holder_type: submission`, `holder_id`: the assignment). Lessons take an empty one (done)."""

    body: Annotated[str, msgspec.Meta(max_length=100000)] = ""
    media_ids: Annotated[list[str], msgspec.Meta(max_length=20)] = []


class GradeRequest(msgspec.Struct, forbid_unknown_fields=True):
    points: Annotated[float, msgspec.Meta(ge=0)]
    feedback: Annotated[str, msgspec.Meta(max_length=20000)] = ""


class Assignment(msgspec.Struct):
    assignment_id: str
    owner_id: str
    class_id: str
    kind: str
    title: str
    instructions: str
    exam_id: str | None
    lesson_id: str | None
    accepts_text: bool
    accepts_files: bool
    open_at: datetime
    due_at: datetime
    late_policy: str
    points: int
    student_ids: list[str] | None
    created_at: datetime


class Work(msgspec.Struct):
    """One student's state on an assignment. Points and feedback reach the student once the
    work is returned."""

    student_id: str
    status: Status
    version: int = 0
    submitted_at: datetime | None = None
    is_late: bool = False
    flagged: bool = False
    attempt_id: str | None = None
    points_awarded: float | None = None
    feedback: str | None = None


class TodoItem(msgspec.Struct):
    """A line of a student's "what I have to do"."""

    assignment: Assignment
    work: Work


class AssignmentView(msgspec.Struct):
    """An assignment with the work on it: every targeted student's for its teacher, the
    caller's own for a student."""

    assignment: Assignment
    work: list[Work]


class Submission(msgspec.Struct):
    assignment_id: str
    student_id: str
    version: int
    body: str
    media_ids: list[str]
    is_late: bool
    submitted_at: datetime
