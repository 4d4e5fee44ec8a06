"""`dreamseed users create|list|deactivate|set-role`: account administration at the command line.

The operator (whoever holds the database's credentials; no account needed, so the first
administrator can be made here) acts through the same auth service as the API's admin routes
(`core.sessions.AuthService`): one transaction with its outbox event per change, and a deactivated
or re-roled account's tokens revoked in every API process within a second. Every action is first
decided by the policy bundle for the subject role "operator" (`governance/data/roles.json`) and
the decision is written to the decision log before anything happens; a denial changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from cli.context import settings_of
from core.accounts import ROLES, Account
from core.errors import DomainError
from core.sessions import AuthService, open_auth_service
from core.settings import Settings

OPERATOR_ROLE = "operator"
_T = TypeVar("_T")


def authorize(settings: Settings, action: str, target: Account | None = None) -> None:
    """The policy's decision for the operator, logged before acting; ClickException if denied."""
    from governance import Resource, Subject, SyncPolicy, load_engine  # loaded only here
    from governance.decision_log import write_now

    engine = SyncPolicy(load_engine(settings.opa_url or None, settings.policy_dir))
    try:
        resource = None
        if target is not None:
            resource = Resource("user", target.user_id, owner_id=target.user_id)
        decision = engine.authorize(Subject(None, OPERATOR_ROLE), action, resource)
    finally:
        engine.close()
    write_now(settings.database_url, [decision])  # never act without an audit record
    if not decision.allowed:
        raise click.ClickException(f"the policy does not permit {action}: {decision.reason}")


def _run(settings: Settings, work: Callable[[AuthService], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with open_auth_service(settings) as service:
            return await work(service)

    try:
        return asyncio.run(run())
    except DomainError as exc:  # not found, conflict (last admin, e-mail taken), …
        raise click.ClickException(exc.message) from exc


def _target(settings: Settings, email_or_id: str) -> Account:
    found = _run(settings, lambda service: service.find_account(email_or_id))
    if found is None:
        raise click.ClickException(f"no account {email_or_id}")
    return found


def _line(account: Account) -> str:
    status = "active" if account.active else f"deactivated {account.deactivated_at:%Y-%m-%d}"
    return f"{account.email}  {account.role}  {status}  {account.user_id}  {account.display_name}"


def create_account(
    settings: Settings, email: str, display_name: str, role: str, password: str
) -> Account:
    """Create an account as the operator (policy-checked and logged); used by the demo too."""
    authorize(settings, "users.user.create")
    return _run(
        settings, lambda service: service.create_account(email, password, display_name, role)
    )


@click.group("users")
def users() -> None:
    """Account administration as the operator (policy-checked, every action logged)."""


@users.command("create")
@click.option("--email", required=True, help="The account's e-mail (its sign-in name).")
@click.option("--name", "display_name", required=True, help="The name shown to others.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def create(
    ctx: click.Context, email: str, display_name: str, role: str, password_stdin: bool
) -> None:
    """Create an account of any role (the way to make administrators and analysts)."""
    settings = settings_of(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.BadParameter("the password needs at least 8 characters", param_hint="password")
    account = create_account(settings, email, display_name, role, password)
    click.echo(f"created {_line(account)}")


@users.command("list")
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option(
    "--status",
    type=click.Choice(["all", "active", "deactivated"]),
    default="all",
    show_default=True,
)
@click.option("--after", default=None, help="Continue after this e-mail (paging).")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of lines.")
@click.pass_context
def list_(
    ctx: click.Context, role: str | None, status: str, after: str | None, limit: int, as_json: bool
) -> None:
    """List accounts by e-mail."""
    settings = settings_of(ctx)
    authorize(settings, "users.user.list")
    active = {"all": None, "active": True, "deactivated": False}[status]
    found = _run(
        settings,
        lambda service: service.list_accounts(role=role, active=active, after=after, limit=limit),
    )
    if as_json:
        rows = [
            {
                "user_id": a.user_id,
                "email": a.email,
                "display_name": a.display_name,
                "role": a.role,
                "created_at": a.created_at.isoformat(),
                "deactivated_at": a.deactivated_at.isoformat() if a.deactivated_at else None,
            }
            for a in found
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    for account in found:
        click.echo(_line(account))


@users.command("deactivate")
@click.argument("account")
@click.pass_context
def deactivate(ctx: click.Context, account: str) -> None:
    """Deactivate ACCOUNT (e-mail or id): no more sign-ins, its tokens revoked everywhere."""
    settings = settings_of(ctx)
    target = _target(settings, account)
    authorize(settings, "users.user.deactivate", target)
    done = _run(settings, lambda service: service.deactivate(target.user_id))
    click.echo(f"deactivated {_line(done)}")


@users.command("set-role")
@click.argument("account")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def set_role(ctx: click.Context, account: str, role: str) -> None:
    """Give ACCOUNT (e-mail or id) another ROLE; its tokens are revoked (it signs in again)."""
    settings = settings_of(ctx)
    target = _target(settings, account)
    authorize(settings, "users.user.set_role", target)
    done = _run(settings, lambda service: service.set_role(target.user_id, role))
    click.echo(f"{_line(done)}")
