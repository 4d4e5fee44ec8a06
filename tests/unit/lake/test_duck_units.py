"""DuckDB session pieces that need no services: extension binaries, projections."""

from __future__ import annotations

import duckdb

from lake.duck import DERIVED_VIEWS, _projection, extension_path


def test_extension_binaries_ship_with_the_wheels() -> None:
    for name in ("httpfs", "avro", "iceberg"):
        path = extension_path(name)
        assert path.name == f"{name}.duckdb_extension" and path.is_file()


def test_projection_replaces_only_named_columns() -> None:
    sql = _projection(["a", "b", 'we"ird'], {"b": "md5(b)"})
    assert sql == '"a", md5(b) as "b", "we""ird"'


def test_attempts_completed_view_extracts_typed_fields() -> None:
    con = duckdb.connect()
    con.execute(
        "create view outbox_events as select 1::bigint as event_seq, 'e1' as event_id,"
        " 'exams.attempt.completed.v1' as event_type, now() as occurred_at,"
        """ '{"attempt_id":"a1","exam_id":"x","student_id":"s","class_id":null,"raw_score":3,"""
        """"max_score":4,"started_at":"2026-01-01T10:00:00Z","completed_at":"2026-01-01T10:30:00Z"}'"""
        " as payload"
    )
    sql, _ = DERIVED_VIEWS["attempts_completed"]
    row = con.execute(f"select attempt_id, class_id, raw_score, max_score from ({sql})").fetchone()
    assert row == ("a1", None, 3, 4)
