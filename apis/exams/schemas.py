"""Request and response bodies of the exams service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec


class CreateExamRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    item_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=500)]
    class_id: UUID | None = None


class AnswerRequest(msgspec.Struct, forbid_unknown_fields=True):
    item_id: UUID
    choice: Annotated[int, msgspec.Meta(ge=0, le=100)]


class ExamItem(msgspec.Struct):
    """An item as a student sees it: no key."""

    item_id: str
    stem: str
    options: list[str]


class Exam(msgspec.Struct):
    exam_id: str
    owner_id: str
    class_id: str | None
    title: str
    kind: str
    item_ids: list[str]
    created_at: datetime


class Response(msgspec.Struct):
    item_id: str
    choice: int
    answered_at: datetime
    is_correct: bool | None = None  # revealed once the attempt is completed


class Attempt(msgspec.Struct):
    attempt_id: str
    exam_id: str
    student_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    raw_score: int | None
    max_score: int | None
    items: list[ExamItem]
    responses: list[Response]
