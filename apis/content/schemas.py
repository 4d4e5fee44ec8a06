"""Request and response bodies of the content (item bank) service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class CreateItemRequest(msgspec.Struct, forbid_unknown_fields=True):
    stem: Annotated[str, msgspec.Meta(min_length=1, max_length=10000)]
    options: Annotated[list[Option], msgspec.Meta(min_length=2, max_length=10)]
    answer_key: Annotated[int, msgspec.Meta(ge=0)]
    skills: Annotated[list[Skill], msgspec.Meta(max_length=20)] = []
    status: Literal["pilot", "operational"] = "operational"


class Item(msgspec.Struct):
    item_id: str
    owner_id: str
    stem: str
    options: list[str]
    answer_key: int
    skills: list[str]
    status: str
    created_at: datetime
