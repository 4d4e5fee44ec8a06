"""Accounts (`users.accounts`): the reads sign-in needs and account creation, shared by every door.

Functions take an open async connection; writes run in one transaction with their outbox event.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from core import outbox
from core.errors import Conflict
from core.events import UserRegisteredV1
from core.ids import new_id

# Opens a connection for one unit of work: `pool.connection` or `core.db.connect_once(url)`.
ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]
ROLES = ("student", "teacher", "admin", "analyst")
_COLUMNS = "user_id::text as user_id, email, display_name, role, created_at"


class Account(msgspec.Struct, frozen=True):
    user_id: str
    email: str
    display_name: str
    role: str
    created_at: datetime


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _account(row: dict[str, Any]) -> Account:
    return Account(
        row["user_id"], row["email"], row["display_name"], row["role"], row["created_at"]
    )


async def by_email(conn: AsyncConnection[Any], email: str) -> tuple[Account, str] | None:
    """The account and its password hash, or None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"select {_COLUMNS}, password_hash from users.accounts where email = %s",
        (normalize_email(email),),
    )
    row = await cur.fetchone()
    return (_account(row), str(row["password_hash"])) if row else None


async def by_id(conn: AsyncConnection[Any], user_id: str) -> Account | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"select {_COLUMNS} from users.accounts where user_id = %s", (user_id,))
    row = await cur.fetchone()
    return _account(row) if row else None


async def create(
    conn: AsyncConnection[Any], email: str, display_name: str, role: str, password_hash: str
) -> Account:
    """Insert an account and its `users.user.registered.v1` event in one transaction."""
    email = normalize_email(email)
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        try:
            await cur.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                f" values (%s, %s, %s, %s, %s) returning {_COLUMNS}",
                (new_id(), email, display_name, role, password_hash),
            )
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"an account with e-mail {email} already exists") from exc
        row = await cur.fetchone()
        assert row is not None
        account = _account(row)
        await outbox.append(
            conn,
            UserRegisteredV1(user_id=account.user_id, role=role, registered_at=account.created_at),
        )
    return account
