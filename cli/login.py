"""`dreamseed login` / `dreamseed logout`: who is using the SQL door.

`login` checks the e-mail and password against `users.accounts` (argon2, like the API) and stores
a short-lived access token (the API's own JWT, `settings.access_token_minutes`) in
`<state_dir>/sql-session.json` (mode 0600). `logout` revokes it in Redis (like the API's logout)
and deletes the file. `dreamseed sql` takes its token from `--token`, `DREAMSEED_TOKEN`, or that
file, in that order, and `resolve_subject` verifies it on every run: signature and expiry
(`core.auth.decode_token` against `settings.jwt_secret`), revocation (Redis; unreachable Redis
refuses), and the account's *current* role and classes from PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import psycopg
import redis

from core.auth import Claims, decode_token, issue_token, revocation_key, verify_password
from core.errors import Unauthenticated
from core.settings import Settings
from governance import Subject

SESSION_FILE = "sql-session.json"
TOKEN_ENV = "DREAMSEED_TOKEN"  # noqa: S105 - the variable name, not a secret

__all__ = ["SESSION_FILE", "TOKEN_ENV", "login", "logout", "resolve_subject", "session_path"]


class NotSignedIn(click.ClickException):
    """The SQL door refuses: no valid, unrevoked token for an existing account."""

    exit_code = 2


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings.load()


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


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)


def verify_token(settings: Settings, token: str) -> Claims:
    """Signature, expiry, type and revocation; raises NotSignedIn with the reason."""
    if not settings.jwt_secret:
        raise NotSignedIn(
            "DREAMSEED_JWT_SECRET is empty: cannot verify tokens (run `dreamseed up`)"
        )
    try:
        claims = decode_token(settings.jwt_secret, token, "access")
    except Unauthenticated as exc:
        raise NotSignedIn(f"{exc.message}; sign in again with `dreamseed login`") from exc
    try:
        revoked = _redis(settings).exists(revocation_key(claims.token_id))
    except redis.RedisError as exc:
        raise NotSignedIn(
            f"cannot check whether the token was revoked (Redis at {settings.redis_url}: {exc});"
            " refusing"
        ) from exc
    if revoked:
        raise NotSignedIn("the token has been revoked (logged out); sign in with `dreamseed login`")
    return claims


def resolve_subject(settings: Settings, token: str | None) -> Subject:
    """The governance subject of the SQL door's caller, or NotSignedIn."""
    token = token or os.environ.get(TOKEN_ENV) or stored_token(settings)
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
        if role == "teacher":
            query = "select class_id::text from classes.classes where teacher_id = %s"
        elif role == "student":
            query = "select class_id::text from classes.memberships where student_id = %s"
        else:
            return Subject(claims.user_id, role)
        class_ids = tuple(sorted(str(r[0]) for r in conn.execute(query, (claims.user_id,))))
    return Subject(claims.user_id, role, class_ids)


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
    settings = _settings(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True)
    with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "select user_id::text, role, password_hash from users.accounts where email = %s",
            (email.strip().lower(),),
        ).fetchone()
    # Same message for an unknown e-mail and a wrong password, like the API.
    if row is None or not verify_password(str(row[2]), password):
        raise click.ClickException("e-mail or password is wrong")
    user_id, role = str(row[0]), str(row[1])
    lifetime = timedelta(minutes=settings.access_token_minutes)
    token, claims = issue_token(settings.jwt_secret, user_id, role, "access", lifetime)
    path = _write_session(settings, token, email.strip().lower(), claims)
    click.echo(
        f"signed in as {email.strip().lower()} ({role}) until "
        f"{claims.expires_at:%Y-%m-%d %H:%M:%S} UTC; token in {path}"
    )


@click.command("logout")
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Revoke the stored SQL-door token and forget it."""
    settings = _settings(ctx)
    token = stored_token(settings)
    path = session_path(settings)
    if token is None:
        path.unlink(missing_ok=True)
        click.echo("not signed in")
        return
    try:
        claims = decode_token(settings.jwt_secret, token, "access")
    except Unauthenticated:
        claims = None  # expired or foreign: nothing left to revoke
    if claims is not None:
        ttl = int((claims.expires_at - datetime.now(UTC)).total_seconds()) + 1
        if ttl > 0:
            try:
                _redis(settings).set(revocation_key(claims.token_id), "1", ex=ttl)
            except redis.RedisError as exc:
                raise click.ClickException(
                    f"could not revoke the token (Redis: {exc}); the session file is kept"
                ) from exc
    path.unlink(missing_ok=True)
    click.echo("signed out; the token is revoked")
