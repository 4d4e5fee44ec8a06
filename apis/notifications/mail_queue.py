"""Sending the mail queue `notifications.emails` (filled by the notifications consumer, rules.py).

Each recipient's mails are sent together once the oldest of them is due (a row is due the digest
window after it was queued): more than `digest_threshold` go out as one digest listing them,
fewer one by one. Quiet hours (the recipient's, in her time zone) move her due mails to when they
end. Exactly once in the normal path:

1. claim: the rows go from `queued` to `sending` (attempts + 1) in a committed transaction
   (`for update skip locked`: two members never claim the same row);
2. the SMTP conversation (transient errors retried with backoff, mail.SmtpTransport);
3. mark: `sent` with the Message-ID and the `notifications.notification.delivered.v1` event
   (channel `email`) in one transaction; a transient failure puts the rows back to `queued`
   `retry_seconds` later (`failed` after `max_attempts`), a permanent one marks them `failed`.

A process that dies between 2 and 3 leaves rows in `sending`: nobody knows whether the server took
the mail, so `reap_interrupted` marks them `failed` (never sent twice) once the claim is older than
a lease; the error says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import AsyncConnection

from apis.notifications.mail import Item, PermanentFailure, Recipient, Transport, compose
from core import outbox
from core.db import Pool
from core.events import NotificationDeliveredV1
from core.settings import EmailSettings

_log = logging.getLogger("dreamseed.notifications.email")
#: The error of a mail written to the log because no SMTP server is configured.
NOT_SENT = "not sent: no SMTP server configured (DREAMSEED_EMAIL_SMTP_HOST); written to the log"
#: A claim older than this many send timeouts is an interrupted send (see reap_interrupted).
LEASE_TIMEOUTS = 10


def quiet_until(now: datetime, starts: time, ends: time, zone: str) -> datetime | None:
    """When the quiet hours `starts`–`ends` (local time in `zone`, wrapping past midnight when
    `ends` <= `starts`) around `now` end, in UTC; None when `now` is outside them."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")  # the API validates zones; a zone dropped from tzdata since: UTC
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if starts < ends:
        inside, day = starts <= t < ends, local.date()
    else:
        inside = t >= starts or t < ends
        day = local.date() if t < ends else local.date() + timedelta(days=1)
    if not inside:
        return None
    return _local(day, ends, tz).astimezone(UTC)


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Row:
    notification_id: str
    kind: str
    source_event_id: str
    attempts: int
    item: Item


@dataclass(slots=True)
class Sent:
    """What one `deliver_due` pass did."""

    mails: int = 0  # messages handed to the server (a digest counts once)
    notifications: int = 0  # rows marked sent
    digests: int = 0
    held: int = 0  # rows moved to the end of their recipient's quiet hours
    retried: int = 0
    failed: int = 0
    logged: int = 0  # no SMTP server: written to the log, marked failed (NOT_SENT)


async def _due_users(conn: AsyncConnection[Any], limit: int) -> list[str]:
    cur = await conn.execute(
        "select user_id::text from notifications.emails where status = 'queued'"
        " and due_at <= now() group by user_id order by min(due_at) limit %s",
        (limit,),
    )
    return [r["user_id"] for r in await cur.fetchall()]


