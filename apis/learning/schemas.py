"""Request and response bodies of the learning service (courses, units, lessons, media)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from apis.validation import UuidText

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]
Body = Annotated[str, msgspec.Meta(max_length=200_000)]
MediaIds = Annotated[list[UuidText], msgspec.Meta(max_length=50)]


class CreateCourseRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    description: Description = ""


class UpdateCourseRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; `archived: true` hides the course from its classes."""

    title: Title | None = None
    description: Description | None = None
    archived: bool | None = None


class AssignCourseRequest(msgspec.Struct, forbid_unknown_fields=True):
    class_id: UuidText


class CreateUnitRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Title


class CreateLessonRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    body: Body = ""


class UpdateLessonRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Each change makes a new version; `attachments` lists finalised media ids of this lesson.
    `expected_version` guards concurrent edits (409 when the lesson moved on)."""

    title: Title | None = None
    body: Body | None = None
    attachments: MediaIds | None = None
    expected_version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Publish a given version (default: the newest)."""

    version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Attachment(msgspec.Struct):
    media_id: str
    kind: str
    content_type: str
    size_bytes: int
    filename: str


class LessonSummary(msgspec.Struct):
    lesson_id: str
    title: str
    position: int
    version: int
    published_version: int | None


class Unit(msgspec.Struct):
    unit_id: str
    title: str
    position: int
    lessons: list[LessonSummary] = []


class Course(msgspec.Struct):
    course_id: str
    owner_id: str
    title: str
    description: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    class_ids: list[str] = []  # the classes it is assigned to (its teacher only)
    units: list[Unit] = []


class Lesson(msgspec.Struct):
    """A lesson as shown: `html` is the Markdown body rendered and sanitised. Students get the
    published version; its teacher gets the newest (draft) one."""

    lesson_id: str
    unit_id: str
    course_id: str
    owner_id: str
    title: str
    body: str
    html: str
    attachments: list[Attachment]
    version: int
    published_version: int | None
    created_at: datetime
    updated_at: datetime


class LessonVersion(msgspec.Struct):
    lesson_id: str
    version: int
    title: str
    body: str
    attachments: list[str]
    created_by: str
    created_at: datetime


# ------------------------------------------------------------------------------ media
class UploadRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A declared upload. `holder_type`/`holder_id` name what will hold the file (a lesson or an
    item of the caller's, or the caller's own submission to an assignment): its rights decide who
    may upload and who may download. `sha256` is the file's SHA-256 in hex."""

    holder_type: Literal["lesson", "item", "submission"]
    holder_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    size_bytes: Annotated[int, msgspec.Meta(ge=1)]
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{64}$")]


class UploadTicket(msgspec.Struct):
    """PUT the file's bytes to `upload_url` with `headers`, before `expires_at`; then finalise."""

    media_id: str
    upload_url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


class MediaFile(msgspec.Struct):
    media_id: str
    holder_type: str
    holder_id: str
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    filename: str
    status: str
    created_at: datetime
    finalised_at: datetime | None


class Download(msgspec.Struct):
    """GET `url` before `expires_at` (a short-lived presigned URL)."""

    media_id: str
    url: str
    expires_at: datetime
    kind: str
    content_type: str
    size_bytes: int
    filename: str


# ------------------------------------------------------------------------------ records
class ProgressRequest(msgspec.Struct, forbid_unknown_fields=True):
    progress: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    seconds: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 0.0
    completed: bool = False


class Recorded(msgspec.Struct):
    statement_id: str
    verb: str
