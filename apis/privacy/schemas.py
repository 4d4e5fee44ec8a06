"""Request and response bodies of the privacy service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from apis.validation import UuidText

Kind = Literal["export", "erasure"]
Status = Literal["requested", "running", "done", "failed"]


class SubjectRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The person the export or erasure is about (her account id)."""

    user_id: UuidText


class PrivacyRequest(msgspec.Struct):
    """A privacy request and its progress. `user_id` is null once an erasure has finished
    (nothing maps her to the new key afterwards); `step` is the step running now;
    `steps_done` the finished ones, in order; `summary` counts per store (no personal values)."""

    request_id: str
    kind: Kind
    user_id: str | None
    requested_by: str
    status: Status
    step: str | None
    steps_done: list[str]
    summary: dict[str, Any]
    error: str | None
    requested_at: datetime
    finished_at: datetime | None
    download_ready: bool


class DownloadLink(msgspec.Struct):
    """A presigned link to the export's archive (a zip); valid until `expires_at`."""

    request_id: str
    url: str
    expires_at: datetime
