"""The remaining notification rules on real PostgreSQL and Redis: an assignment due within 24 h
reminds each student who has not handed it in, once although two members sweep at the same time;
a consumer's dead letters tell every admin, once each; a calibration's promotion (one event per
item) tells the bank's teacher once, counting her items."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import dict_row
from redis.asyncio import Redis

from apis.notifications.rules import consumer
from apis.notifications.sweeps import SweepSettings, sweep
from core.consumers import Consumer, ConsumerConfig, dead_letter_stream
from core.db import Pool, create_pool
from core.ids import new_id
from core.settings import Settings

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    p = create_pool(settings.database_url, min_size=1, max_size=4)
    await p.open(wait=True)
    yield p
    await p.close()


@pytest_asyncio.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    r = Redis.from_url(settings.redis_url, decode_responses=True)
    yield r
    await r.aclose()


def account(conn: psycopg.Connection[Any], role: str) -> str:
    user_id = str(new_id())
    conn.execute(
        "insert into users.accounts (user_id, email, display_name, role, password_hash)"
        " values (%s, %s, %s, %s, 'x')",
        (user_id, f"{role}-{secrets.token_hex(4)}@rules.test", role.title(), role),
    )
    return user_id


# The session's database holds other tests' notifications too: each test reads its own users'
# (and, for dead letters, the notes naming its own error text).
def notes(
    settings: Settings, kind: str, users: list[str], contains: str = ""
) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "select user_id::text, title, body, link from notifications.notifications"
            " where kind = %s and user_id = any(%s::uuid[]) and strpos(body, %s) > 0"
            " order by user_id",
            (kind, users, contains),
        ).fetchall()


def queued_mails(settings: Settings, kind: str, users: list[str], contains: str = "") -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select count(*) from notifications.emails where kind = %s"
            " and user_id = any(%s::uuid[]) and strpos(body, %s) > 0",
            (kind, users, contains),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_due_soon_reminds_each_student_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        teacher = account(conn, "teacher")
        waiting, handed_in, outsider = (account(conn, "student") for _ in range(3))
        class_id = str(new_id())
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Due', %s, %s)",
            (class_id, teacher, secrets.token_hex(4)),
        )
        for s in (waiting, handed_in):
            conn.execute(
                "insert into classes.memberships (class_id, student_id) values (%s, %s)",
                (class_id, s),
            )
        soon, later = str(new_id()), str(new_id())
        for assignment_id, title, due in ((soon, "Essay", "3 hours"), (later, "Poem", "3 days")):
            conn.execute(
                "insert into assignments.assignments (assignment_id, owner_id, class_id, kind,"
                " title, accepts_text, open_at, due_at, late_policy, points)"
                " values (%s, %s, %s, 'task', %s, true, now() - interval '1 day',"
                " now() + %s::interval, 'accept', 10)",
                (assignment_id, teacher, class_id, title, due),
            )
        conn.execute(
            "insert into assignments.work (assignment_id, student_id, state, version,"
            " submitted_at) values (%s, %s, 'submitted', 1, now())",
            (soon, handed_in),
        )
    cfg = SweepSettings(
        stream_prefix=f"test:{secrets.token_hex(4)}:events.",
        due_soon_hours=24.0,
        email_delay_seconds=0.0,
        consumers=(),
    )
    # Two members sweep at the same moment, then again: one reminder.
    await asyncio.gather(sweep(pool, redis, cfg), sweep(pool, redis, cfg))
    await sweep(pool, redis, cfg)
    mine = [waiting, handed_in, outsider]
    reminders = notes(settings, "assignment_due_soon", mine)
    assert [(n["user_id"], n["title"]) for n in reminders] == [(waiting, "Due soon: Essay")]
    assert reminders[0]["link"] == f"/api/v1/assignments/{soon}"
    assert outsider not in {n["user_id"] for n in reminders}
    assert queued_mails(settings, "assignment_due_soon", mine) == 1


async def test_a_student_who_joins_after_the_reminder_is_reminded_too(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        teacher = account(conn, "teacher")
        first, late, late_done, late_other = (account(conn, "student") for _ in range(4))
        class_id = str(new_id())
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Late', %s, %s)",
            (class_id, teacher, secrets.token_hex(4)),
        )
        conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            (class_id, first),
        )
        essay, listed = str(new_id()), str(new_id())
        for assignment_id, title, students in ((essay, "Essay", None), (listed, "Poem", [first])):
            conn.execute(
                "insert into assignments.assignments (assignment_id, owner_id, class_id, kind,"
                " title, accepts_text, open_at, due_at, late_policy, points, student_ids)"
                " values (%s, %s, %s, 'task', %s, true, now() - interval '1 day',"
                " now() + interval '5 hours', 'accept', 10, %s::uuid[])",
                (assignment_id, teacher, class_id, title, students),
            )
    cfg = SweepSettings(f"test:{secrets.token_hex(4)}:events.", 24.0, 0.0, ())
    await sweep(pool, redis, cfg)
    mine = [first, late, late_done, late_other]
    assert sorted(n["title"] for n in notes(settings, "assignment_due_soon", mine)) == [
        "Due soon: Essay",
        "Due soon: Poem",
    ]
    with psycopg.connect(settings.database_url) as conn:  # three join after the reminders
        for s in (late, late_done, late_other):
            conn.execute(
                "insert into classes.memberships (class_id, student_id) values (%s, %s)",
                (class_id, s),
            )
        conn.execute(
            "insert into assignments.work (assignment_id, student_id, state, version,"
            " submitted_at) values (%s, %s, 'submitted', 1, now())",
            (essay, late_done),
        )
        conn.execute(  # she turned off the reminders' mail (in-app still on)
            "insert into notifications.preferences (user_id, kind, channel, enabled)"
            " values (%s, 'assignment_due_soon', 'email', false)",
            (late_other,),
        )
    await asyncio.gather(sweep(pool, redis, cfg), sweep(pool, redis, cfg))
    await sweep(pool, redis, cfg)
    reminders = notes(settings, "assignment_due_soon", mine)
    assert sorted((n["user_id"], n["title"]) for n in reminders) == sorted(
        [
            (first, "Due soon: Essay"),
            (first, "Due soon: Poem"),  # the Poem is only for her
            (late, "Due soon: Essay"),  # once, although three sweeps ran since she joined
            (late_other, "Due soon: Essay"),
        ]
    )  # late_done handed the Essay in
    assert queued_mails(settings, "assignment_due_soon", mine) == 3  # first x2, late


async def test_dead_letters_tell_every_admin_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        mine = [account(conn, "admin") for _ in range(2)]
        gone = account(conn, "admin")
        conn.execute("update users.accounts set deactivated_at = now() where user_id = %s", (gone,))
        account(conn, "teacher")
        admins = [  # every active admin of the session's database (other tests make some too)
            r[0]
            for r in conn.execute(
                "select user_id::text from users.accounts"
                " where role = 'admin' and deactivated_at is null order by 1"
            ).fetchall()
        ]
    assert set(mine) <= set(admins)
    token = secrets.token_hex(4)
    prefix = f"test:{token}:events."
    stream = dead_letter_stream(prefix, "notifications")

    async def park(event_type: str) -> None:
        await redis.xadd(
            stream,
            {
                "event_id": str(new_id()),
                "event_type": event_type,
                "error": f"ValueError: bad payload {token}",
                "consumer": "notifications",
                "payload": msgspec.json.encode({"x": 1}).decode(),
            },
        )

    cfg = SweepSettings(prefix, 24.0, 0.0, ("analytics", "notifications"))
    await park("assignments.work.returned.v1")
    await asyncio.gather(sweep(pool, redis, cfg), sweep(pool, redis, cfg))
    first = notes(settings, "consumer_dead_letter", admins, token)
    assert [n["user_id"] for n in first] == admins
    assert all("assignments.work.returned.v1" in n["body"] and "bad payload" in n["body"]
               for n in first)  # fmt: skip
    await sweep(pool, redis, cfg)
    assert len(notes(settings, "consumer_dead_letter", admins, token)) == len(
        admins
    )  # nothing new parked
    await park("exams.attempt.completed.v1")
    await sweep(pool, redis, cfg)
    assert len(notes(settings, "consumer_dead_letter", admins, token)) == 2 * len(admins)
    assert queued_mails(settings, "consumer_dead_letter", admins, token) == 2 * len(admins)
    await redis.delete(stream)


async def test_a_promotion_tells_the_bank_teacher_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    calibration = f"cal-{secrets.token_hex(3)}"
    with psycopg.connect(settings.database_url) as conn:
        teacher, other = account(conn, "teacher"), account(conn, "teacher")
        items = []
        for owner in (teacher, teacher, teacher, other):
            item_id = str(new_id())
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key)"
                " values (%s, %s, 'Two halves?', '[\"1\", \"2\"]', 0)",
                (item_id, owner),
            )
            conn.execute(
                "insert into content.item_parameters (param_id, item_id, version,"
                " calibration_id, model, a, b, d, is_live, promoted_at)"
                " values (%s, %s, 1, %s, '2pl', 1.1, '{0.2}', '{0}', true, now())",
                (str(new_id()), item_id, calibration),
            )
            items.append(item_id)
    prefix = f"test:{secrets.token_hex(4)}:events."
    member = Consumer(
        consumer(redis, prefix),
        pool,
        redis,
        "rules",
        ConsumerConfig(stream_prefix=prefix, claim_idle_ms=200, block_ms=100),
    )
    await member.ensure_groups()
    for item_id in items:  # as the relay publishes the promotion's events
        await redis.xadd(
            prefix + "content",
            {
                "event_id": str(new_id()),
                "event_type": "content.item_parameters.promoted.v1",
                "aggregate_id": item_id,
                "occurred_at": "2026-12-07T00:00:00+00:00",
                "payload": msgspec.json.encode(
                    {"item_id": item_id, "calibration_id": calibration, "version": 1}
                ).decode(),
            },
        )
    while await member.step():
        pass
    told = notes(settings, "calibration_promoted", [teacher, other])
    assert sorted((n["user_id"], n["body"]) for n in told) == sorted(
        [
            (teacher, f"3 of your items now use the parameters of calibration {calibration}."),
            (other, f"1 of your items now use the parameters of calibration {calibration}."),
        ]
    )
    for d in ("assignments", "exams", "content"):
        await redis.delete(prefix + d)
