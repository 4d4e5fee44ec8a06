"""The notifications consumer: rules that turn events into notifications.

Each rule reads one event (and what it needs from PostgreSQL) and names the recipients and what
to tell them. `handle` runs inside the consumer's batch transaction (core.consumers): each
notification row is written with its `notifications.notification.delivered.v1` outbox event, so an
event makes its notifications exactly once. A recipient who lets the kind through by e-mail also
gets a row in the mail queue `notifications.emails` in the same transaction (sent by
apis.notifications.email). After the commit the recipients' open SSE streams are woken through
Redis pub/sub (losing a wake-up only delays a stream until its next heartbeat).

A notification about something no single event stands for (a calibration's promotion, made of one
event per item; the due-soon reminders and dead-letter alerts of apis.notifications.sweeps) is
keyed by a name-based UUID of what it is about (`source_uuid`) instead of an event id, so the
unique key (user, kind, source) still makes it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, uuid5

from psycopg import AsyncConnection
from redis.asyncio import Redis

from core import outbox
from core.consumers import ConsumerSpec, StreamEvent
from core.events import NotificationDeliveredV1
from core.ids import new_id

NAME: Final = "notifications"
DOMAINS: Final = ("assignments", "exams", "content")


@dataclass(frozen=True, slots=True)
class Note:
    user_id: str
    kind: str
    title: str
    body: str
    link: str | None
    source_id: str | None = None  # what it is about when not the event itself (source_uuid)


def source_uuid(name: str) -> str:
    """The stable id of a notification's subject that is not one event (`due_soon:<id>`)."""
    return str(uuid5(NAMESPACE_URL, f"dreamseed:notifications:{name}"))


Rule = Callable[[AsyncConnection[Any], StreamEvent], Awaitable[list[Note]]]


async def _assignment(conn: AsyncConnection[Any], assignment_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "select title, class_id::text, student_ids::text[] as student_ids, due_at"
        " from assignments.assignments where assignment_id = %s",
        (assignment_id,),
    )
    return await cur.fetchone()


async def assignment_posted(conn: AsyncConnection[Any], event: StreamEvent) -> list[Note]:
    """Every student the assignment is meant for (the class, or the students listed)."""
    a = await _assignment(conn, event.payload["assignment_id"])
    if a is None:
        return []
    cur = await conn.execute(
        "select student_id::text from classes.memberships where class_id = %s"
        " and (%s::uuid[] is null or student_id = any(%s::uuid[]))",
        (a["class_id"], a["student_ids"], a["student_ids"]),
    )
    due = a["due_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        Note(
            r["student_id"],
            "assignment_posted",
            f"New assignment: {a['title']}",
            f"Due {due}.",
            f"/api/v1/assignments/{event.payload['assignment_id']}",
        )
        for r in await cur.fetchall()
    ]


async def work_returned(conn: AsyncConnection[Any], event: StreamEvent) -> list[Note]:
    a = await _assignment(conn, event.payload["assignment_id"])
    if a is None:
        return []
    points = event.payload.get("points_awarded")
    body = "" if points is None else f"Points: {points:g}."
    return [
        Note(
            event.payload["student_id"],
            "submission_returned",
            f"Your work was returned: {a['title']}",
            body,
            f"/api/v1/assignments/{event.payload['assignment_id']}",
        )
    ]


async def exam_result_ready(conn: AsyncConnection[Any], event: StreamEvent) -> list[Note]:
    """The student's result; her teacher's note once every student of the class finished."""
    p = event.payload
    cur = await conn.execute(
        "select e.title, e.owner_id::text as owner_id, e.class_id::text as class_id,"
        " (select count(*) from classes.memberships m where m.class_id = e.class_id) as members,"
        " (select count(distinct a.student_id) from exams.attempts a"
        "   join classes.memberships m on m.class_id = e.class_id and m.student_id = a.student_id"
        "   where a.exam_id = e.exam_id and a.status = 'completed') as finished"
        " from exams.exams e where e.exam_id = %s",
        (p["exam_id"],),
    )
    exam = await cur.fetchone()
    if exam is None:
        return []
    notes = [
        Note(
            p["student_id"],
            "exam_result_ready",
            f"Your result is ready: {exam['title']}",
            f"Score {p['raw_score']} of {p['max_score']}.",
            f"/api/v1/attempts/{p['attempt_id']}/result",
        )
    ]
    if exam["class_id"] and exam["members"] and exam["finished"] == exam["members"]:
        # Only the completion that made the count reach the class size says so (once per class
        # size: a new member who then finishes makes a new note, which is right).
        cur = await conn.execute(
            "select 1 from notifications.notifications where user_id = %s"
            " and kind = 'exam_finished_by_class' and link = %s and body = %s",
            (exam["owner_id"], f"/api/v1/exams/{p['exam_id']}/item-report", _all(exam)),
        )
        if await cur.fetchone() is None:
            notes.append(
                Note(
                    exam["owner_id"],
                    "exam_finished_by_class",
                    f"Everyone finished: {exam['title']}",
                    _all(exam),
                    f"/api/v1/exams/{p['exam_id']}/item-report",
                )
            )
    return notes


def _all(exam: dict[str, Any]) -> str:
    return f"All {exam['members']} students of the class finished."


