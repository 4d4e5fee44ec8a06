"""`dreamseed lrs issue|list|revoke`: Basic credentials for LRS clients at the command line.

The operator issues a credential on behalf of an admin or teacher account (`--issued-by`, by
e-mail or id: the credential is theirs, a teacher's covers one of her classes). Each action is
first decided by the policy for the subject role "operator" and logged, as `dreamseed users` does;
the credential is written through the same code as POST /api/v1/lrs/credentials (one
transaction with its outbox event). The secret is printed once.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import psycopg
from psycopg.rows import dict_row

from cli.context import settings_of
from cli.users import authorize
from core.settings import Settings


def _account(settings: Settings, email_or_id: str) -> dict[str, Any]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        row = conn.execute(
            "select user_id::text, role from users.accounts where email = lower(%s)"
            " or user_id::text = %s",
            (email_or_id, email_or_id),
        ).fetchone()
    if row is None:
        raise click.ClickException(f"no account {email_or_id}")
    return dict(row)


def issue_credential(
    settings: Settings, issued_by: str, name: str, scopes: list[str], class_id: str | None
) -> dict[str, Any]:
    """Issue a credential as the operator for the account `issued_by` (also used by the demo)."""
    from apis.lrs import credentials  # the API package loads only here

    authorize(settings, "lrs.credential.create")
    account = _account(settings, issued_by)

    async def run() -> dict[str, Any]:
        async with (
            await psycopg.AsyncConnection.connect(
                settings.database_url, row_factory=dict_row
            ) as conn,
            conn.transaction(),
        ):
            return await credentials.issue(
                conn, issued_by=account["user_id"], role=account["role"], name=name,
                scopes=scopes, class_id=class_id,
            )  # fmt: skip

    try:
        return asyncio.run(run())
    except Exception as exc:  # a domain error (not the account's class, …) names the field
        raise click.ClickException(getattr(exc, "message", str(exc))) from exc


@click.group("lrs")
def lrs() -> None:
    """Learning Record Store credentials (HTTP Basic key and secret for xAPI clients)."""


@lrs.command("issue")
@click.option("--issued-by", required=True, help="E-mail or id of the admin or teacher.")
@click.option("--name", required=True, help="What the credential is for (e.g. the H5P site).")
@click.option("--scope", "scopes", multiple=True, default=["all"], show_default=True,
              help="xAPI scope (repeat): statements/write, statements/read, "
              "statements/read/mine, state, define, profile, all/read, all.")  # fmt: skip
@click.option("--class-id", default=None, help="The class a teacher's credential covers.")
@click.pass_context
def issue(
    ctx: click.Context, issued_by: str, name: str, scopes: tuple[str, ...], class_id: str | None
) -> None:
    """Issue a key and secret; prints them once as JSON."""
    row = issue_credential(settings_of(ctx), issued_by, name, list(scopes), class_id)
    click.echo(json.dumps({k: row[k] for k in ("credential_id", "key", "secret", "scopes")}))


@lrs.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Every credential (never a secret)."""
    settings = settings_of(ctx)
    authorize(settings, "lrs.credential.read")
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select credential_id, key, name, array_to_string(scopes, ','), class_id,"
            " revoked_at is not null from lrs.credentials order by created_at"
        ).fetchall()
    for r in rows:
        click.echo(f"{r[0]}  {r[1]}  {r[3]}  class={r[4] or '-'}  revoked={r[5]}  {r[2]}")


@lrs.command("revoke")
@click.argument("credential_id")
@click.pass_context
def revoke(ctx: click.Context, credential_id: str) -> None:
    """Revoke a credential (refused by every API process within seconds)."""
    settings = settings_of(ctx)
    authorize(settings, "lrs.credential.revoke")
    from apis.lrs import credentials

    async def run() -> None:
        async with (
            await psycopg.AsyncConnection.connect(
                settings.database_url, row_factory=dict_row
            ) as conn,
            conn.transaction(),
        ):
            cur = await conn.execute(
                "select issued_by::text from lrs.credentials where credential_id::text = %s",
                (credential_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise click.ClickException(f"no credential {credential_id}")
            await credentials.revoke(conn, credential_id, by=row["issued_by"], admin=True)

    asyncio.run(run())
    click.echo(f"revoked {credential_id}")
