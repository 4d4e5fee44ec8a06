"""The notifications consumer: rules that turn events into notifications.

Each rule reads the batch's events of its type (and what it needs from PostgreSQL, one query per
batch) and names the recipients and what to tell them. The batch handler runs inside the
consumer's batch transaction (core.consumers) and writes every note of the batch at once
(`notify`: one statement): each notification row is written with its
`notifications.notification.delivered.v1` outbox event, so an event makes its notifications
exactly once. A recipient who lets the kind through by e-mail also
gets a row in the mail queue `notifications.emails` in the same transaction (sent by
apis.notifications.email). After the commit the recipients' open SSE streams are woken through
Redis pub/sub (losing a wake-up only delays a stream until its next heartbeat).

A notification about something no single event stands for (a calibration's promotion, made of one
event per item; the due-soon reminders and dead-letter alerts of apis.notifications.sweeps) is
keyed by a name-based UUID of what it is about (`source_uuid`) instead of an event id, so the
unique key (user, kind, source) still makes it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, uuid5

import msgspec
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


_json = msgspec.json.Encoder().encode


def source_uuid(name: str) -> str:
    """The stable id of a notification's subject that is not one event (`due_soon:<id>`)."""
    return str(uuid5(NAMESPACE_URL, f"dreamseed:notifications:{name}"))


#: A rule reads the batch's events of its type (set-wise: one query for all of them) and names
#: each note with the id of the event that made it (the note's `source_id`, when set, wins).
Made = list[tuple[str, Note]]
Rule = Callable[[AsyncConnection[Any], Sequence[StreamEvent]], Awaitable[Made]]


def _when(due_at: datetime) -> str:
    return due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def assignment_posted(conn: AsyncConnection[Any], events: Sequence[StreamEvent]) -> Made:
    """Every student each assignment is meant for (the class, or the students listed)."""
    cur = await conn.execute(
        "select e.ord, a.title, a.due_at, m.student_id::text as student_id"
        " from unnest(%s::uuid[]) with ordinality as e(assignment_id, ord)"
        " join assignments.assignments a on a.assignment_id = e.assignment_id"
        " join classes.memberships m on m.class_id = a.class_id"
        "  and (a.student_ids is null or m.student_id = any(a.student_ids))"
        " order by e.ord, m.student_id",
        ([e.payload["assignment_id"] for e in events],),
    )
    made: Made = []
    for r in await cur.fetchall():
        event = events[r["ord"] - 1]
        made.append(
            (
                event.event_id,
                Note(
                    r["student_id"],
                    "assignment_posted",
                    f"New assignment: {r['title']}",
                    f"Due {_when(r['due_at'])}.",
                    f"/api/v1/assignments/{event.payload['assignment_id']}",
                ),
            )
        )
    return made


async def work_returned(conn: AsyncConnection[Any], events: Sequence[StreamEvent]) -> Made:
    cur = await conn.execute(
        "select assignment_id::text, title from assignments.assignments"
        " where assignment_id = any(%s::uuid[])",
        (list({e.payload["assignment_id"] for e in events}),),
    )
    titles = {r["assignment_id"]: r["title"] for r in await cur.fetchall()}
    made: Made = []
    for event in events:
        p = event.payload
        title = titles.get(str(p["assignment_id"]).lower())
        if title is None:
            continue
        points = p.get("points_awarded")
        made.append(
            (
                event.event_id,
                Note(
                    p["student_id"],
                    "submission_returned",
                    f"Your work was returned: {title}",
                    "" if points is None else f"Points: {points:g}.",
                    f"/api/v1/assignments/{p['assignment_id']}",
                ),
            )
        )
    return made


