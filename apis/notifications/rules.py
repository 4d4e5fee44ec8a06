"""The notifications consumer: rules that turn events into notifications.

Each rule reads one event (and what it needs from PostgreSQL) and names the recipients and what
to tell them. `handle` runs inside the consumer's batch transaction (core.consumers): each
notification row is written with its `notifications.notification.delivered.v1` outbox event, so an
event makes its notifications exactly once. After the commit the recipients' open SSE streams are
woken through Redis pub/sub (losing a wake-up only delays a stream until its next heartbeat).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from redis.asyncio import Redis

from core import outbox
from core.consumers import ConsumerSpec, StreamEvent
from core.events import NotificationDeliveredV1
from core.ids import new_id

NAME: Final = "notifications"
DOMAINS: Final = ("assignments", "exams")


@dataclass(frozen=True, slots=True)
class Note:
    user_id: str
    kind: str
    title: str
    body: str
    link: str | None


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


RULES: Final[dict[str, Rule]] = {
    "assignments.assignment.created.v1": assignment_posted,
    "assignments.work.returned.v1": work_returned,
    "exams.attempt.completed.v1": exam_result_ready,
}
KINDS: Final = (
    "assignment_posted",
    "submission_returned",
    "exam_result_ready",
    "exam_finished_by_class",
)


def wake_channel(prefix: str, user_id: str) -> str:
    return f"{prefix}notify:{user_id}"


async def _muted(conn: AsyncConnection[Any], notes: list[Note]) -> set[tuple[str, str]]:
    if not notes:
        return set()
    cur = await conn.execute(
        "select user_id::text, kind from notifications.preferences"
        " where channel = 'in_app' and not enabled and user_id = any(%s::uuid[])",
        ([n.user_id for n in notes],),
    )
    return {(r["user_id"], r["kind"]) for r in await cur.fetchall()}


async def notify(conn: AsyncConnection[Any], event: StreamEvent, notes: list[Note]) -> list[str]:
    """Store the notes (those the recipient did not turn off) with their events; who got one."""
    muted = await _muted(conn, notes)
    sent: list[str] = []
    for note in notes:
        if (note.user_id, note.kind) in muted:
            continue
        notification_id = str(new_id())
        cur = await conn.execute(
            "insert into notifications.notifications (notification_id, user_id, kind, title,"
            " body, link, source_event_id) values (%s, %s, %s, %s, %s, %s, %s)"
            " on conflict (user_id, kind, source_event_id) do nothing returning created_at",
            (
                notification_id,
                note.user_id,
                note.kind,
                note.title,
                note.body,
                note.link,
                event.event_id,
            ),
        )
        row = await cur.fetchone()
        if row is None:
            continue
        await outbox.append(
            conn,
            NotificationDeliveredV1(
                notification_id=notification_id,
                recipient_id=note.user_id,
                channel="in_app",
                kind=note.kind,
                source_event_id=event.event_id,
                sent_at=row["created_at"],
            ),
        )
        sent.append(note.user_id)
    return sent


def consumer(redis: Redis, prefix: str) -> ConsumerSpec:
    """The notifications consumer over the assignments and exams streams."""

    async def handle(
        conn: AsyncConnection[Any], event: StreamEvent
    ) -> Callable[[], Awaitable[None]] | None:
        rule = RULES.get(event.event_type)
        if rule is None:
            return None
        recipients = await notify(conn, event, await rule(conn, event))
        if not recipients:
            return None

        async def wake() -> None:
            now = datetime.now(UTC).isoformat()
            for user_id in set(recipients):
                await redis.publish(wake_channel(prefix, user_id), now)

        return wake

    return ConsumerSpec(NAME, DOMAINS, handle)
