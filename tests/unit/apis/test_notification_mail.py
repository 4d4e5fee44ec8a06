"""Notification mails as composed from the template files, and the no-SMTP transport's log line
(no I/O: the SMTP path is tested against a real server in tests/integration/notifications)."""

from __future__ import annotations

import logging

import pytest

from apis.notifications.mail import Item, LogTransport, Recipient, compose, transient
from core.settings import EmailSettings

SETTINGS = EmailSettings(
    sender="DreamSeed <no-reply@school.example>", link_base_url="https://s.example"
)
TO = Recipient("u1", "jiwoo@school.example", "Jiwoo")


def test_one_notification_is_its_own_mail_and_several_a_digest() -> None:
    one = compose(
        SETTINGS,
        TO,
        [Item("n1", "Due soon: <Essay>", "Due tomorrow.", "https://s.example/a")],
        "n1",
    )
    assert one["Subject"] == "Due soon: <Essay>"
    assert one["Message-ID"] == "<n1@school.example>"
    plain, html = one.get_body(("plain",)), one.get_body(("html",))
    assert plain is not None and html is not None
    assert "Due soon: <Essay>" in plain.get_content()  # type: ignore[attr-defined]
    assert "Due soon: &lt;Essay&gt;" in html.get_content()  # type: ignore[attr-defined]
    items = [Item(f"n{i}", f"Returned: {i}", "", None) for i in range(4)]
    digest = compose(SETTINGS, TO, items, "digest-n0")
    assert digest["Subject"] == "DreamSeed: 4 new notifications"
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"Returned: {i}" in text for i in range(4))
    assert digest["X-DreamSeed-Notifications"] == "n0,n1,n2,n3"


async def test_without_smtp_the_mail_is_logged_and_labelled_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail = compose(SETTINGS, TO, [Item("n1", "New assignment: Fractions", "", None)], "n1")
    with caplog.at_level(logging.WARNING, logger="dreamseed.notifications.mail"):
        await LogTransport().send(mail)
    (record,) = caplog.records
    assert "e-mail NOT SENT" in record.getMessage()
    assert "jiwoo@school.example" in record.getMessage()
    assert "New assignment: Fractions" in record.getMessage()


def test_4xx_and_connection_errors_are_transient_5xx_not() -> None:
    import aiosmtplib

    assert transient(aiosmtplib.SMTPResponseException(451, "later"))
    assert not transient(aiosmtplib.SMTPResponseException(550, "no such mailbox"))
    assert transient(aiosmtplib.SMTPConnectError("refused"))
    assert transient(ConnectionResetError())
    assert not transient(ValueError("a bug"))
