"""Notification mails: rendered from the templates in `templates/` (plain text and HTML), sent over
SMTP (aiosmtplib) with transient failures retried (tenacity), or written to the log when no SMTP
server is configured (`DREAMSEED_EMAIL_SMTP_HOST` empty: development and the demo)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from functools import cache
from pathlib import Path
from typing import Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from core.settings import EmailSettings

_log = logging.getLogger("dreamseed.notifications.mail")
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Tries within one send (transient errors), before the mail goes back to the queue.
SEND_TRIES = 3


@dataclass(frozen=True, slots=True)
class Item:
    """One notification as a mail shows it."""

    notification_id: str
    title: str
    body: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    email: str
    name: str


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "dreamseed.local"


def compose(
    settings: EmailSettings, to: Recipient, items: list[Item], message_key: str
) -> EmailMessage:
    """One mail for `items`: the notification itself, or a digest listing them when several.
    Its Message-ID is made from `message_key` (stable: a mail is recognisable by it)."""
    digest = len(items) > 1
    subject = f"DreamSeed: {len(items)} new notifications" if digest else items[0].title
    context = {
        "name": to.name,
        "subject": subject,
        "items": items,
        "item": items[0],
        "preferences_url": settings.link_base_url.rstrip("/") + "/api/v1/notifications/preferences",
    }
    env = _environment()
    name = "digest" if digest else "notification"
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = formataddr((to.name, to.email))
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_key}@{_domain(settings.sender)}>"
    message["X-DreamSeed-Notifications"] = ",".join(i.notification_id for i in items)
    message.set_content(env.get_template(f"{name}.txt").render(context))
    message.add_alternative(env.get_template(f"{name}.html").render(context), subtype="html")
    return message


class PermanentFailure(Exception):
    """The server refused the mail for good (5xx): trying again will not help."""


class Transport(Protocol):
    #: False when `send` only writes the mail somewhere (the log): nothing is delivered.
    delivers: bool

    async def send(self, message: EmailMessage) -> None:
        """Hand the message over; raises PermanentFailure, or another error when it may pass."""


def transient(exc: BaseException) -> bool:
    """Worth trying again: the connection failed or timed out, or the server answered 4xx."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= r.code < 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return bool(400 <= exc.code < 500)  # aiosmtplib leaves `code` untyped
    return isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError))


class SmtpTransport:
    """Sends over SMTP; a transient failure is retried at once (with backoff) up to SEND_TRIES."""

    delivers = True

    def __init__(self, settings: EmailSettings, backoff_seconds: float = 0.5) -> None:
        self.settings = settings
        self.backoff_seconds = backoff_seconds

    async def _send_once(self, message: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.username or None,
            password=s.password or None,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout_seconds,
        )

    async def send(self, message: EmailMessage) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(SEND_TRIES),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=10 * self.backoff_seconds),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._send_once(message)
        except Exception as exc:
            if transient(exc):
                raise
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc


class LogTransport:
    """No SMTP server configured: the mail is written to the log, labelled as not sent."""

    delivers = False

    async def send(self, message: EmailMessage) -> None:
        text = message.get_body(("plain",))
        _log.warning(
            "e-mail NOT SENT (no SMTP server: set DREAMSEED_EMAIL_SMTP_HOST) to %s, subject %r:\n%s",
            message["To"],
            message["Subject"],
            text.get_content() if text is not None else "",
        )


def transport_for(settings: EmailSettings) -> Transport:
    return SmtpTransport(settings) if settings.smtp_host else LogTransport()
