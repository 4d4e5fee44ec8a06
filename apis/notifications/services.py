"""Reading, marking and streaming a user's notifications; her preferences."""

from __future__ import annotations

from datetime import time
from typing import Any
from zoneinfo import available_timezones

from apis.notifications.rules import KINDS
from apis.notifications.schemas import (
    Notification,
    NotificationPage,
    Preference,
    Preferences,
    QuietHours,
)
from apis.state import AppState
from core.db import Pool
from core.errors import InvalidInput, NotFound

_COLUMNS = "notification_id::text, seq, kind, title, body, link, created_at, read_at"
CHANNELS = ("in_app", "email")


def _notification(r: dict[str, Any]) -> Notification:
    return Notification(
        r["notification_id"], r["seq"], r["kind"], r["title"], r["body"], r["link"],
        r["created_at"], r["read_at"],
    )  # fmt: skip


async def page(
    state: AppState, user_id: str, *, unread_only: bool, limit: int, before: int | None
) -> NotificationPage:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from notifications.notifications where user_id = %s"
            " and (not %s or read_at is null) and (%s::bigint is null or seq < %s)"
            " order by seq desc limit %s",
            (user_id, unread_only, before, before, limit),
        )
        rows = await cur.fetchall()
        cur = await conn.execute(
            "select count(*) as n from notifications.notifications"
            " where user_id = %s and read_at is null",
            (user_id,),
        )
        unread = await cur.fetchone()
    return NotificationPage([_notification(r) for r in rows], int(unread["n"]) if unread else 0)


async def after(pool: Pool, user_id: str, seq: int, limit: int = 100) -> list[Notification]:
    """Her notifications after `seq`, oldest first (what an SSE stream still has to send)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from notifications.notifications where user_id = %s and seq > %s"
            " order by seq limit %s",
            (user_id, seq, limit),
        )
        return [_notification(r) for r in await cur.fetchall()]


async def last_seq(pool: Pool, user_id: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "select coalesce(max(seq), 0) as seq from notifications.notifications"
            " where user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    return int(row["seq"]) if row else 0


async def mark_read(state: AppState, user_id: str, notification_id: str) -> Notification:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "update notifications.notifications set read_at = coalesce(read_at, now())"
            f" where notification_id = %s and user_id = %s returning {_COLUMNS}",
            (notification_id, user_id),
        )
        row = await cur.fetchone()
    if row is None:  # someone else's is as unknown as a missing one
        raise NotFound(f"notification {notification_id} not found")
    return _notification(row)


async def mark_all_read(state: AppState, user_id: str) -> int:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "update notifications.notifications set read_at = now()"
            " where user_id = %s and read_at is null",
            (user_id,),
        )
        return cur.rowcount


async def preferences(state: AppState, user_id: str) -> Preferences:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select kind, channel, enabled from notifications.preferences where user_id = %s",
            (user_id,),
        )
        stored = {(r["kind"], r["channel"]): r["enabled"] for r in await cur.fetchall()}
    return Preferences(
        [
            Preference(kind, channel, stored.get((kind, channel), True))  # type: ignore[arg-type]
            for kind in KINDS
            for channel in CHANNELS
        ]
    )


async def set_preferences(state: AppState, user_id: str, data: Preferences) -> Preferences:
    async with state.pool.connection() as conn, conn.transaction():
        for p in data.preferences:
            await conn.execute(
                "insert into notifications.preferences (user_id, kind, channel, enabled)"
                " values (%s, %s, %s, %s) on conflict (user_id, kind, channel)"
                " do update set enabled = excluded.enabled, updated_at = now()",
                (user_id, p.kind, p.channel, p.enabled),
            )
    return await preferences(state, user_id)


async def quiet_hours(state: AppState, user_id: str) -> QuietHours:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select starts, ends, time_zone from notifications.quiet_hours where user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return QuietHours(enabled=False)
    return QuietHours(True, row["starts"].strftime("%H:%M"), row["ends"].strftime("%H:%M"),
                      row["time_zone"])  # fmt: skip


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


async def set_quiet_hours(state: AppState, user_id: str, data: QuietHours) -> QuietHours:
    """Store (or, `enabled` false, remove) her quiet hours; 400 naming the field when the zone
    is not an IANA time zone or the window is empty."""
    if data.enabled:
        if data.time_zone not in available_timezones():
            raise InvalidInput(
                f"time_zone: {data.time_zone[:64]!r} is not an IANA time zone (e.g. Asia/Seoul)"
            )
        if data.starts == data.ends:
            raise InvalidInput("starts and ends: quiet hours must not start when they end")
    async with state.pool.connection() as conn:
        if not data.enabled:
            await conn.execute(
                "delete from notifications.quiet_hours where user_id = %s", (user_id,)
            )
        else:
            await conn.execute(
                "insert into notifications.quiet_hours (user_id, starts, ends, time_zone)"
                " values (%s, %s, %s, %s) on conflict (user_id) do update set"
                " starts = excluded.starts, ends = excluded.ends,"
                " time_zone = excluded.time_zone, updated_at = now()",
                (user_id, _clock(data.starts), _clock(data.ends), data.time_zone),
            )
    return await quiet_hours(state, user_id)