async def _claim(
    pool: Pool, user_id: str, settings: EmailSettings, sent: Sent
) -> tuple[Recipient, list[Row]] | None:
    """Claim the user's waiting mails (those due, and those queued within the window after
    them), unless her quiet hours hold them; committed before anything is sent."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select a.email, a.display_name, a.deactivated_at, q.starts, q.ends, q.time_zone,"
            " now() as now from users.accounts a"
            " left join notifications.quiet_hours q on q.user_id = a.user_id"
            " where a.user_id = %s",
            (user_id,),
        )
        who = await cur.fetchone()
        if who is None:
            return None
        if who["starts"] is not None:
            until = quiet_until(who["now"], who["starts"], who["ends"], who["time_zone"])
            if until is not None:
                cur = await conn.execute(
                    "update notifications.emails set due_at = %s where user_id = %s"
                    " and status = 'queued' and due_at < %s",
                    (until, user_id, until),
                )
                sent.held += cur.rowcount
                return None
        cur = await conn.execute(
            "update notifications.emails e set status = 'sending', attempts = e.attempts + 1,"
            " claimed_at = now() from (select notification_id from notifications.emails"
            "   where user_id = %s and status = 'queued'"
            "   and due_at <= now() + make_interval(secs => %s)"
            "   order by created_at for update skip locked) c"
            " where e.notification_id = c.notification_id"
            " returning e.notification_id::text, e.kind, e.title, e.body, e.link,"
            " e.source_event_id::text, e.attempts, e.created_at",
            (user_id, settings.digest_window_seconds),
        )
        rows = sorted(await cur.fetchall(), key=lambda r: r["created_at"])
        if not rows:
            return None
        base = settings.link_base_url.rstrip("/")
        claimed = [
            Row(
                r["notification_id"],
                r["kind"],
                r["source_event_id"],
                r["attempts"],
                Item(
                    r["notification_id"],
                    r["title"],
                    r["body"],
                    base + r["link"] if r["link"] else None,
                ),
            )
            for r in rows
        ]
        if who["deactivated_at"] is not None:
            await _finish(conn, user_id, claimed, "failed", error="the account is deactivated")
            sent.failed += len(claimed)
            return None
    return Recipient(user_id, who["email"], who["display_name"]), claimed


async def _finish(
    conn: AsyncConnection[Any],
    user_id: str,
    rows: Sequence[Row],
    status: str,
    *,
    message_id: str | None = None,
    error: str | None = None,
    retry_seconds: float = 0.0,
) -> None:
    ids = [r.notification_id for r in rows]
    cur = await conn.execute(
        "update notifications.emails set status = %s, last_error = %s, message_id = %s,"
        " sent_at = case when %s = 'sent' then now() end,"
        " due_at = case when %s = 'queued' then now() + make_interval(secs => %s) else due_at end"
        " where notification_id = any(%s::uuid[]) and status = 'sending'"
        " returning notification_id::text, sent_at",
        (status, error[:2000] if error else None, message_id, status, status, retry_seconds, ids),
    )
    if status != "sent":
        return
    by_id = {r.notification_id: r for r in rows}
    for done in await cur.fetchall():
        row = by_id[done["notification_id"]]
        await outbox.append(
            conn,
            NotificationDeliveredV1(
                notification_id=row.notification_id,
                recipient_id=user_id,
                channel="email",
                kind=row.kind,
                source_event_id=row.source_event_id,
                sent_at=done["sent_at"],
            ),
        )


async def _send(
    pool: Pool,
    transport: Transport,
    settings: EmailSettings,
    to: Recipient,
    rows: list[Row],
    sent: Sent,
) -> None:
    key = ("digest-" if len(rows) > 1 else "") + rows[0].notification_id
    message = compose(settings, to, [r.item for r in rows], key)
    try:
        await transport.send(message)
    except PermanentFailure as exc:
        async with pool.connection() as conn, conn.transaction():
            await _finish(conn, to.user_id, rows, "failed", error=str(exc))
        sent.failed += len(rows)
        _log.error("mail to %s refused for good: %s", to.user_id, exc)
        return
    except Exception as exc:  # transient (retried already): back to the queue, or give up
        again = [r for r in rows if r.attempts < settings.max_attempts]
        hopeless = [r for r in rows if r.attempts >= settings.max_attempts]
        error = f"{type(exc).__name__}: {exc}"
        async with pool.connection() as conn, conn.transaction():
            if again:
                await _finish(
                    conn, to.user_id, again, "queued", error=error,
                    retry_seconds=settings.retry_seconds,
                )  # fmt: skip
            if hopeless:
                await _finish(conn, to.user_id, hopeless, "failed", error=error)
        sent.retried += len(again)
        sent.failed += len(hopeless)
        _log.warning("mail to %s not sent (%s); %d will be retried", to.user_id, exc, len(again))
        return
    if not transport.delivers:  # written to the log only: not delivered, so no event
        async with pool.connection() as conn, conn.transaction():
            await _finish(conn, to.user_id, rows, "failed", error=NOT_SENT)
        sent.logged += len(rows)
        return
    async with pool.connection() as conn, conn.transaction():
        await _finish(conn, to.user_id, rows, "sent", message_id=message["Message-ID"])
    sent.mails += 1
    sent.notifications += len(rows)


async def deliver_due(
    pool: Pool, transport: Transport, settings: EmailSettings, max_users: int = 100
) -> Sent:
    """One pass: every recipient with a due mail gets her waiting mails (a digest when more
    than `digest_threshold`)."""
    sent = Sent()
    async with pool.connection() as conn:
        users = await _due_users(conn, max_users)
    for user_id in users:
        claimed = await _claim(pool, user_id, settings, sent)
        if claimed is None:
            continue
        to, rows = claimed
        if len(rows) > settings.digest_threshold:
            sent.digests += 1
            await _send(pool, transport, settings, to, rows, sent)
        else:
            for row in rows:
                await _send(pool, transport, settings, to, [row], sent)
    return sent


async def reap_interrupted(pool: Pool, settings: EmailSettings) -> int:
    """Rows left in `sending` by a process that died mid-send: marked failed, not sent again."""
    lease = max(settings.timeout_seconds * LEASE_TIMEOUTS, 60.0)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "update notifications.emails set status = 'failed', last_error ="
            " 'interrupted while sending: not retried, it may have been delivered'"
            " where status = 'sending' and claimed_at < now() - make_interval(secs => %s)",
            (lease,),
        )
        return cur.rowcount


async def run_sender(
    pool: Pool, transport: Transport, settings: EmailSettings, stop: asyncio.Event
) -> None:
    """Send due mails every `poll_seconds` until `stop` is set (in `dreamseed consume`)."""
    while not stop.is_set():
        try:
            await reap_interrupted(pool, settings)
            done = await deliver_due(pool, transport, settings)
            if done.mails or done.failed or done.logged:
                _log.info("mails: %s", done)
        except Exception:  # PostgreSQL away: wait and go on (the queue keeps everything)
            _log.exception("mail sender pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.poll_seconds)
