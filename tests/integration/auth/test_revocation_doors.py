"""A token revoked through any door (API logout, dashboards logout, `dreamseed logout`) is refused
by every running API process within a second.

Two API servers (uvicorn on real sockets, each with its own revocation mirror) and the dashboards
app share the scratch database and the real Redis. A token is signed in through a door, accepted by
both API servers, revoked through a door, and then each server is polled until it answers 401.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from apis.app import create_app as create_api
from cli.login import login as cli_login
from cli.login import logout as cli_logout
from core.settings import Settings
from dashboards.app import create_app as create_dashboards
from tests.integration.auth.polling import accepted_everywhere, refused_everywhere_within_deadline
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Doors:
    apis: tuple[str, str]
    dashboards: str
    settings: Settings


@pytest.fixture(scope="module")
def doors(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doors]:
    state_dir: Path = tmp_path_factory.mktemp("state")  # the CLI's session file lives here
    door_settings = replace(
        settings, state_dir=state_dir, rate_limit_per_user=100_000, rate_limit_per_ip=100_000
    )
    with (
        serve_in_thread(create_api(door_settings, relay=False)) as first,
        serve_in_thread(create_api(door_settings, relay=False)) as second,
        serve_in_thread(create_dashboards(door_settings)) as dashboards,
    ):
        yield Doors((first, second), dashboards, door_settings)


def _account(doors: Doors, role: str = "teacher") -> tuple[str, str]:
    email = f"door-{secrets.token_hex(4)}@school.test"
    password = "correct horse " + secrets.token_hex(4)
    reply = httpx.post(
        doors.apis[0] + "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": "Door", "role": role},
    )
    assert reply.status_code == 201, reply.text
    return email, password


def _accepted_everywhere(doors: Doors, token: str) -> None:
    accepted_everywhere(doors.apis, token)


def _refused_everywhere_within_deadline(doors: Doors, token: str, revoked_at: float) -> None:
    refused_everywhere_within_deadline(doors.apis, token, revoked_at)


def test_api_logout_is_refused_by_every_api_process(doors: Doors) -> None:
    email, password = _account(doors)
    signed_in = httpx.post(
        doors.apis[0] + "/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    _accepted_everywhere(doors, token)
    out = httpx.post(
        doors.apis[1] + "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert out.status_code == 204, out.text
    _refused_everywhere_within_deadline(doors, token, time.monotonic())


def test_dashboards_logout_is_refused_by_every_api_process(doors: Doors) -> None:
    email, password = _account(doors)
    signed_in = httpx.post(doors.dashboards + "/login", json={"email": email, "password": password})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    _accepted_everywhere(doors, token)
    out = httpx.post(doors.dashboards + "/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200, out.text
    _refused_everywhere_within_deadline(doors, token, time.monotonic())


def test_cli_logout_is_refused_by_every_api_process(doors: Doors) -> None:
    email, password = _account(doors, "student")
    runner = CliRunner()
    signed_in = runner.invoke(
        cli_login, ["--email", email, "--password-stdin"], obj=doors.settings, input=password + "\n"
    )
    assert signed_in.exit_code == 0, signed_in.output
    session = json.loads((doors.settings.state_dir / "sql-session.json").read_text())
    token = session["access_token"]
    _accepted_everywhere(doors, token)
    out = runner.invoke(cli_logout, [], obj=doors.settings)
    assert out.exit_code == 0, out.output
    _refused_everywhere_within_deadline(doors, token, time.monotonic())
