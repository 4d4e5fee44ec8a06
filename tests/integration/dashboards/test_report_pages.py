"""The class report, item bank health and student report pages on real marts: two teachers'
classes seeded into PostgreSQL, the dbt marts built by Dagster in process, the pages served by
the dashboards app (real Redis, real Rego bundle). Each caller sees only what the policy lets
her see; the figures on the page are the marts' figures."""

from __future__ import annotations

import json
import secrets
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest

from core.auth import issue_token
from core.settings import Settings
from dashboards.app import create_app
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from tests.support.database import scratch_settings
from tests.support.teacher_class import seed_class

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

with warnings.catch_warnings():  # starlette warns that its TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CLASS_REPORT = "/pages/class_report/"
BANK = "/pages/item_bank_health/"
STUDENT = "/pages/student_report/"


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the marts are built (and every dbt test run) over all its rows, and
    the session's database holds other tests' synthetic lake events (e.g. test_silver's)."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


@pytest.fixture(scope="module")
def school(settings: Settings) -> dict[str, dict[str, str]]:
    tags = {"mine": f"m{secrets.token_hex(3)}", "other": f"o{secrets.token_hex(3)}"}
    seeded = {k: {**seed_class(settings, tag), "tag": tag} for k, tag in tags.items()}
    project = dbt_project()
    result = dg.materialize(
        [build_dbt_assets(project)],
        resources={"dbt": build_dbt_resource(settings, project)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return seeded


@pytest.fixture(scope="module")
def client(settings: Settings, school: dict[str, dict[str, str]]) -> Iterator[TestClient]:
    address = (f"127.9.{secrets.randbelow(250)}.{secrets.randbelow(250) + 2}", 50000)
    with TestClient(create_app(settings), follow_redirects=False, client=address) as test_client:
        yield test_client


def bearer(settings: Settings, user_id: str, role: str) -> dict[str, str]:
    token, _ = issue_token(settings.jwt_secret, user_id, role, "access", timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def names(seed: dict[str, str]) -> list[str]:
    return [f"{s}-{seed['tag']}" for s in ("a", "b", "c", "d")]


def test_teacher_class_report_shows_her_class_only(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    mine, other = school["mine"], school["other"]
    teacher = bearer(settings, mine["teacher"], "teacher")
    html = client.get(CLASS_REPORT, headers=teacher).text
    assert f"Report class {mine['tag']}" in html
    assert all(n in html for n in names(mine))
    assert f"Report class {other['tag']}" not in html
    assert not any(n in html for n in names(other))
    # the mart's figures and reasons, as agg_student_risk has them
    with psycopg.connect(settings.database_url) as conn:
        at_risk, reasons = conn.execute(
            "select count(*) filter (where is_at_risk), array_agg(risk_reasons)"
            " from analytics.agg_student_risk where class_id = %s",
            (mine["class"],),
        ).fetchone() or (None, None)
    assert at_risk == 4
    assert "falling: θ changed by -0.30 per attempt over the last 3 attempts" in html
    assert "low: latest θ -1.40 (95 % interval -2.18 to -0.62) is below -1.0" in html
    assert all(r in html for r in reasons if r)
    assert 'data-kpi="At risk"' in html and ">4<" in html
    assert "Plotly.newPlot" in html  # θ trend, mastery heatmap, score distribution
    assert 'data-ds-filter="class"' in html and 'data-ds-filter="since"' in html
    # asking for the other teacher's class by URL shows her own class, never the other one
    sneaky = client.get(CLASS_REPORT + f"?class={other['class']}", headers=teacher).text
    assert f"Report class {mine['tag']}" in sneaky
    assert not any(n in sneaky for n in names(other))


def test_admin_may_choose_any_class(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    other = school["other"]
    html = client.get(
        CLASS_REPORT + f"?class={other['class']}",
        headers=bearer(settings, str(uuid.uuid4()), "admin"),
    ).text
    assert all(n in html for n in names(other))


def test_item_bank_health_shows_her_own_bank(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    mine, other = school["mine"], school["other"]
    html = client.get(BANK, headers=bearer(settings, mine["teacher"], "teacher")).text
    assert all(mine[i][-8:] in html for i in ("i1", "i2", "i3"))
    assert not any(other[i][-8:] in html for i in ("i1", "i2", "i3"))
    assert "1.25 ± 0.10" in html  # live a of i1 with its SE
    assert "misfit" in html and "66.7 % / 50.0 % over" in html  # S-X² and exposure flags
    assert "3 / 200 (2 %)" in html  # the pilot's progress toward calibration
    assert "Item characteristic curves" in html and "Item information" in html
    unit1 = client.get(
        BANK + f"?exam={mine['e1']}", headers=bearer(settings, mine["teacher"], "teacher")
    ).text
    # Unit 1 has two calibrated items (the pilot i3 has none); its distractor table: i1's key
    assert "Test information of Unit 1 (2 calibrated items)" in unit1
    assert "A (key)" in unit1


def test_student_sees_only_herself(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    mine = school["mine"]
    a, b = names(mine)[:2]
    student = bearer(settings, mine["a"], "student")
    html = client.get(STUDENT + f"?student={mine['b']}", headers=student).text
    assert a in html and b not in html
    assert 'data-kpi="Latest θ"' in html and "-0.10" in html  # her latest θ
    assert "-0.59 to 0.39" in html  # its 95 % interval
    # her weakest skills (algebra 3/4, geometry 1/1: neither mastered) and the lesson for both
    assert "Lessons for the weakest skills (algebra, geometry)" in html
    assert "Equations" in html and "names the skill" in html and "cited by the tutor 1×" in html
    assert client.get(CLASS_REPORT, headers=student).status_code == 403
    assert client.get(BANK, headers=student).status_code == 403


def test_teacher_opens_her_students_report_only(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    mine, other = school["mine"], school["other"]
    teacher = bearer(settings, mine["teacher"], "teacher")
    html = client.get(STUDENT + f"?student={mine['b']}", headers=teacher).text
    assert f"b-{mine['tag']}" in html and "-1.40" in html
    sneaky = client.get(STUDENT + f"?student={other['b']}", headers=teacher).text
    assert f"b-{other['tag']}" not in sneaky


def _receive_values(ws: Any, wanted: set[str], limit: int = 50) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for _ in range(limit):
        message = json.loads(ws.receive_text())
        values.update(message.get("values") or {})
        assert not (message.get("errors") or {}), message["errors"]
        if wanted <= values.keys():
            return values
    raise AssertionError(f"no values for {wanted - values.keys()} after {limit} messages")


def test_class_report_session_rerenders_on_filters(
    client: TestClient, settings: Settings, school: dict[str, dict[str, str]]
) -> None:
    mine, other = school["mine"], school["other"]
    headers = bearer(settings, mine["teacher"], "teacher")
    with client.websocket_connect(CLASS_REPORT + "websocket/", headers=headers) as ws:
        assert "config" in json.loads(ws.receive_text())
        init = {
            "class": other["class"],  # not hers: the session falls back to her own class
            "exam": mine["e1"],
            "since": None,
            "until": None,
            ".clientdata_output_report_hidden": False,
        }
        ws.send_text(json.dumps({"method": "init", "data": init}))
        report = json.dumps(_receive_values(ws, {"report"})["report"])
    assert all(n in report for n in names(mine))
    assert not any(n in report for n in names(other))