async def calibration_promoted(conn: AsyncConnection[Any], event: StreamEvent) -> list[Note]:
    """The owner of a promoted item, once per calibration: a promotion commits one event per
    item in one transaction, so the first of them already counts all of her items."""
    p = event.payload
    cur = await conn.execute(
        "select i.owner_id::text as owner_id, a.role,"
        " (select count(*) from content.item_parameters q join content.items j using (item_id)"
        "   where q.calibration_id = %s and q.is_live and j.owner_id = i.owner_id) as items"
        " from content.items i join users.accounts a on a.user_id = i.owner_id"
        " where i.item_id = %s",
        (p["calibration_id"], p["item_id"]),
    )
    row = await cur.fetchone()
    if row is None or row["role"] not in ("teacher", "admin"):
        return []
    n = int(row["items"])
    return [
        Note(
            row["owner_id"],
            "calibration_promoted",
            f"New item parameters are live: {p['calibration_id']}"[:300],
            f"{n} of your items now use the parameters of calibration {p['calibration_id']}.",
            None,
            source_uuid(f"calibration_promoted:{p['calibration_id']}"),
        )
    ]


RULES: Final[dict[str, Rule]] = {
    "assignments.assignment.created.v1": assignment_posted,
    "assignments.work.returned.v1": work_returned,
    "exams.attempt.completed.v1": exam_result_ready,
    "content.item_parameters.promoted.v1": calibration_promoted,
}
#: Every kind a user can turn off per channel (the last three are made by rules above that are
#: not 1:1 with an event, and by the periodic sweeps of apis.notifications.sweeps).
KINDS: Final = (
    "assignment_posted",
    "submission_returned",
    "exam_result_ready",
    "exam_finished_by_class",
    "assignment_due_soon",
    "calibration_promoted",
    "consumer_dead_letter",
)


def wake_channel(prefix: str, user_id: str) -> str:
    return f"{prefix}notify:{user_id}"


async def _turned_off(conn: AsyncConnection[Any], notes: list[Note]) -> set[tuple[str, str, str]]:
    """(user, kind, channel) turned off by the notes' recipients."""
    if not notes:
        return set()
    cur = await conn.execute(
        "select user_id::text, kind, channel from notifications.preferences"
        " where not enabled and user_id = any(%s::uuid[])",
        ([n.user_id for n in notes],),
    )
    return {(r["user_id"], r["kind"], r["channel"]) for r in await cur.fetchall()}


async def notify(
    conn: AsyncConnection[Any],
    source_event_id: str,
    notes: list[Note],
    email_delay_seconds: float = 0.0,
) -> list[str]:
    """Store the notes in the inbox and the mail queue, each where its recipient did not turn it
    off (in-app with its delivered event now; e-mail due after `email_delay_seconds`, the digest
    window); the recipients who got an in-app notification. Four statements whatever the number
    of notes (an assignment for a class of 30 is one insert per table, not 90)."""
    if not notes:
        return []
    off = await _turned_off(conn, notes)
    rows = [
        (str(new_id()), n.user_id, n.kind, n.title, n.body, n.link, n.source_id or source_event_id)
        for n in notes
    ]
    in_app = [r for r in rows if (r[1], r[2], "in_app") not in off]
    by_mail = [r for r in rows if (r[1], r[2], "email") not in off]
    sent: list[str] = []
    if in_app:
        cur = await conn.execute(
            "insert into notifications.notifications (notification_id, user_id, kind, title,"
            " body, link, source_event_id)"
            " select * from unnest(%s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::text[],"
            "  %s::text[], %s::uuid[])"
            " on conflict (user_id, kind, source_event_id) do nothing"
            " returning notification_id::text, user_id::text, kind, source_event_id::text,"
            " created_at",
            [list(column) for column in zip(*in_app, strict=True)],
        )
        made = await cur.fetchall()
        await outbox.append_many(
            conn,
            [
                (
                    NotificationDeliveredV1(
                        notification_id=m["notification_id"],
                        recipient_id=m["user_id"],
                        channel="in_app",
                        kind=m["kind"],
                        source_event_id=m["source_event_id"],
                        sent_at=m["created_at"],
                    ),
                    None,
                )
                for m in made
            ],
        )
        sent = [m["user_id"] for m in made]
    if by_mail:
        await conn.execute(
            "insert into notifications.emails (notification_id, user_id, kind, title, body,"
            " link, source_event_id, due_at)"
            " select n.*, now() + make_interval(secs => %s) from unnest(%s::uuid[], %s::uuid[],"
            "  %s::text[], %s::text[], %s::text[], %s::text[], %s::uuid[]) n"
            " on conflict (user_id, kind, source_event_id) do nothing",
            [email_delay_seconds, *(list(column) for column in zip(*by_mail, strict=True))],
        )
    return sent


async def wake(redis: Redis, prefix: str, recipients: list[str]) -> None:
    """Tell the recipients' open streams that there is something new (after the commit)."""
    now = datetime.now(UTC).isoformat()
    for user_id in set(recipients):
        await redis.publish(wake_channel(prefix, user_id), now)


def consumer(redis: Redis, prefix: str, email_delay_seconds: float = 0.0) -> ConsumerSpec:
    """The notifications consumer over the assignments, exams and content streams."""

    async def handle(
        conn: AsyncConnection[Any], event: StreamEvent
    ) -> Callable[[], Awaitable[None]] | None:
        rule = RULES.get(event.event_type)
        if rule is None:
            return None
        notes = await rule(conn, event)
        recipients = await notify(conn, event.event_id, notes, email_delay_seconds)
        if not recipients:
            return None

        async def woken() -> None:
            await wake(redis, prefix, recipients)

        return woken

    return ConsumerSpec(NAME, DOMAINS, handle)
