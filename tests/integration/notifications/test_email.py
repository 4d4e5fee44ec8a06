"""The e-mail channel against a real SMTP server (aiosmtpd) and PostgreSQL: one mail per
notification and never a second; a digest when many wait; e-mail turned off means no mail (the
in-app one still comes); quiet hours hold mails until they end; transient SMTP errors are
retried, permanent ones mark the mail failed; a send interrupted by a crash is not repeated."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import pytest_asyncio

from apis.notifications.mail import SmtpTransport
from apis.notifications.mail_queue import deliver_due, reap_interrupted
from apis.notifications.rules import Note, notify
from core.db import Pool, create_pool
from core.ids import new_id
from core.settings import EmailSettings, Settings
from tests.integration.notifications.smtp import html_of, smtp_server, text_of

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    p = create_pool(settings.database_url, min_size=1, max_size=2)
    await p.open(wait=True)
    yield p
    await p.close()


def account(settings: Settings, role: str = "student") -> tuple[str, str]:
    user_id, address = str(new_id()), f"{role}-{secrets.token_hex(4)}@mail.test"
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, %s, %s, 'x')",
            (user_id, address, f"Jiwoo {role}", role),
        )
    return user_id, address


def mail_settings(port: int, **changes: Any) -> EmailSettings:
    base = EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        start_tls=False,
        digest_window_seconds=0.0,
        digest_threshold=3,
        retry_seconds=0.0,
        timeout_seconds=5.0,
        link_base_url="https://school.example",
    )
    return replace(base, **changes)


async def queue(pool: Pool, user_id: str, *titles: str, kind: str = "assignment_posted") -> str:
    event_id = str(new_id())
    notes = [
        Note(user_id, kind, t, f"About {t}.", f"/api/v1/assignments/{new_id()}", str(new_id()))
        for t in titles
    ]
    async with pool.connection() as conn, conn.transaction():
        await notify(conn, [(event_id, n) for n in notes], 0.0)
    return event_id


def rows(settings: Settings, user_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select notification_id::text, status, attempts, message_id, last_error, due_at"
            " from notifications.emails where user_id = %s order by created_at",
            (user_id,),
        ).fetchall()


def delivered_events(settings: Settings, user_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select payload from events.outbox"
            " where event_type = 'notifications.notification.delivered.v1'"
            " and payload ->> 'recipient_id' = %s and payload ->> 'channel' = 'email'",
            (user_id,),
        ).fetchall()


async def test_one_mail_per_notification_and_never_twice(settings: Settings, pool: Pool) -> None:
    student, address = account(settings)
    with smtp_server() as (box, port):
        cfg = mail_settings(port)
        await queue(pool, student, "New assignment: Fractions", "New assignment: <Decimals>")
        done = await deliver_due(pool, SmtpTransport(cfg), cfg)
        assert (done.mails, done.notifications, done.digests) == (2, 2, 0)
        mails = box.to(address)
        assert sorted(str(m["Subject"]) for m in mails) == [
            "New assignment: <Decimals>",
            "New assignment: Fractions",
        ]
        fractions = next(m for m in mails if "Fractions" in str(m["Subject"]))
        assert "Hello Jiwoo student" in text_of(fractions)
        assert "https://school.example/api/v1/assignments/" in text_of(fractions)
        decimals = next(m for m in mails if "Decimals" in str(m["Subject"]))
        assert "&lt;Decimals&gt;" in html_of(decimals)  # HTML escaped, text as written
        assert "<Decimals>" in text_of(decimals)
        stored = rows(settings, student)
        assert [r["status"] for r in stored] == ["sent", "sent"]
        assert {r["message_id"] for r in stored} == {str(m["Message-ID"]) for m in mails}
        assert len(delivered_events(settings, student)) == 2

        again = await deliver_due(pool, SmtpTransport(cfg), cfg)
        assert again.mails == 0 and len(box.to(address)) == 2


async def test_many_waiting_go_out_as_one_digest(settings: Settings, pool: Pool) -> None:
    student, address = account(settings)
    titles = [f"Returned: essay {n}" for n in range(5)]
    with smtp_server() as (box, port):
        cfg = mail_settings(port, digest_threshold=3)
        await queue(pool, student, *titles, kind="submission_returned")
        done = await deliver_due(pool, SmtpTransport(cfg), cfg)
        assert (done.mails, done.notifications, done.digests) == (1, 5, 1)
        (digest,) = box.to(address)
        assert str(digest["Subject"]) == "DreamSeed: 5 new notifications"
        for title in titles:
            assert title in text_of(digest) and title in html_of(digest)
        stored = rows(settings, student)
        assert {r["status"] for r in stored} == {"sent"}
        assert len({r["message_id"] for r in stored}) == 1  # one mail carried them all
        assert len(delivered_events(settings, student)) == 5


async def test_email_turned_off_sends_none_but_in_app_stays(settings: Settings, pool: Pool) -> None:
    student, address = account(settings)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into notifications.preferences (user_id, kind, channel, enabled)"
            " values (%s, 'assignment_posted', 'email', false)",
            (student,),
        )
    with smtp_server() as (box, port):
        cfg = mail_settings(port)
        await queue(pool, student, "New assignment: Quiet")
        await deliver_due(pool, SmtpTransport(cfg), cfg)
        assert box.to(address) == [] and rows(settings, student) == []
    with psycopg.connect(settings.database_url) as conn:
        (n,) = conn.execute(
            "select count(*) from notifications.notifications where user_id = %s", (student,)
        ).fetchone() or (0,)
    assert n == 1


async def test_quiet_hours_hold_mail_until_they_end(settings: Settings, pool: Pool) -> None:
    student, address = account(settings)
    zone = "Asia/Seoul"
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    starts = (local - timedelta(hours=1)).strftime("%H:%M")
    ends = (local + timedelta(hours=2)).strftime("%H:%M")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into notifications.quiet_hours (user_id, starts, ends, time_zone)"
            " values (%s, %s, %s, %s)",
            (student, starts, ends, zone),
        )
    with smtp_server() as (box, port):
        cfg = mail_settings(port)
        await queue(pool, student, "Your result is ready: Quiz")
        done = await deliver_due(pool, SmtpTransport(cfg), cfg)
        assert done.mails == 0 and done.held == 1 and box.to(address) == []
        (held,) = rows(settings, student)
        assert held["status"] == "queued"
        end = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
        assert abs((held["due_at"] - end).total_seconds()) < 1.0  # her 'ends', local time
        assert (await deliver_due(pool, SmtpTransport(cfg), cfg)).mails == 0  # still held

        # The quiet hours end (moved into the past here rather than waited for).
        with psycopg.connect(settings.database_url) as conn:
            conn.execute("delete from notifications.quiet_hours where user_id = %s", (student,))
            conn.execute(
                "update notifications.emails set due_at = now() where user_id = %s", (student,)
            )
        assert (await deliver_due(pool, SmtpTransport(cfg), cfg)).mails == 1
        assert len(box.to(address)) == 1


async def test_transient_errors_are_retried_permanent_ones_fail(
    settings: Settings, pool: Pool
) -> None:
    student, address = account(settings)
    with smtp_server() as (box, port):
        cfg = mail_settings(port, max_attempts=2)
        transport = SmtpTransport(cfg, backoff_seconds=0.01)
        box.failures += ["451 4.3.0 try again later"] * 2  # within one send: retried
        await queue(pool, student, "Due soon: Essay")
        done = await deliver_due(pool, transport, cfg)
        assert done.mails == 1 and len(box.to(address)) == 1

        box.failures += ["451 4.3.0 try again later"] * 3  # a whole send fails: queued again
        await queue(pool, student, "Due soon: Poem")
        first = await deliver_due(pool, transport, cfg)
        assert (first.mails, first.retried) == (0, 1)
        poem = rows(settings, student)[-1]
        assert (poem["status"], poem["attempts"]) == ("queued", 1)
        assert "451" in poem["last_error"]
        second = await deliver_due(pool, transport, cfg)
        assert second.mails == 1 and len(box.to(address)) == 2

        box.failures += ["550 5.1.1 no such mailbox"]
        await queue(pool, student, "Due soon: Song")
        refused = await deliver_due(pool, transport, cfg)
        assert (refused.mails, refused.failed) == (0, 1)
        song = rows(settings, student)[-1]
        assert song["status"] == "failed" and "550" in song["last_error"]
        assert (await deliver_due(pool, transport, cfg)).mails == 0  # not tried again
        assert len(box.to(address)) == 2


async def test_a_send_interrupted_by_a_crash_is_not_repeated(
    settings: Settings, pool: Pool
) -> None:
    student, address = account(settings)
    await queue(pool, student, "Returned: lab report")
    with psycopg.connect(settings.database_url) as conn:  # claimed, then the process died
        conn.execute(
            "update notifications.emails set status = 'sending', attempts = 1,"
            " claimed_at = now() - interval '1 hour' where user_id = %s",
            (student,),
        )
    with smtp_server() as (box, port):
        cfg = mail_settings(port)
        assert await reap_interrupted(pool, cfg) == 1
        assert (await deliver_due(pool, SmtpTransport(cfg), cfg)).mails == 0
        assert box.to(address) == []
    (row,) = rows(settings, student)
    assert row["status"] == "failed" and "interrupted" in row["last_error"]


async def test_her_mails_and_quiet_hours_are_exported_and_erased(
    settings: Settings, pool: Pool
) -> None:
    from governance.inventory import load as load_inventory
    from privacy.postgres import erase_rows, export_rows, find_subject, remaining_rows

    student, _ = account(settings)
    await queue(pool, student, "New assignment: Private")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into notifications.quiet_hours (user_id, starts, ends, time_zone)"
            " values (%s, '21:00', '06:30', 'Asia/Seoul')",
            (student,),
        )
    inventory = load_inventory()
    with psycopg.connect(settings.database_url) as conn:
        found = export_rows(conn, inventory, student)
        assert [r["title"] for r in found["notifications.emails"]] == ["New assignment: Private"]
        assert found["notifications.quiet_hours"][0]["time_zone"] == "Asia/Seoul"
        with conn.transaction():
            erase_rows(conn, inventory, find_subject(conn, student), str(new_id()))
        left = remaining_rows(conn, inventory, student)
    assert "notifications.emails" not in left and "notifications.quiet_hours" not in left


async def test_without_smtp_mails_are_logged_and_not_counted_as_delivered(
    settings: Settings, pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    from apis.notifications.mail import LogTransport
    from apis.notifications.mail_queue import NOT_SENT

    student, address = account(settings)
    await queue(pool, student, "New assignment: Logged")
    cfg = EmailSettings(digest_window_seconds=0.0)
    with caplog.at_level("WARNING", logger="dreamseed.notifications.mail"):
        done = await deliver_due(pool, LogTransport(), cfg)
    assert (done.mails, done.logged) == (0, 1)
    assert any("e-mail NOT SENT" in r.getMessage() and address in r.getMessage()
               for r in caplog.records)  # fmt: skip
    (row,) = rows(settings, student)
    assert row["status"] == "failed" and row["last_error"] == NOT_SENT
    assert delivered_events(settings, student) == []
    assert (await deliver_due(pool, LogTransport(), cfg)).logged == 0  # once
