"""Erasure end to end: a student with data in every store (API, S3, lake across several
snapshots, Redis) is exported, then erased; afterwards no PostgreSQL row, Redis key or stream
entry, S3 object or readable Iceberg snapshot holds her id, e-mail, name or pseudonymous key,
while her responses still count for calibration under a key nothing maps back to her. A second
erasure changes nothing; an erasure SIGKILLed mid-way resumes and ends the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from core.media import MediaStore
from core.settings import Settings
from lake.catalog import load_catalog
from lake.pseudonym import pseudonymize
from lake.tables import identifier
from privacy import requests
from privacy.erasure import run_erasure
from privacy.export import run_export
from tests.integration.privacy.story import Student, make_student
from tests.integration.privacy.traces import (
    lake_traces,
    postgres_traces,
    redis_traces,
    s3_traces,
)

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("erase_worker.py")


def _request(settings: Settings, kind: str, user_id: str) -> str:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return requests.create(conn, kind, user_id, "operator")


def _needles(settings: Settings, student: Student) -> list[str]:
    return [
        student.user_id,
        student.email,
        student.display_name,
        pseudonymize(settings.pseudonym_key, student.user_id),
    ]


def _lake_responses(settings: Settings, attempt_id: str) -> list[str]:
    table = load_catalog(settings).load_table(identifier(settings, "responses"))
    rows = table.scan(row_filter=f"attempt_id = '{attempt_id}'").to_arrow()
    return [str(k) for k in rows.column("student_key").to_pylist()]


def _assert_gone(settings: Settings, student: Student, archive_key: str) -> None:
    needles = _needles(settings, student)
    media_key = MediaStore(settings).key(student.media_id)
    assert postgres_traces(settings, needles) == {}
    assert redis_traces(settings, needles) == []
    assert s3_traces(settings, needles, [media_key, archive_key]) == []
    assert lake_traces(settings, needles) == {}
    # Calibration still counts her two responses, under a key nothing maps back to her.
    keys = _lake_responses(settings, student.attempt_id)
    assert len(keys) == 2 and len(set(keys)) == 1 and keys[0] not in needles
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select count(*), min(a.student_id::text) from exams.responses r"
            " join exams.attempts a using (attempt_id) where attempt_id = %s",
            (student.attempt_id,),
        ).fetchone()
        assert row is not None and row[0] == 2
        severed = row[1]
        account = conn.execute(
            "select email, display_name, password_hash from users.accounts where user_id = %s",
            (severed,),
        ).fetchone()
        leftovers = conn.execute(
            "select count(*) from privacy.requests where user_id is not null"
            " and (user_id = %s or tombstone_id = %s)",
            (student.user_id, severed),
        ).fetchone()
    assert keys[0] == pseudonymize(settings.pseudonym_key, severed)  # lake and PG agree
    assert account is not None and account[1] == "erased" and account[2] == "!"
    assert leftovers == (0,)  # no request row ties the tombstone to her


def test_export_then_erase_leaves_no_trace(settings: Settings, student: Student) -> None:
    export_id = _request(settings, "export", student.user_id)
    archive_key = run_export(settings, export_id).archive_key
    assert redis_traces(settings, [student.user_id]), "the story should leave Redis traces"
    assert lake_traces(settings, [student.user_id]), "the story should reach the lake"

    request_id = _request(settings, "erasure", student.user_id)
    report = run_erasure(settings, request_id)
    assert report["postgres"]["users.accounts"] == 1
    assert report["media"]["objects_removed"] == 1
    assert report["exports"]["archives_removed"] == 1
    assert {"responses", "attempts", "outbox_events"} <= set(report["lake"])
    for detail in report["lake"].values():
        assert detail["bytes_rewritten"] <= detail["table_bytes"]
    _assert_gone(settings, student, archive_key)

    # A second erasure of the same person finds nothing and changes nothing.
    again = run_erasure(settings, _request(settings, "erasure", student.user_id))
    assert again["postgres"] == {} and again["lake"] == {} and again["redis"] == {"removed": 0}
    assert again["media"] == {"objects_removed": 0}
    with psycopg.connect(settings.database_url) as conn:
        done = requests.load(conn, request_id)
    assert done is not None and done.status == "done" and done.user_id is None


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSEED_")}
    env.update(
        {
            "DREAMSEED_STATE_DIR": str(settings.state_dir),
            "DREAMSEED_DATABASE_URL": settings.database_url,
            "DREAMSEED_LAKE_NAMESPACE": settings.lake_namespace,
            "DREAMSEED_LAKE_BUCKET": settings.lake_bucket,
            "DREAMSEED_S3_ENDPOINT": settings.s3_endpoint,
            "DREAMSEED_S3_ACCESS_KEY": settings.s3_access_key,
            "DREAMSEED_S3_SECRET_KEY": settings.s3_secret_key,
            "DREAMSEED_S3_REGION": settings.s3_region,
            "DREAMSEED_PSEUDONYM_KEY": settings.pseudonym_key,
            "DREAMSEED_REDIS_URL": settings.redis_url,
            "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        }
    )
    return env


@pytest.mark.parametrize("kill_after", ["postgres", "lake:responses:rewritten"])
def test_erasure_killed_mid_way_resumes(
    settings: Settings, api: httpx.Client, kill_after: str
) -> None:
    student = make_student(api, settings, f"Minji Crash {kill_after[:4]}")
    request_id = _request(settings, "erasure", student.user_id)
    died = subprocess.run(
        [sys.executable, str(WORKER), request_id, kill_after],
        env=_worker_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert died.returncode == -9, died.stderr[-3000:]
    with psycopg.connect(settings.database_url) as conn:
        crashed = requests.load(conn, request_id)
        steps = requests.steps_done(conn, request_id)
    assert crashed is not None and crashed.status == "running"
    assert "postgres" in steps and "finish" not in steps

    run_erasure(settings, request_id)  # resumes after the last finished step
    _assert_gone(settings, student, archive_key="")
