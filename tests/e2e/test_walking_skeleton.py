"""The walking skeleton end to end, over real connections:

register → class → items → exam → a student takes it over real HTTP → outbox → Dagster
materialization in process → the event is in Iceberg on S3 exactly once (ingest twice, and after a
simulated crash between writing files and committing) → the mart row exists → `dreamseed sql`
sees it → the dashboard answers 200 for the teacher and 403 for the student.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from apis.app import create_app as create_api
from cli.main import main as dreamseed
from core.settings import Settings
from dashboards.app import create_app as create_dashboards
from lake.ingest import ingest_outbox, pending_events
from orchestration.builder import build_definitions
from tests.support.accounts import operator_token
from tests.support.servers import serve_in_thread


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    """The API served by uvicorn on a real socket, in a background thread."""
    with serve_in_thread(create_api(settings)) as url:
        yield url


def _account(api: httpx.Client, role: str) -> tuple[str, dict[str, str], str, str]:
    email, password = f"{role}-{secrets.token_hex(4)}@e2e.test", "e2e-" + secrets.token_hex(8)
    reply = api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    assert reply.status_code == 201, reply.text
    token = api.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
    return (
        reply.json()["user_id"],
        {"Authorization": f"Bearer {token['access_token']}"},
        email,
        password,
    )


def _take_exam(api_url: str) -> dict[str, Any]:
    with httpx.Client(base_url=api_url, timeout=30) as api:
        teacher_id, teacher, *_ = _account(api, "teacher")
        student_id, student, *_ = _account(api, "student")
        assert api.get("/api/v1/users/me").status_code == 401
        klass = api.post("/api/v1/classes/", json={"name": "E2E"}, headers=teacher).json()
        api.post("/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=student)
        items = [
            api.post(
                "/api/v1/items/",
                json={"stem": f"Q{n}", "options": ["a", "b", "c"], "answer_key": n % 3},
                headers=teacher,
            ).json()["item_id"]
            for n in range(4)
        ]
        exam = api.post(
            "/api/v1/exams/",
            json={"title": "E2E exam", "item_ids": items, "class_id": klass["class_id"]},
            headers=teacher,
        ).json()
        attempt = api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student).json()
        for n, item_id in enumerate(items):
            reply = api.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                json={"item_id": item_id, "choice": n % 3 if n < 3 else 1},
                headers=student,
            )
            assert reply.status_code == 201, reply.text
        result = api.post(f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=student)
        assert result.status_code == 200 and result.json()["raw_score"] == 3
    return {
        "attempt_id": attempt["attempt_id"],
        "class_id": klass["class_id"],
        "teacher_id": teacher_id,
        "student_id": student_id,
        "teacher_headers": teacher,
        "student_headers": student,
    }


def _lake_count(settings: Settings, attempt_id: str, token: str) -> int:
    result = CliRunner().invoke(
        dreamseed,
        [
            "sql",
            "--format",
            "json",
            "--token",
            token,
            f"select count(*) as n from outbox_events where aggregate_id = '{attempt_id}'"
            " and event_type = 'exams.attempt.completed.v1'",
        ],
        env=_cli_env(settings),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return int(json.loads(result.output)[0]["n"])


def _cli_env(settings: Settings) -> dict[str, str]:
    return {
        "DREAMSEED_DATABASE_URL": settings.database_url,
        "DREAMSEED_LAKE_NAMESPACE": settings.lake_namespace,
    }


def test_the_slice_end_to_end(settings: Settings, api_url: str) -> None:
    facts = _take_exam(api_url)

    # A crash between writing the Parquet files and committing leaves no trace in the table.
    def crash() -> None:
        raise RuntimeError("simulated crash before the Iceberg commit")

    # (the exam's rows ship once no older transaction is open in the cluster: wait for that, or
    # an ingest with nothing to write would never reach the commit the crash stands in for)
    deadline = time.monotonic() + 180
    while pending_events(settings) == 0:
        assert time.monotonic() < deadline, "the exam's outbox rows never became final"
        time.sleep(0.2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_outbox(settings, before_commit=crash)

    defs = build_definitions(settings)
    job = defs.get_implicit_global_asset_job_def()
    first = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert first.success
    checks = {ev.check_name: ev.passed for ev in first.get_asset_check_evaluations()}
    assert (
        checks["outbox_events_have_unique_event_ids"] and checks["outbox_events_match_outbox_count"]
    )
    assert all(checks.values()), {name: ok for name, ok in checks.items() if not ok}
    # A second run finds nothing new and must not duplicate the event.
    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
    assert _lake_count(settings, facts["attempt_id"], operator_token(settings)[1]) == 1

    with psycopg.connect(settings.database_url) as conn:
        mart = conn.execute(
            "select raw_score, max_score, class_id::text from analytics.fct_exam_attempts"
            " where attempt_id = %s",
            (facts["attempt_id"],),
        ).fetchone()
        per_day = conn.execute(
            "select sum(attempt_count) from analytics.agg_attempts_per_day where class_id = %s",
            (facts["class_id"],),
        ).fetchone()
    assert mart == (3, 4, facts["class_id"])
    assert per_day is not None and per_day[0] == 1


def test_dashboard_answers_200_for_the_teacher_and_403_for_the_student(
    settings: Settings, api_url: str
) -> None:
    facts = _take_exam(api_url)
    job = build_definitions(settings).get_implicit_global_asset_job_def()
    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
    page = "/pages/attempts_per_day/"
    with TestClient(create_dashboards(settings)) as dash:
        assert dash.get(page).status_code == 401
        teacher = dash.get(page, headers=facts["teacher_headers"])
        assert teacher.status_code == 200
        assert facts["class_id"] in teacher.text or "Completed exam attempts" in teacher.text
        assert dash.get(page, headers=facts["student_headers"]).status_code == 403