async def exam_result_ready(conn: AsyncConnection[Any], events: Sequence[StreamEvent]) -> Made:
    """Each student's result; her teacher's note once every student of the class finished.

    The class's counts are read once per exam of the batch (as they are now: the attempts are
    committed before their events), so every completion of one exam in the batch sees the same
    counts; the first completion in the batch that finds the class complete, and no note saying
    so for this class size yet, makes the teacher's note (the rest of the batch does not)."""
    cur = await conn.execute(
        "select e.exam_id::text as exam_id, e.title, e.owner_id::text as owner_id,"
        " e.class_id::text as class_id, c.members, c.finished,"
        " exists (select 1 from notifications.notifications n where n.user_id = e.owner_id"
        "   and n.kind = 'exam_finished_by_class'"
        "   and n.link = '/api/v1/exams/' || e.exam_id || '/item-report'"
        "   and n.body = 'All ' || c.members || ' students of the class finished.') as told"
        " from exams.exams e cross join lateral (select"
        "  (select count(*) from classes.memberships m where m.class_id = e.class_id) as members,"
        "  (select count(distinct a.student_id) from exams.attempts a"
        "    join classes.memberships m on m.class_id = e.class_id and m.student_id = a.student_id"
        "    where a.exam_id = e.exam_id and a.status = 'completed') as finished) c"
        " where e.exam_id = any(%s::uuid[])",
        (list({e.payload["exam_id"] for e in events}),),
    )
    exams = {r["exam_id"]: r for r in await cur.fetchall()}
    made: Made = []
    told: set[str] = set()
    for event in events:
        p = event.payload
        exam = exams.get(str(p["exam_id"]).lower())
        if exam is None:
            continue
        made.append(
            (
                event.event_id,
                Note(
                    p["student_id"],
                    "exam_result_ready",
                    f"Your result is ready: {exam['title']}",
                    f"Score {p['raw_score']} of {p['max_score']}.",
                    f"/api/v1/attempts/{p['attempt_id']}/result",
                ),
            )
        )
        complete = exam["class_id"] and exam["members"] and exam["finished"] == exam["members"]
        if complete and not exam["told"] and exam["exam_id"] not in told:
            # Only the completion that made the count reach the class size says so (once per
            # class size: a new member who then finishes makes a new note, which is right).
            told.add(exam["exam_id"])
            made.append(
                (
                    event.event_id,
                    Note(
                        exam["owner_id"],
                        "exam_finished_by_class",
                        f"Everyone finished: {exam['title']}",
                        _all(exam),
                        f"/api/v1/exams/{exam['exam_id']}/item-report",
                        # Keyed by exam and class size, not by the event: two consumer replicas
                        # whose batches both complete the class make one note (unique key).
                        source_uuid(f"exam_finished_by_class:{exam['exam_id']}:{exam['members']}"),
                    ),
                )
            )
    return made


def _all(exam: dict[str, Any]) -> str:
    return f"All {exam['members']} students of the class finished."


async def calibration_promoted(conn: AsyncConnection[Any], events: Sequence[StreamEvent]) -> Made:
    """The owner of a promoted item, once per calibration: a promotion commits one event per
    item in one transaction, so the first of them already counts all of her items (the note is
    keyed by the calibration: the others, in this batch or a later one, make nothing new)."""
    cur = await conn.execute(
        "select distinct on (e.calibration_id, i.owner_id) e.ord,"
        " i.owner_id::text as owner_id, a.role,"
        " (select count(*) from content.item_parameters q join content.items j using (item_id)"
        "   where q.calibration_id = e.calibration_id and q.is_live"
        "   and j.owner_id = i.owner_id) as items"
        " from unnest(%s::uuid[], %s::text[]) with ordinality as e(item_id, calibration_id, ord)"
        " join content.items i on i.item_id = e.item_id"
        " join users.accounts a on a.user_id = i.owner_id"
        " order by e.calibration_id, i.owner_id, e.ord",
        (
            [e.payload["item_id"] for e in events],
            [e.payload["calibration_id"] for e in events],
        ),
    )
    made: Made = []
    for r in sorted(await cur.fetchall(), key=lambda r: int(r["ord"])):
        if r["role"] not in ("teacher", "admin"):
            continue
        event = events[r["ord"] - 1]
        calibration = event.payload["calibration_id"]
        made.append(
            (
                event.event_id,
                Note(
                    r["owner_id"],
                    "calibration_promoted",
                    f"New item parameters are live: {calibration}"[:300],
                    f"{int(r['items'])} of your items now use the parameters of calibration"
                    f" {calibration}.",
                    None,
                    source_uuid(f"calibration_promoted:{calibration}"),
                ),
            )
        )
    return made


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


