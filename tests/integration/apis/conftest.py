"""An API app on the scratch database, driven in process over ASGI (real PostgreSQL and Redis)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings


@dataclass
class Account:
    user_id: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(replace(settings, rate_limit_per_user=100_000, rate_limit_per_ip=100_000))
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def make_account(client: AsyncTestClient, role: str) -> Account:
    email = f"{role}-{secrets.token_hex(4)}@school.test"
    password = "correct horse " + secrets.token_hex(4)
    reply = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role.title(), "role": role},
    )
    assert reply.status_code == 201, reply.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return Account(reply.json()["user_id"], email, password, login.json()["access_token"])
