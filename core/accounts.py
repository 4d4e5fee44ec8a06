"""Accounts (`users.accounts`): the reads sign-in needs and account administration (create, list,
deactivate, change role), shared by every door.

Functions take an open async connection; each write runs in one transaction with its outbox event.
The last active administrator can be neither deactivated nor demoted (someone must be able to
administer). Who may call what is the caller's policy check; revoking the sessions of a changed
account is `core.sessions.AuthService`'s.
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
from core.errors import Conflict, NotFound
from core.events import UserDeactivatedV1, UserRegisteredV1, UserRoleChangedV1
from core.ids import new_id

# Opens a connection for one unit of work: `pool.connection` or `core.db.connect_once(url)`.
ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]
ROLES = ("student", "teacher", "admin", "analyst")
_COLUMNS = "user_id::text as user_id, email, display_name, role, created_at, deactivated_at"
LIST_LIMIT_MAX = 500


class Account(msgspec.Struct, frozen=True):
    user_id: str
    email: str
    display_name: str
    role: str
    created_at: datetime
    deactivated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _account(row: dict[str, Any]) -> Account:
    return Account(
        row["user_id"],
        row["email"],
        row["display_name"],
        row["role"],
        row["created_at"],
        row["deactivated_at"],
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


async def list_accounts(
    conn: AsyncConnection[Any],
    *,
    role: str | None = None,
    active: bool | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[Account]:
    """Accounts ordered by e-mail; `after` (an e-mail) continues a previous page."""
    where: list[str] = ["true"]
    params: list[str] = []
    if role is not None:
        where.append("role = %s")
        params.append(role)
    if active is not None:
        where.append("deactivated_at is null" if active else "deactivated_at is not null")
    if after is not None:
        where.append("email > %s")
        params.append(normalize_email(after))
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"select {_COLUMNS} from users.accounts where {' and '.join(where)}"
        " order by email limit %s",
        (*params, max(1, min(limit, LIST_LIMIT_MAX))),
    )
    return [_account(row) for row in await cur.fetchall()]


async def _locked(conn: AsyncConnection[Any], user_id: str) -> Account:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"select {_COLUMNS} from users.accounts where user_id = %s for update", (user_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no account with id {user_id}")
    return _account(row)


async def _keep_an_admin(conn: AsyncConnection[Any], account: Account, what: str) -> None:
    """Refuse to leave the platform without an active administrator."""
    if account.role != "admin" or not account.active:
        return
    # Lock every active admin row: two concurrent demotions cannot both see "another admin".
    cur = await conn.execute(
        "select user_id from users.accounts where role = 'admin' and deactivated_at is null"
        " and user_id <> %s for update",
        (account.user_id,),
    )
    if not await cur.fetchall():
        raise Conflict(f"{account.email} is the last active administrator and cannot be {what}")


async def deactivate(conn: AsyncConnection[Any], user_id: str) -> tuple[Account, bool]:
    """Deactivate an account; (the account, whether it changed). Deactivating a deactivated
    account changes nothing and writes no event."""
    async with conn.transaction():
        account = await _locked(conn, user_id)
        if not account.active:
            return account, False
        await _keep_an_admin(conn, account, "deactivated")
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "update users.accounts set deactivated_at = now() where user_id = %s"
            f" returning {_COLUMNS}",
            (user_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        changed = _account(row)
        assert changed.deactivated_at is not None
        await outbox.append(
            conn, UserDeactivatedV1(user_id=user_id, deactivated_at=changed.deactivated_at)
        )
    return changed, True


async def set_role(conn: AsyncConnection[Any], user_id: str, role: str) -> tuple[Account, bool]:
    """Give an account another role; (the account, whether it changed)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    async with conn.transaction():
        account = await _locked(conn, user_id)
        if account.role == role:
            return account, False
        await _keep_an_admin(conn, account, "demoted")
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"update users.accounts set role = %s where user_id = %s returning {_COLUMNS}, now()",
            (role, user_id),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            UserRoleChangedV1(
                user_id=user_id, role=role, previous_role=account.role, changed_at=row["now"]
            ),
        )
    return _account(row), True
