"""Request and response bodies of the notifications service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Kind = Literal[
    "assignment_posted", "submission_returned", "exam_result_ready", "exam_finished_by_class"
]
Channel = Literal["in_app", "email"]


class Notification(msgspec.Struct):
    notification_id: str
    seq: int  # the SSE event id: a stream resumed with Last-Event-ID starts after it
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(msgspec.Struct):
    notifications: list[Notification]
    unread: int  # all unread, not only this page's


class Preference(msgspec.Struct, forbid_unknown_fields=True):
    kind: Kind
    channel: Channel
    enabled: bool


class Preferences(msgspec.Struct, forbid_unknown_fields=True):
    """Every kind and channel with its state (a kind not listed in a PUT keeps its state)."""

    preferences: Annotated[list[Preference], msgspec.Meta(max_length=50)]


class MarkedRead(msgspec.Struct):
    marked: int
