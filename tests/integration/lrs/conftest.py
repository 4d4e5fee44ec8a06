"""LRS integration fixtures: the API in process over ASGI on the scratch database (real
PostgreSQL and Redis), an admin, and a Basic credential issued through the API."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from tests.support.accounts import operator_token

V = {"X-Experience-API-Version": "1.0.3"}


@dataclass
class Lrs:
    client: AsyncTestClient
    admin: dict[str, str]  # bearer headers of an admin
    basic: dict[str, str]  # Basic credential (scope all) + version header
    credential: dict[str, Any]


def basic(key: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", **V}


async def issue(
    client: AsyncTestClient, headers: dict[str, str], scopes: list[str], class_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "player", "scopes": scopes}
    if class_id:
        body["class_id"] = class_id
    reply = await client.post("/api/v1/lrs/credentials", json=body, headers=headers)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(
        replace(settings, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000), relay=False
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def lrs(client: AsyncTestClient, settings: Settings) -> Lrs:
    _, token = operator_token(settings, "admin")
    admin = {"Authorization": f"Bearer {token}"}
    credential = await issue(client, admin, ["all"])
    return Lrs(client, admin, basic(credential["key"], credential["secret"]), credential)


def statement(
    verb: str = "completed", activity: str = "http://example.com/a/1", **extra: Any
) -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:learner@example.com", "name": "L"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": activity},
        **extra,
    }
