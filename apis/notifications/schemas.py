"""Request and response bodies of the notifications service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Kind = Literal[
    "assignment_posted",
    "submission_returned",
    "exam_result_ready",
    "exam_finished_by_class",
    "assignment_due_soon",
    "calibration_promoted",
    "consumer_dead_letter",
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


ClockTime = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="local time of day, HH:MM (24 h)",
        examples=["22:00"],
    ),
]


class QuietHours(msgspec.Struct, forbid_unknown_fields=True):
    """No e-mail between `starts` and `ends` (local time in `time_zone`, an IANA name such as
    `Asia/Seoul`; wraps past midnight when `ends` is earlier): mails wait until they end, in-app
    notifications still arrive. `enabled` false: none."""

    enabled: bool
    starts: ClockTime = "22:00"
    ends: ClockTime = "07:00"
    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "UTC"
