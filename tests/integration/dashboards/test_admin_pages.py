"""The admin pages over real PostgreSQL and Redis: who may open them, what they read.

usage reads the dbt marts; here they are absent (the scratch database has no dbt run), which
must be an empty state, not an error. platform_health and policy_audit read the decision log,
the outbox and the calibration table the migrations made. The browser tests
(tests/e2e/test_dashboards_browser.py) cover the same pages on built marts.
"""

from __future__ import annotations

import secrets
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from core.auth import issue_token
from core.settings import Settings
from dashboards.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def client(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    address = (f"127.8.{secrets.randbelow(250)}.{secrets.randbelow(250) + 2}", 50000)
    # a state dir of its own: no Dagster instance (a developer's `make demo` made one in .dreamseed)
    app = create_app(replace(settings, state_dir=tmp_path_factory.mktemp("state")))
    with TestClient(app, follow_redirects=False, client=address) as test_client:
        yield test_client


def bearer(settings: Settings, role: str, user_id: str | None = None) -> dict[str, str]:
    token, _ = issue_token(
        settings.jwt_secret, user_id or str(uuid.uuid4()), role, "access", timedelta(minutes=5)
    )
    return {"Authorization": f"Bearer {token}", "Accept": "text/html"}


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("admin", {"usage", "platform_health", "policy_audit"}),
        ("analyst", {"usage"}),
        ("teacher", set()),
        ("student", set()),
    ],
)
def test_who_opens_the_admin_pages(
    client: TestClient, settings: Settings, role: str, allowed: set[str]
) -> None:
    headers = bearer(settings, role)
    for page in ("usage", "platform_health", "policy_audit"):
        response = client.get(f"/pages/{page}/", headers=headers)
        assert response.status_code == (200 if page in allowed else 403), (role, page)
        if page not in allowed:
            assert "may not open this dashboard" in response.text


def test_usage_without_marts_is_an_empty_state(client: TestClient, settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        built = conn.execute("select to_regclass('analytics.agg_engagement_daily')").fetchone()
    response = client.get("/pages/usage/", headers=bearer(settings, "analyst"))
    assert response.status_code == 200
    if built and built[0] is None:  # the mart is absent in this session's database
        assert "No data yet" in response.text and "dreamseed pipeline" in response.text


def test_policy_audit_searches_the_decision_log(client: TestClient, settings: Settings) -> None:
    intruder = str(uuid.uuid4())
    for _ in range(3):  # three denied page views by one student, recorded by the gate
        assert (
            client.get(
                "/pages/policy_audit/", headers=bearer(settings, "student", intruder)
            ).status_code
            == 403
        )
    admin = bearer(settings, "admin")
    deadline = time.monotonic() + 30  # the decision log writes asynchronously: wait for the rows
    while True:  # (50 polls without a pause ran out under load before the writer did)
        found = client.get(f"/pages/policy_audit/?subject={intruder}&outcome=denied", headers=admin)
        if (found.status_code == 200 and "of 3," in found.text) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found.status_code == 200
    html = found.text
    assert "Decisions 1–3 of 3, newest first" in html
    assert html.count(f'data-value="{intruder}"') == 3
    assert "role_not_allowed" in html
    assert 'data-ds-filter="subject"' in html and f'value="{intruder}"' in html
    nothing = client.get(f"/pages/policy_audit/?subject={intruder}&outcome=allowed", headers=admin)
    assert "no decision matches this search" in nothing.text
    bad = client.get("/pages/policy_audit/?days=9999&page=-4&outcome=x", headers=admin)
    assert bad.status_code == 200  # unknown filter values fall back to the defaults
    assert "Last 7 days" in bad.text


def test_platform_health_reads_calibrations_and_traffic(
    client: TestClient, settings: Settings
) -> None:
    calibration = f"cal-{secrets.token_hex(3)}"
    with psycopg.connect(settings.database_url) as conn:
        owner = str(uuid.uuid4())
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'T', 'teacher', 'x')",
            (owner, f"{owner}@health.example"),
        )
        item = str(uuid.uuid4())
        conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key, skills,"
            " status) values (%s, %s, 'q', '[\"A\", \"B\"]', 0, '{x}', 'operational')",
            (item, owner),
        )
        conn.execute(
            "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
            " model, a, b, c, d, is_live, promoted_at)"
            " values (%s, %s, 1, %s, '2pl', 1.2, '{0.1}', 0, '{-0.1}', true, now())",
            (str(uuid.uuid4()), item, calibration),
        )
    response = client.get("/pages/platform_health/", headers=bearer(settings, "admin"))
    assert response.status_code == 200
    html = response.text
    assert calibration in html
    assert 'data-kpi="Outbox backlog"' in html and 'data-kpi="Requests"' in html
    assert "the pipeline has not run here yet" in html  # no Dagster instance in this state dir
    assert "aria-current='page'>Platform health<" in html
