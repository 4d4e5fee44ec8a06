"""Request and response bodies of the tutor service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from apis.validation import UuidText

Mode = Literal["off_during_exams", "hints_only", "open"]
TurnKind = Literal["model", "fallback", "refusal"]


class OpenConversationRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A tutoring session in one of the student's classes, optionally on a lesson, an assignment
    of the class, or an item of an exam she has finished (`exam_id` and `item_id` together)."""

    class_id: UuidText
    lesson_id: UuidText | None = None
    assignment_id: UuidText | None = None
    exam_id: UuidText | None = None
    item_id: UuidText | None = None


class SendMessageRequest(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class ClassTutorRequest(msgspec.Struct, forbid_unknown_fields=True):
    """off_during_exams: no tutor while a student has an exam in progress; hints_only: hints and
    guiding questions, no worked solutions; open: full help (practice)."""

    mode: Mode


class Citation(msgspec.Struct):
    lesson_id: str
    lesson_title: str
    section: str


class Turn(msgspec.Struct):
    turn_id: str
    turn_index: int
    question: str
    answer: str
    kind: TurnKind
    reason: str
    citations: list[Citation]
    created_at: datetime
    model: str | None = None


class Conversation(msgspec.Struct):
    conversation_id: str
    user_id: str
    class_id: str
    created_at: datetime
    turns: int = 0
    lesson_id: str | None = None
    assignment_id: str | None = None
    exam_id: str | None = None
    item_id: str | None = None
    last_turn_at: datetime | None = None
    messages: list[Turn] | None = None  # the transcript, when one conversation is read


class ClassTutor(msgspec.Struct):
    class_id: str
    mode: Mode
    updated_at: datetime | None = None


class TurnDone(msgspec.Struct):
    """The last Server-Sent Event of an answer (`event: done`)."""

    turn_id: str
    turn_index: int
    kind: TurnKind
    reason: str
    citations: list[Citation]
