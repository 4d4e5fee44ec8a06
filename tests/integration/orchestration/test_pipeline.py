"""The Dagster app in process: outbox -> Iceberg -> checks, and the dbt marts on the scratch DB."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from cli.sql import sql
from core.events import AttemptCompletedV1
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from orchestration.builder import build_definitions
from orchestration.lake.resources import LakeResource
from orchestration.lake.sensors import outbox_events_sensor
from tests.support.accounts import operator_token
from tests.support.database import scratch_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the whole job runs every asset check, the live-analytics check over every class included."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


def seed_completed_attempt(settings: Settings) -> tuple[str, str]:
    """A teacher, a student, a class, an exam and one completed attempt, with its outbox event,
    all in one transaction (the way the exams service writes). Returns (attempt_id, event_id)."""
    teacher, student, klass, exam, attempt = (str(new_id()) for _ in range(5))
    completed = datetime.now(UTC).replace(microsecond=0)
    started = completed - timedelta(minutes=25)
    with psycopg.connect(settings.database_url) as conn:
        for user_id, role in ((teacher, "teacher"), (student, "student")):
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, 'x')",
                (user_id, f"{user_id}@example.org", role.title(), role),
            )
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Algebra 1', %s, %s)",
            (klass, teacher, klass[-8:]),  # the random tail: UUIDv7 heads are timestamps
        )
        conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            (klass, student),
        )
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Unit 1', array[gen_random_uuid()])",
            (exam, teacher, klass),
        )
        conn.execute(
            "insert into exams.attempts (attempt_id, exam_id, student_id, status, started_at,"
            " completed_at, raw_score, max_score) values (%s, %s, %s, 'completed', %s, %s, 8, 10)",
            (attempt, exam, student, started, completed),
        )
        append_sync(
            conn,
            AttemptCompletedV1(
                attempt_id=attempt,
                exam_id=exam,
                student_id=student,
                class_id=klass,
                raw_score=8,
                max_score=10,
                started_at=started,
                completed_at=completed,
            ),
        )
        row = conn.execute(
            "select event_id::text from events.outbox where txid = pg_current_xact_id()"
        ).fetchone()
    assert row is not None
    # Wait until the writing transaction is below the cluster's snapshot xmin (other sessions on
    # the same server can hold it back briefly), so the ingest is certain to include it.
    deadline = time.monotonic() + 60
    while LakeResource(settings).pending() < 1:
        assert time.monotonic() < deadline, "outbox row never became final"
        time.sleep(0.05)
    return attempt, row[0]


def test_materialize_everything_in_process(settings: Settings) -> None:
    attempt_id, event_id = seed_completed_attempt(settings)
    defs = build_definitions(settings)

    sensor_result = outbox_events_sensor(
        dg.build_sensor_context(resources={"lake": LakeResource(settings)})
    )
    assert isinstance(sensor_result, dg.SensorResult) and sensor_result.run_requests

    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success

    materialized = {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key
    }
    assert {"outbox_events", "fct_exam_attempts", "agg_attempts_per_day"} <= materialized
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert checks["outbox_events_have_unique_event_ids"] is True
    assert checks["outbox_events_match_outbox_count"] is True
    assert checks["unique_fct_exam_attempts_attempt_id"] is True
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}

    with psycopg.connect(settings.database_url) as conn:
        fact = conn.execute(
            "select raw_score, max_score, score_pct::float, completed_on = completed_at::date"
            " from analytics.fct_exam_attempts where attempt_id = %s",
            (attempt_id,),
        ).fetchone()
        per_day = conn.execute(
            "select sum(attempt_count) from analytics.agg_attempts_per_day"
        ).fetchone()
    assert fact == (8, 10, 0.8, True)
    assert per_day is not None and per_day[0] >= 1

    # The sensor now has nothing to ask for.
    again = outbox_events_sensor(
        dg.build_sensor_context(resources={"lake": LakeResource(settings)})
    )
    assert isinstance(again, dg.SkipReason)
    audit = LakeResource(settings).audit()
    assert audit.lake_rows >= 1 and audit.missing == 0 and audit.duplicates == 0

    # The analyst's SQL door sees the ingested event.
    out = CliRunner().invoke(
        sql,
        [
            "--format",
            "json",
            "--token",
            operator_token(settings)[1],
            f"select event_type from outbox_events where event_id = '{event_id}'",
        ],
        obj=settings,
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"event_type": "exams.attempt.completed.v1"}]
