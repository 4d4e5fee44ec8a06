"""Quiet hours in the user's time zone, wrapping past midnight (apis.notifications.mail_queue)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from apis.notifications.mail_queue import quiet_until


def test_quiet_until_wraps_past_midnight_in_the_users_zone() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    late = datetime(2026, 12, 7, 23, 30, tzinfo=seoul)
    until = quiet_until(late.astimezone(UTC), *_clock("22:00", "07:00"), "Asia/Seoul")
    assert until == datetime(2026, 12, 8, 7, 0, tzinfo=seoul).astimezone(UTC)
    early = datetime(2026, 12, 8, 6, 0, tzinfo=seoul)
    assert quiet_until(early, *_clock("22:00", "07:00"), "Asia/Seoul") == until
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=seoul)
    assert quiet_until(noon, *_clock("22:00", "07:00"), "Asia/Seoul") is None
    lunch = quiet_until(noon, *_clock("11:30", "13:00"), "Asia/Seoul")
    assert lunch == datetime(2026, 12, 8, 13, 0, tzinfo=seoul).astimezone(UTC)


def _clock(a: str, b: str) -> tuple[time, time]:
    return time.fromisoformat(a), time.fromisoformat(b)


def test_an_unknown_zone_falls_back_to_utc() -> None:
    now = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    assert quiet_until(now, *_clock("22:00", "23:30"), "Nowhere/Atlantis") == datetime(
        2026, 12, 7, 23, 30, tzinfo=UTC
    )
