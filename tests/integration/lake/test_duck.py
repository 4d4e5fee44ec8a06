"""DuckDB over the Iceberg tables: offline extensions, S3 secret, views, the masking seam."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.settings import Settings
from lake.duck import connect, create_views, open_session, run_sql
from lake.ingest import ingest_outbox

if TYPE_CHECKING:
    from tests.integration.lake.conftest import OutboxKit

pytestmark = pytest.mark.integration


def test_views_see_ingested_events_and_typed_attempts(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    event = kit.completed_event()
    (event_id,) = kit.write_events(settings, [event])
    ingest_outbox(settings)
    columns, rows = run_sql(
        settings, f"select event_type, occurred_at from outbox_events where event_id = '{event_id}'"
    )
    assert columns == ["event_type", "occurred_at"]
    assert rows[0][0] == "exams.attempt.completed.v1"
    _, rows = run_sql(
        settings,
        "select raw_score, max_score, student_id, completed_at from attempts_completed"
        f" where attempt_id = '{event.attempt_id}'",
    )
    assert rows == [(7, 10, event.student_id, event.completed_at)]


def test_column_expressions_replace_columns_in_base_and_derived_views(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    kit.write_events(settings, [kit.completed_event()])
    ingest_outbox(settings)
    con = connect(
        settings,
        column_expressions={
            "outbox_events": {"aggregate_id": "'***'"},
            "attempts_completed": {"student_id": "md5(student_id)"},
        },
    )
    try:
        masked = con.execute("select distinct aggregate_id from outbox_events").fetchall()
        assert masked == [("***",)]
        digests = con.execute("select student_id from attempts_completed limit 1").fetchone()
        assert digests is not None and len(digests[0]) == 32
    finally:
        con.close()


def test_empty_namespace_still_has_the_bronze_view(settings: Settings) -> None:
    empty = settings.with_overrides(lake_namespace=settings.lake_namespace + "_empty")
    con = open_session(empty)
    try:
        names = [v.name for v in create_views(con, empty)]
        assert "outbox_events" in names and "attempts_completed" in names
        assert con.execute("select count(*) from attempts_completed").fetchone() == (0,)
    finally:
        con.close()


def test_local_directory_lake_without_s3(
    settings: Settings, kit: type[OutboxKit], tmp_path: Path
) -> None:
    local = settings.with_overrides(
        s3_endpoint="", lake_local_dir=tmp_path / "lake", lake_namespace="local_only"
    )
    (event_id,) = kit.write_events(settings, [kit.completed_event()])
    result = ingest_outbox(local)
    assert result.committed
    assert list((tmp_path / "lake" / "warehouse" / "local_only" / "outbox_events").iterdir())
    _, rows = run_sql(local, f"select count(*) from outbox_events where event_id = '{event_id}'")
    assert rows == [(1,)]
