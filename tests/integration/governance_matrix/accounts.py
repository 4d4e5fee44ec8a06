"""Accounts of every role for tests that drive the real app: students and teachers register
through the API; admins and analysts get their role from an operator (a role change in the
scratch database; `dreamseed users set-role` in real life), then sign in through the API like
everyone else."""

from __future__ import annotations

import psycopg
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.apis.conftest import Account, make_account


async def login(client: AsyncTestClient, account: Account) -> Account:
    reply = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert reply.status_code == 200, reply.text
    return Account(account.user_id, account.email, account.password, reply.json()["access_token"])


def set_role(settings: Settings, user_id: str, role: str) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("update users.accounts set role = %s where user_id = %s", (role, user_id))


async def make_role(client: AsyncTestClient, settings: Settings, role: str) -> Account:
    """An account of any role (student, teacher, analyst, admin), signed in."""
    if role in ("student", "teacher"):
        return await make_account(client, role)
    account = await make_account(client, "student")
    set_role(settings, account.user_id, role)
    return await login(client, account)
