"""Password workers (off the event loop, bounded) and the revocation message protocol."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from apis.gateway.revocations import RevocationMirror
from core import revocation
from core.auth import Claims
from core.errors import ServiceUnavailable
from core.passwords import PasswordWorkers, hash_password


async def test_verify_checks_real_hashes_and_unknown_emails_against_a_dummy() -> None:
    workers = PasswordWorkers(workers=1)
    try:
        stored = hash_password("right")
        assert await workers.verify(stored, "right")
        assert not await workers.verify(stored, "wrong")
        assert not await workers.verify(None, "right")  # unknown e-mail: the dummy, never True
        assert (await workers.dummy_hash()).startswith("$argon2id$")
        assert await workers.verify(await workers.hash("new"), "new")
    finally:
        workers.close()


async def test_password_checks_beyond_the_queue_limit_are_refused_at_once() -> None:
    workers = PasswordWorkers(workers=1, queue_limit=2)
    stored = hash_password("x")
    try:
        results = await asyncio.gather(
            *(workers.verify(stored, "x") for _ in range(4)), return_exceptions=True
        )
    finally:
        workers.close()
    refused = [r for r in results if isinstance(r, ServiceUnavailable)]
    assert len(refused) == 2 and refused[0].headers == {"Retry-After": "1"}
    assert results.count(True) == 2


def _claims(user_id: str, token_id: str, issued_at: float) -> Claims:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    return Claims(user_id, "student", token_id, "access", expires, issued_at)


def test_the_mirror_applies_token_and_user_messages() -> None:
    mirror = RevocationMirror("redis://unused")
    now = time.time()
    old = _claims("u1", "t-old", now - 10)
    new = _claims("u1", "t-new", now + 1)
    other = _claims("u2", "t-other", now - 10)
    mirror.apply(revocation.token_message("t-other", now + 300))
    assert mirror.is_revoked(other) and not mirror.is_revoked(old)
    mirror.apply(revocation.user_message("u1", now, now + 300))
    assert mirror.is_revoked(old)  # issued before the cutoff
    assert not mirror.is_revoked(new)  # signed in again after it
    mirror.apply(revocation.user_message("u1", now - 100, now + 300))  # an older cutoff
    assert mirror.is_revoked(old)  # never moves the cutoff back


@pytest.mark.parametrize("cutoff", [1.5, 1_796_000_000.123456])
def test_user_messages_round_trip(cutoff: float) -> None:
    user, rest = revocation.user_message("u9", cutoff, cutoff + 60).split(" ", 1)
    assert user == "user:u9"
    assert float(rest.split()[1]) == pytest.approx(cutoff, abs=1e-6)
