"""Notifications no single stream event makes, from a periodic sweep in `dreamseed consume
notifications` (every `DREAMSEED_REALTIME_SWEEP_SECONDS`, in each member; they agree through
PostgreSQL, so running several changes nothing):

- **assignment due soon**: an open assignment due within `DREAMSEED_REALTIME_DUE_SOON_HOURS`
  reminds each student it is meant for who has not handed it in, once (`notifications.
  due_reminders` claims the assignment; the notifications' unique key makes it once per student);
  a student who joins the class after the claim, before it is due, is reminded by the next sweep
  (only memberships that began after the claim, less a margin, are looked at again);
- **dead letters**: every event a consumer parked in its dead-letter stream tells every admin, once
  (the stream is read from a cursor in `realtime.cursors`, moved in the same transaction as the
  notifications it made).

Each sweep is one transaction with its notifications, mail-queue rows and outbox events (the same
`notify` as the rules), then wakes the recipients' streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from psycopg import AsyncConnection
from redis.asyncio import Redis

from apis.notifications.rules import Note, notify, source_uuid, wake
from core.bus import RedisStreamSource
from core.consumers import dead_letter_stream
from core.db import Pool

_log = logging.getLogger("dreamseed.notifications.sweeps")
#: Dead letters read per stream and sweep (the rest next time).
DEAD_LETTER_BATCH = 200


@dataclass(frozen=True, slots=True)
class SweepSettings:
    stream_prefix: str
    due_soon_hours: float
    email_delay_seconds: float
    consumers: tuple[str, ...]  # whose dead-letter streams to watch


#: A membership that began this long before its assignment was claimed may still have been
#: invisible to the claiming sweep (a transaction that committed after the sweep's snapshot), so
#: it is looked at again; the notifications' unique key keeps a student already reminded to one.
LATE_JOIN_MARGIN_SECONDS = 600.0


async def due_soon(conn: AsyncConnection[Any], hours: float) -> list[Note]:
    """Claim the assignments newly due within `hours` and remind their students who have not
    handed them in; and, for assignments claimed before and not yet due, remind the students who
    joined the class since (no reminder of theirs, in-app or e-mail, for it yet)."""
    cur = await conn.execute(
        "insert into notifications.due_reminders (assignment_id)"
        " select a.assignment_id from assignments.assignments a"
        " where a.open_at <= now() and a.due_at > now()"
        " and a.due_at <= now() + make_interval(secs => %s)"
        " and not exists (select 1 from notifications.due_reminders r"
        "   where r.assignment_id = a.assignment_id)"
        " on conflict do nothing returning assignment_id::text",
        (hours * 3600.0,),
    )
    claimed = [r["assignment_id"] for r in await cur.fetchall()]
    cur = await conn.execute(
        "select r.assignment_id::text from notifications.due_reminders r"
        " join assignments.assignments a on a.assignment_id = r.assignment_id"
        " where a.open_at <= now() and a.due_at > now()"
        " and a.due_at <= now() + make_interval(secs => %s)"
        " and r.assignment_id <> all(%s::uuid[])"
        " and exists (select 1 from classes.memberships m where m.class_id = a.class_id"
        "   and m.joined_at >= r.reminded_at - make_interval(secs => %s))",
        (hours * 3600.0, claimed, LATE_JOIN_MARGIN_SECONDS),
    )
    joined = [r["assignment_id"] for r in await cur.fetchall()]
    if not claimed and not joined:
        return []
    ids = claimed + joined
    cur = await conn.execute(
        "select a.assignment_id::text as assignment_id, a.title, a.due_at,"
        " m.student_id::text as student_id"
        " from unnest(%s::uuid[], %s::uuid[], %s::bool[]) as d(assignment_id, source, late)"
        " join assignments.assignments a on a.assignment_id = d.assignment_id"
        " join classes.memberships m on m.class_id = a.class_id"
        "  and (a.student_ids is null or m.student_id = any(a.student_ids))"
        " left join notifications.due_reminders r on d.late"
        "  and r.assignment_id = d.assignment_id"
        " left join assignments.work w on w.assignment_id = a.assignment_id"
        "  and w.student_id = m.student_id"
        " where (w.state is null or w.state = 'in_progress')"
        " and (not d.late or (m.joined_at >= r.reminded_at - make_interval(secs => %s)"
        "  and not exists (select 1 from notifications.notifications n"
        "   where n.user_id = m.student_id and n.kind = 'assignment_due_soon'"
        "   and n.source_event_id = d.source)"
        "  and not exists (select 1 from notifications.emails e"
        "   where e.user_id = m.student_id and e.kind = 'assignment_due_soon'"
        "   and e.source_event_id = d.source)))"
        " order by a.due_at, m.student_id",
        (
            ids,
            [source_uuid(f"due_soon:{i}") for i in ids],
            [False] * len(claimed) + [True] * len(joined),
            LATE_JOIN_MARGIN_SECONDS,
        ),
    )
    return [
        Note(
            r["student_id"],
            "assignment_due_soon",
            f"Due soon: {r['title']}",
            f"Due {r['due_at'].astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
            f"/api/v1/assignments/{r['assignment_id']}",
            source_uuid(f"due_soon:{r['assignment_id']}"),
        )
        for r in await cur.fetchall()
    ]


async def _cursor(conn: AsyncConnection[Any], name: str) -> str:
    await conn.execute(
        "insert into realtime.cursors (name, position) values (%s, '0-0') on conflict do nothing",
        (name,),
    )
    cur = await conn.execute(
        "select position from realtime.cursors where name = %s for update", (name,)
    )
    row = await cur.fetchone()
    return str(row["position"]) if row else "0-0"


async def dead_letters(
    conn: AsyncConnection[Any], redis: Redis, prefix: str, consumers: Sequence[str]
) -> list[Note]:
    """A note to every admin per dead letter parked since the last sweep (cursor per stream,
    locked for the transaction: two members never read the same entries)."""
    notes: list[Note] = []
    admins: list[str] | None = None
    for consumer in consumers:
        stream = dead_letter_stream(prefix, consumer)
        name = f"deadletter:{stream}"
        position = await _cursor(conn, name)
        source = RedisStreamSource(redis, prefix, consumer, ())  # the group's dead letters only
        entries = await source.parked(position, DEAD_LETTER_BATCH)
        if not entries:
            continue
        if admins is None:
            cur = await conn.execute(
                "select user_id::text from users.accounts"
                " where role = 'admin' and deactivated_at is null order by user_id"
            )
            admins = [r["user_id"] for r in await cur.fetchall()]
        for entry in entries:
            body = f"{entry.event_type} {entry.event_id}: {entry.error}"
            notes += [
                Note(
                    admin,
                    "consumer_dead_letter",
                    f"Consumer {consumer} parked an event it could not handle",
                    body[:2000],
                    None,
                    source_uuid(f"dead_letter:{stream}:{entry.position}"),
                )
                for admin in admins
            ]
        await conn.execute(
            "update realtime.cursors set position = %s, updated_at = now() where name = %s",
            (entries[-1].position, name),
        )
    return notes


async def sweep(pool: Pool, redis: Redis, settings: SweepSettings) -> int:
    """One sweep (both kinds); the number of in-app notifications it made."""
    async with pool.connection() as conn, conn.transaction():
        notes = await due_soon(conn, settings.due_soon_hours)
        notes += await dead_letters(conn, redis, settings.stream_prefix, settings.consumers)
        recipients = await notify(conn, [(None, n) for n in notes], settings.email_delay_seconds)
    if recipients:
        await wake(redis, settings.stream_prefix, recipients)
        _log.info("sweep: %d notifications", len(recipients))
    return len(recipients)


async def run_sweeps(
    pool: Pool, redis: Redis, settings: SweepSettings, every_seconds: float, stop: asyncio.Event
) -> None:
    """Sweep every `every_seconds` until `stop` is set."""
    while not stop.is_set():
        try:
            await sweep(pool, redis, settings)
        except Exception:  # PostgreSQL or Redis away: the next sweep catches up
            _log.exception("notification sweep failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_seconds)
