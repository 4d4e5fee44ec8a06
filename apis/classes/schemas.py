"""Request and response bodies of the classes service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class CreateClassRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class JoinClassRequest(msgspec.Struct, forbid_unknown_fields=True):
    join_code: Annotated[str, msgspec.Meta(min_length=4, max_length=32)]


class SchoolClass(msgspec.Struct):
    class_id: str
    name: str
    teacher_id: str
    created_at: datetime
    join_code: str | None = None  # shown to the class's teacher only


class Membership(msgspec.Struct):
    class_id: str
    student_id: str
    joined_at: datetime
