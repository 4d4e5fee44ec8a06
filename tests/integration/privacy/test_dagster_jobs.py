"""The privacy jobs in Dagster: the sensor sees an open request, the privacy_requests job runs it
(an export here: the archive lands and the request is done), the retention job reports what it
removed, and the schedule and sensor are defined."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from core.settings import Settings
from orchestration.builder import build_definitions
from orchestration.privacy.jobs import PrivacyResource
from orchestration.privacy.sensors import privacy_requests_sensor
from privacy import requests
from privacy.objects import Objects
from tests.support.database import scratch_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the job handles every pending privacy request in the database, other tests' included."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


def test_sensor_job_and_schedule(settings: Settings) -> None:
    user_id = str(uuid.uuid4())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Dagster Export', 'student', '!')",
            (user_id, f"{user_id}@dagster.test"),
        )
        request_id = requests.create(conn, "export", user_id, "operator")

    instance = dg.DagsterInstance.ephemeral()
    resources = {"privacy": PrivacyResource(settings)}
    context = dg.build_sensor_context(instance=instance, resources=resources)
    assert isinstance(privacy_requests_sensor(context), dg.SensorResult)

    defs = build_definitions(settings)
    result = defs.resolve_job_def("privacy_requests").execute_in_process(instance=instance)
    assert result.success
    with psycopg.connect(settings.database_url) as conn:
        done = requests.load(conn, request_id)
    assert done is not None and done.status == "done" and done.archive_key
    assert done.archive_key in Objects(settings).keys(done.archive_key)
    assert done.summary["records"]["postgres"]["users.accounts"] == 1

    retention = defs.resolve_job_def("privacy_retention").execute_in_process(instance=instance)
    assert retention.success

    repo = defs.get_repository_def()
    assert "privacy_requests_sensor" in {s.name for s in repo.sensor_defs}
    assert "privacy_retention_daily" in {s.name for s in repo.schedule_defs}
