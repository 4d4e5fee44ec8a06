"""`dreamseed privacy export|erase|status|link`: subject export and erasure at the command line.

The operator acts through the same library as the API's admin routes (`privacy`): each action is
first decided by the policy for the subject role "operator" and written to the decision log (the
request, and each download link handed out), then the request row shows its progress.
"""

from __future__ import annotations

import json
import uuid

import click
import psycopg

from cli.context import settings_of
from cli.users import OPERATOR_ROLE
from core.settings import Settings


def _user_id(settings: Settings, email_or_id: str) -> str:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select user_id::text from users.accounts where user_id::text = %s or email = %s",
            (email_or_id, email_or_id.strip().lower()),
        ).fetchone()
    if row is not None:
        return str(row[0])
    try:  # an id whose account is gone: an erasure still sweeps every store for it
        return str(uuid.UUID(email_or_id))
    except ValueError:
        raise click.ClickException(f"no account {email_or_id}") from None


def _authorize(settings: Settings, action: str, user_id: str | None = None) -> None:
    """The policy's decision for the operator about the person, logged before acting."""
    from governance import Resource, Subject, SyncPolicy, load_engine
    from governance.decision_log import write_now

    engine = SyncPolicy(load_engine(settings.opa_url or None, settings.policy_dir))
    try:
        resource = Resource("user", user_id, owner_id=user_id) if user_id else None
        decision = engine.authorize(Subject(None, OPERATOR_ROLE), action, resource)
    finally:
        engine.close()
    write_now(settings.database_url, [decision])  # never act without an audit record
    if not decision.allowed:
        raise click.ClickException(f"the policy does not permit {action}: {decision.reason}")


def _create(settings: Settings, kind: str, user_id: str) -> str:
    from privacy import requests

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return requests.create(conn, kind, user_id, "operator")


@click.group("privacy")
def privacy() -> None:
    """Subject export and erasure (the lake's history included), policy-checked and logged.

    Progress is kept in privacy.requests."""


@privacy.command("export")
@click.argument("user")
@click.option("--link-seconds", type=click.IntRange(30, 3600), default=300, show_default=True)
@click.pass_context
def export(ctx: click.Context, user: str, link_seconds: int) -> None:
    """Export everything about USER (e-mail or id) into one archive; print its download link."""
    from privacy.export import download_link, run_export

    settings = settings_of(ctx)
    user_id = _user_id(settings, user)
    _authorize(settings, "privacy.export.create", user_id)
    request_id = _create(settings, "export", user_id)
    result = run_export(settings, request_id)
    _authorize(settings, "privacy.export.download", user_id)
    click.echo(json.dumps({"request_id": request_id, "records": result.counts}, indent=1))
    click.echo(download_link(settings, request_id, link_seconds))


@privacy.command("erase")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, user: str, yes: bool) -> None:
    """Erase USER (e-mail or id) from every store, the lake's history included."""
    from privacy.erasure import run_erasure

    settings = settings_of(ctx)
    user_id = _user_id(settings, user)
    if not yes:
        click.confirm(f"Erase {user} ({user_id}) for good?", abort=True)
    _authorize(settings, "privacy.erasure.create", user_id)
    request_id = _create(settings, "erasure", user_id)
    report = run_erasure(settings, request_id)
    click.echo(json.dumps({"request_id": request_id, "steps": report}, indent=1, default=str))


@privacy.command("resume")
@click.pass_context
def resume(ctx: click.Context) -> None:
    """Finish every open request (new ones, and ones a crash interrupted)."""
    from privacy import requests
    from privacy.erasure import run_erasure
    from privacy.export import run_export

    settings = settings_of(ctx)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        pending = [requests.load(conn, r) for r in requests.open_requests(conn)]
    for request in pending:
        if request is None:
            continue
        if request.kind == "erasure":
            run_erasure(settings, request.request_id)
        else:
            run_export(settings, request.request_id)
        click.echo(f"{request.kind} {request.request_id} done")


@privacy.command("status")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.pass_context
def status(ctx: click.Context, limit: int) -> None:
    """The latest requests and their progress."""
    from privacy import requests

    settings = settings_of(ctx)
    _authorize(settings, "privacy.request.read")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for r in requests.recent(conn, limit):
            click.echo(
                f"{r.requested_at:%Y-%m-%d %H:%M}  {r.kind:8}  {r.status:9}  {r.step or '-':10}"
                f"  {r.request_id}  {r.user_id or '(erased)' if r.kind == 'erasure' else r.user_id}"
            )


@privacy.command("consent")
@click.option(
    "--school",
    type=click.Choice(["allow", "deny"]),
    default=None,
    help="May text leave for external models at all (the school's setting)?",
)
@click.option("--opt-out", "opt_out", default=None, help="A student (e-mail or id) opts out.")
@click.option("--opt-in", "opt_in", default=None, help="A student (e-mail or id) opts back in.")
@click.pass_context
def consent(
    ctx: click.Context, school: str | None, opt_out: str | None, opt_in: str | None
) -> None:
    """Consent for external models: the school's setting and students' opt-outs, read by the
    tutor's consent policy before any text leaves."""
    from privacy.consent import set_opt_out, set_school_setting

    settings = settings_of(ctx)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if school is not None:
            _authorize(settings, "privacy.consent.update")
            set_school_setting(conn, school == "allow")
            click.echo(f"external models: {school}")
        for user, opted in ((opt_out, True), (opt_in, False)):
            if user is not None:
                user_id = _user_id(settings, user)
                _authorize(settings, "privacy.consent.update", user_id)
                set_opt_out(conn, user_id, opted)
                click.echo(f"{user}: {'opted out' if opted else 'opted in'}")
