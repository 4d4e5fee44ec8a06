"""Polling API servers until they refuse a token: the "within a second" of revocation."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx
import pytest

REVOCATION_DEADLINE = 1.0  # seconds: the requirement, not a performance figure
ME = "/api/v1/users/me"


def status_of(base: str, token: str) -> int:
    return httpx.get(base + ME, headers={"Authorization": f"Bearer {token}"}).status_code


def accepted_everywhere(apis: Iterable[str], token: str) -> None:
    for base in apis:
        assert status_of(base, token) == 200, base


def refused_everywhere_within_deadline(apis: Iterable[str], token: str, revoked_at: float) -> None:
    """Poll every API server until it answers 401; fail if one still accepts after the deadline."""
    pending = set(apis)
    late: dict[str, int] = {}
    while pending:
        for base in sorted(pending):
            status = status_of(base, token)
            if status == 401:
                pending.discard(base)
            else:
                late[base] = status
        if pending and time.monotonic() - revoked_at > REVOCATION_DEADLINE:
            pytest.fail(
                f"{sorted(pending)} still answer {late} more than {REVOCATION_DEADLINE}s after"
                " the revocation"
            )
        time.sleep(0.02)