# The notes of a batch in one statement: the recipients' channels turned off; the in-app rows (the
# unique key drops a note stored before) and, for exactly the rows it wrote, their delivered
# events (prepared for every candidate row, joined on the notification id); the mail-queue rows.
_NOTIFY_SQL = """
with off as (
    select user_id, kind, channel from notifications.preferences
    where not enabled
    and user_id in (select u::uuid from jsonb_array_elements_text(%(users)s::jsonb) u)),
n as (
    select * from jsonb_to_recordset(%(notes)s::jsonb) as n(notification_id uuid, user_id uuid,
        kind text, title text, body text, link text, source_event_id uuid)),
made as (
    insert into notifications.notifications (notification_id, user_id, kind, title, body, link,
        source_event_id, created_at)
    select n.*, %(now)s::timestamptz from n
    where not exists (select 1 from off where off.user_id = n.user_id and off.kind = n.kind
        and off.channel = 'in_app')
    on conflict (user_id, kind, source_event_id) do nothing
    returning notification_id, user_id),
delivered as (
    insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)
    select e.event_id, e.event_type, e.aggregate_id, e.occurred_at, e.payload
    from jsonb_to_recordset(%(events)s::jsonb) as e(event_id uuid, event_type text,
        aggregate_id text, occurred_at timestamptz, payload jsonb)
    join made on made.notification_id = (e.payload ->> 'notification_id')::uuid),
mailed as (
    insert into notifications.emails (notification_id, user_id, kind, title, body, link,
        source_event_id, due_at)
    select n.*, now() + make_interval(secs => %(delay)s) from n
    where not exists (select 1 from off where off.user_id = n.user_id and off.kind = n.kind
        and off.channel = 'email')
    on conflict (user_id, kind, source_event_id) do nothing)
select user_id::text from made
"""


async def notify(
    conn: AsyncConnection[Any],
    notes: Sequence[tuple[str | None, Note]],
    email_delay_seconds: float = 0.0,
) -> list[str]:
    """Store the notes, each made by the event whose id it comes with (its source, unless the
    note names its own `source_id`), in the inbox and the mail queue, each where its recipient
    did not turn it off (in-app with its delivered event now; e-mail due after
    `email_delay_seconds`, the digest window); the recipients who got an in-app notification.
    One statement whatever the number of notes and events (a batch of assignments for classes
    of 30 is one insert per table, not 90 per assignment). The unique key (user, kind, source)
    makes each once: a note already stored (a redelivered source) or twice in `notes` is
    written once."""
    rows: dict[tuple[str, str, str], tuple[str, str, str, str, str, str | None, str]] = {}
    for source_event_id, n in notes:
        source = (n.source_id or source_event_id or "").lower()
        if not source:
            raise ValueError(f"a {n.kind} note for {n.user_id} has no source")
        key = (n.user_id.lower(), n.kind, source)
        if key not in rows:
            rows[key] = (str(new_id()), key[0], n.kind, n.title, n.body, n.link, source)
    if not rows:
        return []
    now = datetime.now(UTC)
    delivered = outbox.encode_many(
        [
            (
                NotificationDeliveredV1(
                    notification_id=r[0],
                    recipient_id=r[1],
                    channel="in_app",
                    kind=r[2],
                    source_event_id=r[6],
                    sent_at=now,
                ),
                now,
            )
            for r in rows.values()
        ]
    )
    columns = ("notification_id", "user_id", "kind", "title", "body", "link", "source_event_id")
    cur = await conn.execute(
        _NOTIFY_SQL,
        {
            # JSON (msgspec), not arrays: psycopg dumps arrays element by element in Python.
            "users": _json([user for user, _, _ in rows]).decode(),
            "notes": _json([dict(zip(columns, r, strict=True)) for r in rows.values()]).decode(),
            "now": now,
            "events": delivered,
            "delay": email_delay_seconds,
        },
    )
    return [r["user_id"] for r in await cur.fetchall()]


async def wake(redis: Redis, prefix: str, recipients: list[str]) -> None:
    """Tell the recipients' open streams that there is something new (after the commit): one
    PUBLISH per recipient, all in one round trip (a batch may have hundreds)."""
    if not recipients:
        return
    now = datetime.now(UTC).isoformat()
    pipe = redis.pipeline(transaction=False)
    for user_id in sorted(set(recipients)):
        pipe.publish(wake_channel(prefix, user_id), now)
    await pipe.execute()


def consumer(redis: Redis, prefix: str, email_delay_seconds: float = 0.0) -> ConsumerSpec:
    """The notifications consumer over the assignments, exams and content streams: each rule
    once per batch on the batch's events of its type, then every note of the batch in one
    `notify`."""

    async def handle_batch(
        conn: AsyncConnection[Any], events: Sequence[StreamEvent]
    ) -> Callable[[], Awaitable[None]] | None:
        by_type: dict[str, list[StreamEvent]] = {}
        for event in events:
            if event.event_type in RULES:
                by_type.setdefault(event.event_type, []).append(event)
        notes: Made = []
        for event_type, these in by_type.items():
            notes += await RULES[event_type](conn, these)
        recipients = await notify(conn, notes, email_delay_seconds)
        if not recipients:
            return None

        async def woken() -> None:
            await wake(redis, prefix, recipients)

        return woken

    return ConsumerSpec(NAME, DOMAINS, handle_batch)
