"""`dreamseed login` / `dreamseed logout`: who is using the SQL door.

Sign-in, sign-out and token checks go through the one auth service (`core.sessions`), as in the
API and the dashboards: `login` checks the e-mail and password (throttled like every door) and
stores a short-lived access token (`settings.access_token_minutes`) in
`<state_dir>/sql-session.json` (mode 0600); `logout` revokes it (every running API process refuses
it within a second) and deletes the file. `dreamseed sql` takes its token from `--token`,
`DREAMSEED_TOKEN`, or that file, in that order, and `resolve_subject` verifies it on every run:
signature, expiry and revocation (unreachable Redis refuses), and the account's *current* role and
classes from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import psycopg
import redis

from cli.context import settings_of
from core.auth import Claims
from core.errors import DomainError, Unauthenticated
from core.sessions import AuthService, open_auth_service
from core.settings import Settings
from governance import Subject
from lake.pseudonym import subject_key

SESSION_FILE = "sql-session.json"
TOKEN_ENV = "DREAMSEED_TOKEN"  # noqa: S105 - the variable name, not a secret

_T = TypeVar("_T")
__all__ = ["SESSION_FILE", "TOKEN_ENV", "login", "logout", "resolve_subject", "session_path"]


class NotSignedIn(click.ClickException):
    """The SQL door refuses: no valid, unrevoked token for an existing account."""

    exit_code = 2


def session_path(settings: Settings) -> Path:
    return settings.state_dir / SESSION_FILE


def stored_token(settings: Settings) -> str | None:
    path = session_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    token = data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def _write_session(settings: Settings, token: str, email: str, claims: Claims) -> Path:
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {"access_token": token, "email": email, "expires_at": claims.expires_at.isoformat()}
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
    path.chmod(0o600)
    return path


def _with_service(settings: Settings, work: Callable[[AuthService], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with open_auth_service(settings) as service:
            return await work(service)

    return asyncio.run(run())


def verify_token(settings: Settings, token: str) -> Claims:
    """Signature, expiry, type and revocation; raises NotSignedIn with the reason."""
    if not settings.jwt_secret:
        raise NotSignedIn(
            "DREAMSEED_JWT_SECRET is empty: cannot verify tokens (run `dreamseed up`)"
        )
    try:
        return _with_service(settings, lambda service: service.check_access(token))
    except Unauthenticated as exc:
        raise NotSignedIn(f"{exc.message}; sign in again with `dreamseed login`") from exc
    except (redis.RedisError, OSError) as exc:
        raise NotSignedIn(
            f"cannot check whether the token was revoked (Redis at {settings.redis_url}: {exc});"
            " refusing"
        ) from exc


def resolve_subject(settings: Settings, token: str | None) -> Subject:
    """The governance subject of the SQL door's caller, or NotSignedIn."""
    token = token or settings.token or stored_token(settings)
    if not token:
        raise NotSignedIn(
            "not signed in: the SQL door answers only authenticated users. Run `dreamseed login`"
            f" (or pass --token / set {TOKEN_ENV} to an access token)"
        )
    claims = verify_token(settings, token.strip())
    with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "select role from users.accounts where user_id = %s", (claims.user_id,)
        ).fetchone()
        if row is None:
            raise NotSignedIn("the account of this token no longer exists")
        role = str(row[0])
        key = subject_key(settings.pseudonym_key, claims.user_id)
        if role == "teacher":
            query = "select class_id::text from classes.classes where teacher_id = %s"
        elif role == "student":
            query = "select class_id::text from classes.memberships where student_id = %s"
        else:
            return Subject(claims.user_id, role, user_key=key)
        class_ids = tuple(sorted(str(r[0]) for r in conn.execute(query, (claims.user_id,))))
    return Subject(claims.user_id, role, class_ids, user_key=key)


@click.command("login")
@click.option("--email", prompt=True, help="Your account's e-mail.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
@click.pass_context
def login(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Sign in for the SQL door: stores a short-lived access token in the state folder."""
    settings = settings_of(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)
    try:
        session = _with_service(
            settings,
            lambda service: service.sign_in(email, password, client="cli", with_refresh=False),
        )
    except DomainError as exc:  # wrong credentials, throttled, busy: the service's words
        raise click.ClickException(exc.message) from exc
    token, claims = session.access_token, session.access
    path = _write_session(settings, token, session.account.email, claims)
    click.echo(
        f"signed in as {session.account.email} ({claims.role}) until "
        f"{claims.expires_at:%Y-%m-%d %H:%M:%S} UTC; token in {path}"
    )


@click.command("logout")
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Revoke the stored SQL-door token and forget it."""
    settings = settings_of(ctx)
    token = stored_token(settings)
    path = session_path(settings)
    if token is None:
        path.unlink(missing_ok=True)
        click.echo("not signed in")
        return
    try:  # an expired or foreign token has nothing left to revoke
        _with_service(settings, lambda service: service.sign_out_token(token))
    except (redis.RedisError, OSError) as exc:
        raise click.ClickException(
            f"could not revoke the token (Redis: {exc}); the session file is kept"
        ) from exc
    path.unlink(missing_ok=True)
    click.echo("signed out; the token is revoked")
