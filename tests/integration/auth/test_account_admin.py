"""Account administration through both doors (the admin API and `dreamseed users`), governed by
the policy and logged; deactivation and role changes revoke the account's tokens in every API
process within a second; the last administrator stays; teacher self-registration follows the
policy data. Real PostgreSQL, Redis and uvicorn servers."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
from click.testing import CliRunner, Result
from litestar.testing import AsyncTestClient

from apis.app import create_app
from cli.users import users
from core.migrate import migrate
from core.settings import Settings
from tests.integration.auth.polling import accepted_everywhere, refused_everywhere_within_deadline
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin_settings(settings: Settings) -> Settings:
    return replace(settings, rate_limit_per_user=100_000, rate_limit_per_ip=100_000)


@pytest.fixture(scope="module")
def apis(admin_settings: Settings) -> Iterator[tuple[str, str]]:
    with (
        serve_in_thread(create_app(admin_settings, relay=False)) as first,
        serve_in_thread(create_app(admin_settings, relay=False)) as second,
    ):
        yield first, second


def run_cli(settings: Settings, *args: str, password: str | None = None) -> Result:
    stdin = password + "\n" if password is not None else None
    return CliRunner().invoke(users, list(args), obj=settings, input=stdin)


def new_email(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(4)}@school.test"


def operator_admin(settings: Settings) -> tuple[str, str]:
    """An administrator made at the command line (the bootstrap path)."""
    email, password = new_email("admin"), "admin password " + secrets.token_hex(4)
    made = run_cli(
        settings, "create", "--email", email, "--name", "Ada Admin", "--role", "admin",
        "--password-stdin", password=password,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    return email, password


def sign_in(api: str, email: str, password: str) -> httpx.Response:
    return httpx.post(api + "/api/v1/auth/login", json={"email": email, "password": password})


def bearer(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def register(api: str, role: str) -> tuple[str, str, str]:
    email, password = new_email(role), "correct horse " + secrets.token_hex(4)
    reply = httpx.post(
        api + "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["user_id"], email, password


def decisions(settings: Settings, action: str, target: str) -> list[dict[str, Any]]:
    """The logged decisions on `target` for `action` (the API's log is written in batches)."""
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(
                "select subject_id, subject_role, allowed, reason from governance.decisions"
                " where action = %s and resource->>'id' = %s",
                (action, target),
            ).fetchall()
        if rows or time.monotonic() > deadline:
            return [
                dict(zip(("subject_id", "role", "allowed", "reason"), r, strict=True)) for r in rows
            ]
        time.sleep(0.2)


def test_the_operator_makes_an_admin_who_administers_over_the_api(
    admin_settings: Settings, apis: tuple[str, str]
) -> None:
    api = apis[0]
    admin = bearer(sign_in(api, *operator_admin(admin_settings)))
    email = new_email("analyst")
    body = {"email": email, "password": "analyst password", "display_name": "An", "role": "analyst"}
    made = httpx.post(api + "/api/v1/users", json=body, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["role"] == "analyst" and made.json()["deactivated_at"] is None
    signed_in = sign_in(api, email, "analyst password")
    assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "analyst"

    again = httpx.post(api + "/api/v1/users", json=body, headers=admin)
    assert again.status_code == 409, again.text
    bad = httpx.post(api + "/api/v1/users", json={**body, "role": "root"}, headers=admin)
    assert bad.status_code == 400 and "role" in bad.json()["error"]["message"]

    listed = httpx.get(
        api + "/api/v1/users", params={"role": "analyst", "limit": 500}, headers=admin
    )
    assert listed.status_code == 200, listed.text
    assert email in [u["email"] for u in listed.json()]
    assert {u["role"] for u in listed.json()} == {"analyst"}
    first = httpx.get(api + "/api/v1/users", params={"limit": 1}, headers=admin).json()
    after = httpx.get(
        api + "/api/v1/users", params={"limit": 1, "after": first[0]["email"]}, headers=admin
    ).json()
    assert after and after[0]["email"] > first[0]["email"]

    _, teacher_email, teacher_password = register(api, "teacher")
    teacher = bearer(sign_in(api, teacher_email, teacher_password))
    assert httpx.post(api + "/api/v1/users", json=body, headers=teacher).status_code == 403
    assert httpx.get(api + "/api/v1/users", headers=teacher).status_code == 403


def test_deactivation_revokes_every_token_in_every_api_process(
    admin_settings: Settings, apis: tuple[str, str]
) -> None:
    admin_reply = sign_in(apis[0], *operator_admin(admin_settings))
    admin, admin_id = bearer(admin_reply), admin_reply.json()["user"]["user_id"]
    student_id, email, password = register(apis[0], "student")
    session = sign_in(apis[1], email, password).json()
    token = session["access_token"]
    accepted_everywhere(apis, token)

    reply = httpx.post(f"{apis[1]}/api/v1/users/{student_id}/deactivate", headers=admin)
    revoked_at = time.monotonic()
    assert reply.status_code == 200, reply.text
    assert reply.json()["deactivated_at"] is not None
    refused_everywhere_within_deadline(apis, token, revoked_at)

    refused = sign_in(apis[0], email, password)
    assert refused.status_code == 403 and "deactivated" in refused.json()["error"]["message"]
    assert sign_in(apis[0], email, "wrong password").status_code == 401  # no hint without it
    refresh = httpx.post(
        apis[0] + "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refresh.status_code == 401
    inactive = httpx.get(
        apis[0] + "/api/v1/users", params={"active": "false", "limit": 500}, headers=admin
    ).json()
    assert student_id in [u["user_id"] for u in inactive]
    again = httpx.post(f"{apis[0]}/api/v1/users/{student_id}/deactivate", headers=admin)
    assert again.status_code == 200  # idempotent
    missing = httpx.post(
        f"{apis[0]}/api/v1/users/{'0' * 8}-0000-0000-0000-{'0' * 12}/deactivate", headers=admin
    )
    assert missing.status_code == 404

    logged = decisions(admin_settings, "users.user.deactivate", student_id)
    assert {"subject_id": admin_id, "role": "admin", "allowed": True, "reason": "allowed"} in logged


def test_a_role_change_from_the_cli_revokes_the_old_role_s_tokens(
    admin_settings: Settings, apis: tuple[str, str]
) -> None:
    user_id, email, password = register(apis[0], "teacher")
    token = sign_in(apis[0], email, password).json()["access_token"]
    accepted_everywhere(apis, token)
    changed = run_cli(admin_settings, "set-role", email, "student")
    revoked_at = time.monotonic()
    assert changed.exit_code == 0, changed.output
    refused_everywhere_within_deadline(apis, token, revoked_at)
    again = sign_in(apis[1], email, password)
    assert again.status_code == 200 and again.json()["user"]["role"] == "student"

    listed = run_cli(admin_settings, "list", "--role", "student", "--json", "--limit", "500")
    assert listed.exit_code == 0, listed.output
    assert email in [row["email"] for row in json.loads(listed.output)]
    logged = decisions(admin_settings, "users.user.set_role", user_id)
    assert {"subject_id": None, "role": "operator", "allowed": True, "reason": "allowed"} in logged


@pytest.fixture
def empty_database(settings: Settings) -> Iterator[Settings]:
    """A database of its own: 'the last administrator' needs to know every account."""
    name = f"dreamseed_test_admins_{secrets.token_hex(4)}"
    admin_url = urlparse(settings.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlparse(settings.database_url)._replace(path=f"/{name}").geturl()
    try:
        migrate(url)
        yield replace(settings, database_url=url)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_the_last_administrator_cannot_be_removed(empty_database: Settings) -> None:
    first, _ = operator_admin(empty_database)
    demoted = run_cli(empty_database, "set-role", first, "teacher")
    assert demoted.exit_code == 1 and "last active administrator" in demoted.output
    second, _ = operator_admin(empty_database)
    assert run_cli(empty_database, "deactivate", first).exit_code == 0
    refused = run_cli(empty_database, "deactivate", second)
    assert refused.exit_code == 1 and "last active administrator" in refused.output
    assert "no account" in run_cli(empty_database, "deactivate", new_email("nobody")).output
    listed = run_cli(empty_database, "list", "--status", "active")
    assert listed.exit_code == 0 and second in listed.output and first not in listed.output


def _bundle(settings: Settings, tmp_path: Path, registration: dict[str, Any]) -> Path:
    bundle = tmp_path / "governance"
    shutil.copytree(
        settings.policy_dir, bundle, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    (bundle / "data" / "registration.json").write_text(json.dumps(registration))
    return bundle


@pytest.mark.parametrize(
    ("registration", "outcomes"),
    [
        (
            {"teacher_self_registration": "domains", "teacher_email_domains": ["School.Example"]},
            {("teacher", "school.example"): 201, ("teacher", "elsewhere.test"): 403},
        ),
        (
            {"teacher_self_registration": "nobody", "teacher_email_domains": []},
            {("teacher", "school.example"): 403},
        ),
    ],
)
async def test_teacher_self_registration_follows_the_policy_data(
    admin_settings: Settings,
    tmp_path: Path,
    registration: dict[str, Any],
    outcomes: dict[tuple[str, str], int],
) -> None:
    bundle = _bundle(admin_settings, tmp_path, registration)
    app = create_app(replace(admin_settings, policy_dir=bundle), ["users"], relay=False)
    async with AsyncTestClient(app) as client:
        for (role, domain), status in {**outcomes, ("student", "elsewhere.test"): 201}.items():
            body = {
                "email": f"{role}-{secrets.token_hex(4)}@{domain}",
                "password": "correct horse battery",
                "display_name": role,
                "role": role,
            }
            reply = await client.post("/api/v1/auth/register", json=body)
            assert reply.status_code == status, (role, domain, reply.text)
            if status == 403:
                message = reply.json()["error"]["message"]
                assert "ask an administrator" in message, message
    with psycopg.connect(admin_settings.database_url) as conn:
        refused = conn.execute(
            "select count(*) from governance.decisions where action = 'users.account.create'"
            " and reason = 'teacher_registration_closed' and resource->>'email_domain' = %s",
            ("school.example" if "nobody" in json.dumps(registration) else "elsewhere.test",),
        ).fetchone()
    assert refused is not None and refused[0] >= 1


def test_the_demo_makes_its_admin_and_analyst_as_the_operator(admin_settings: Settings) -> None:
    from cli.demo import _operator_account

    email = new_email("demo-analyst")
    for _ in range(2):  # a second demo run keeps the account
        _operator_account(admin_settings, "analyst", email, "demo password 1")
    listed = run_cli(admin_settings, "list", "--role", "analyst", "--json", "--limit", "500")
    made = [row for row in json.loads(listed.output) if row["email"] == email]
    assert len(made) == 1 and made[0]["display_name"] == "Analyst"
    with psycopg.connect(admin_settings.database_url) as conn:
        row = conn.execute(
            "select count(*) from governance.decisions where action = 'users.user.create'"
            " and subject_role = 'operator' and allowed"
        ).fetchone()
    assert row is not None and row[0] >= 2
