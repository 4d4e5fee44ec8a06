"""Request and response bodies of the content (item bank) service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from apis.validation import UuidText, pattern

SKILL_MEANING = "a skill name (lowercase letters, digits, '_', '.' and '-')"
Skill = Annotated[str, pattern(r"^[a-z0-9_.-]+$", SKILL_MEANING, min_length=1, max_length=64)]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Stem = Annotated[str, msgspec.Meta(min_length=1, max_length=10000)]
Options = Annotated[list[Option], msgspec.Meta(min_length=2, max_length=10)]
Skills = Annotated[list[Skill], msgspec.Meta(max_length=20)]
Status = Literal["pilot", "operational", "retired"]
Scoring = Literal["key", "graded"]
Model = Literal["rasch", "1pl", "2pl", "3pl", "grm"]
Threshold = Annotated[float, msgspec.Meta(ge=-10, le=10)]


class MediaRef(msgspec.Struct, forbid_unknown_fields=True):
    """A file shown with the item: either an upload held by the item (`media_id`; upload it with
    POST /api/v1/media/uploads, holder_type 'item', then finalise; students download it through
    GET /api/v1/media/{media_id} once an exam has shown them the item) or an external https link
    (`uri`). Exactly one of the two. `kind` is taken from the upload when a `media_id` is given."""

    media_id: UuidText | None = None
    uri: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None
    kind: Literal["image", "audio", "video", "pdf", "file"] | None = None
    alt: Annotated[str, msgspec.Meta(max_length=1000)] = ""


Media = Annotated[list[MediaRef], msgspec.Meta(max_length=20)]


class ParametersIn(msgspec.Struct, forbid_unknown_fields=True):
    """IRT parameters in the IRT form: slope `a`, threshold(s) `b`, lower asymptote `c`.

    Keyed items take one threshold; graded items (GRM) one per category boundary, increasing.
    """

    model: Model
    b: Threshold | Annotated[list[Threshold], msgspec.Meta(min_length=1, max_length=9)]
    a: Annotated[float, msgspec.Meta(gt=0, le=10)] = 1.0
    c: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    calibration_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "manual"
    provenance: dict[str, Any] = {}
    promote: bool = True


class CreateItemRequest(msgspec.Struct, forbid_unknown_fields=True):
    stem: Stem
    options: Options
    answer_key: Annotated[int, msgspec.Meta(ge=0)] | None = None
    skills: Skills = []
    status: Literal["pilot", "operational"] = "operational"
    scoring: Scoring = "key"
    media: Media = []
    parameters: ParametersIn | None = None


class ImportItem(msgspec.Struct, forbid_unknown_fields=True):
    """One row of a bulk import: a new item, optionally with a given id (moving a bank)."""

    stem: Stem
    options: Options
    answer_key: Annotated[int, msgspec.Meta(ge=0)] | None = None
    skills: Skills = []
    status: Status = "operational"
    scoring: Scoring = "key"
    media: Media = []
    parameters: ParametersIn | None = None
    item_id: UuidText | None = None


class ImportRequest(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[ImportItem], msgspec.Meta(min_length=1, max_length=5000)]


class ExportedBank(msgspec.Struct):
    """The JSON export: the whole bank in the import format (ids and live parameters)."""

    items: list[ImportItem]


class UpdateItemRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; each change makes a new item version. `expected_version` guards edits."""

    stem: Stem | None = None
    options: Options | None = None
    answer_key: Annotated[int, msgspec.Meta(ge=0)] | None = None
    skills: Skills | None = None
    status: Status | None = None
    media: Media | None = None
    expected_version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Parameters(msgspec.Struct):
    param_id: str
    version: int
    calibration_id: str
    model: str
    a: float
    b: list[float]
    c: float
    d: list[float]
    provenance: dict[str, Any]
    is_live: bool
    created_at: datetime
    promoted_at: datetime | None


class Item(msgspec.Struct):
    item_id: str
    owner_id: str
    stem: str
    options: list[str]
    answer_key: int | None
    skills: list[str]
    status: str
    created_at: datetime
    version: int = 1
    scoring: str = "key"
    media: list[MediaRef] = []
    updated_at: datetime | None = None
    parameters: Parameters | None = None  # the live (promoted) calibration


class ItemVersion(msgspec.Struct):
    item_id: str
    version: int
    stem: str
    options: list[str]
    answer_key: int | None
    scoring: str
    skills: list[str]
    media: list[MediaRef]
    status: str
    created_by: str
    created_at: datetime


class ItemPage(msgspec.Struct):
    items: list[Item]
    next_after: str | None  # pass as `after` for the next page


class ImportResult(msgspec.Struct):
    created: int
    item_ids: list[str]
