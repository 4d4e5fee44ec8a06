"""Request and response bodies of the classes service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class CreateClassRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class JoinClassRequest(msgspec.Struct, forbid_unknown_fields=True):
    join_code: Annotated[str, msgspec.Meta(min_length=4, max_length=32)]


class UpdateClassRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Rename, archive (`archived: true`: no one can join; kept for its history) or restore."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    archived: bool | None = None


class SchoolClass(msgspec.Struct):
    class_id: str
    name: str
    teacher_id: str
    created_at: datetime
    join_code: str | None = None  # shown to the class's teacher only
    archived: bool = False


class Member(msgspec.Struct):
    """A student of the class, as her teacher sees her on the roster."""

    student_id: str
    display_name: str
    email: str
    joined_at: datetime


class Membership(msgspec.Struct):
    class_id: str
    student_id: str
    joined_at: datetime
