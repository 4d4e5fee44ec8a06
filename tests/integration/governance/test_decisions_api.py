"""GET /api/v1/governance/decisions: the decision log, for administrators only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from tests.integration.apis.conftest import Account
from tests.integration.governance_matrix.accounts import make_role

URL = "/api/v1/governance/decisions"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(replace(settings, rate_limit_per_user=100_000, rate_limit_per_ip=100_000))
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def _wait_logged(
    client: AsyncTestClient, admin: Account, subject_id: str, count: int
) -> None:
    """The decision log writes in the background: wait until `count` decisions are readable."""
    deadline = time.monotonic() + 20
    while True:
        reply = await client.get(URL, params={"subject_id": subject_id}, headers=admin.headers)
        if len(reply.json()["decisions"]) >= count:
            return
        assert time.monotonic() < deadline, reply.text
        await asyncio.sleep(0.05)


async def test_admin_reads_filters_and_pages_decisions(
    client: AsyncTestClient, settings: Settings
) -> None:
    admin = await make_role(client, settings, "admin")
    student = await make_role(client, settings, "student")
    assert (await client.get("/api/v1/users/me", headers=student.headers)).status_code == 200
    for _ in range(3):  # denied: students may not read the log
        assert (await client.get(URL, headers=student.headers)).status_code == 403
    await _wait_logged(client, admin, student.user_id, 4)

    mine = await client.get(URL, params={"subject_id": student.user_id}, headers=admin.headers)
    assert mine.status_code == 200, mine.text
    rows = mine.json()["decisions"]
    assert {r["subject_id"] for r in rows} == {student.user_id}
    assert {(r["action"], r["allowed"]) for r in rows} == {
        ("users.me.read", True),
        ("governance.decisions.read", False),
    }
    denied = await client.get(
        URL,
        params={"subject_id": student.user_id, "allowed": "false", "limit": 2},
        headers=admin.headers,
    )
    page = denied.json()
    assert len(page["decisions"]) == 2 and page["next_cursor"]
    assert all(r["reason"] == "action_not_permitted" for r in page["decisions"])
    rest = await client.get(
        URL,
        params={
            "subject_id": student.user_id,
            "allowed": "false",
            "limit": 2,
            "cursor": page["next_cursor"],
        },
        headers=admin.headers,
    )
    last = rest.json()
    assert len(last["decisions"]) == 1 and last["next_cursor"] is None
    ids = [r["decision_id"] for r in page["decisions"] + last["decisions"]]
    assert len(set(ids)) == 3
    newest = page["decisions"][0]["decided_at"]
    window = await client.get(
        URL,
        params={"subject_id": student.user_id, "action": "users.me.read", "until": newest},
        headers=admin.headers,
    )
    assert [r["action"] for r in window.json()["decisions"]] == ["users.me.read"]
    after = await client.get(
        URL, params={"subject_id": student.user_id, "since": newest}, headers=admin.headers
    )
    assert [r["decided_at"] for r in after.json()["decisions"]] == [newest]


async def test_bad_parameters_are_400(client: AsyncTestClient, settings: Settings) -> None:
    admin = await make_role(client, settings, "admin")
    for params in (
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"limit": 1001},
        {"since": "yesterday"},
        {"since": "2024-01-01T00:00:00"},
        {"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    ):
        reply = await client.get(URL, params=params, headers=admin.headers)
        assert reply.status_code == 400, (params, reply.text)
        assert reply.json()["error"]["message"]


@pytest.mark.parametrize("role", ["student", "teacher", "analyst"])
async def test_only_admins_read_the_log(
    client: AsyncTestClient, settings: Settings, role: str
) -> None:
    account = await make_role(client, settings, role)
    reply = await client.get(URL, headers=account.headers)
    assert reply.status_code == 403
    assert (await client.get(URL)).status_code == 401
