"""Accounts that only an operator can create (admin, analyst), with a signed access token."""

from __future__ import annotations

import secrets
from datetime import timedelta

import psycopg

from core.auth import hash_password, issue_token
from core.ids import new_id
from core.settings import Settings


def operator_token(settings: Settings, role: str = "admin") -> tuple[str, str]:
    """Insert an account with `role` into the scratch database; return (user_id, access token)."""
    user_id = str(new_id())
    email = f"{role}-{secrets.token_hex(4)}@operator.test"
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, %s, %s, %s)",
            (user_id, email, role.title(), role, hash_password(secrets.token_hex(16))),
        )
    token, _ = issue_token(settings.jwt_secret, user_id, role, "access", timedelta(minutes=15))
    return user_id, token
