"""Silver -> PostgreSQL copies (`lake_silver.<table>`) for dbt: incremental by Iceberg snapshot,
exactly once, one transaction per table with its bookkeeping row, full reload after a rewrite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from core.events import Event, ResponseRecordedV1
from core.ids import new_id
from core.settings import Settings
from lake import warehouse
from lake.catalog import load_catalog
from lake.dims import DIM_TABLES, snapshot_dimensions
from lake.ingest import ingest_outbox
from lake.pseudonym import pseudonymize
from lake.silver import SILVER_TABLES, derive_silver, rebuild_silver
from lake.tables import identifier
from lake.warehouse import COPY_TABLES, copy_states, copy_table, copy_tables

if TYPE_CHECKING:
    from tests.integration.lake.conftest import OutboxKit

pytestmark = pytest.mark.integration


def responses(attempt: str, student: str, count: int, start: int = 0) -> list[Event]:
    at = datetime.now(UTC)
    return [
        ResponseRecordedV1(
            attempt_id=attempt,
            exam_id=str(new_id()),
            student_id=student,
            item_id=str(new_id()),
            choice=k % 2,
            is_correct=k % 2 == 0,
            answered_at=at,
            position=k,
            item_version=1,
            score=int(k % 2 == 0),
            pilot=k == 3,
        )
        for k in range(start, start + count)
    ]


def to_silver(settings: Settings) -> None:
    ingest_outbox(settings)
    derive_silver(settings)


def copied(settings: Settings, table: str, where: str = "true", *args: Any) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(f"select count(*) from lake_silver.{table} where {where}", args)
        found = row.fetchone()
        return int(found[0]) if found else 0


def lake_rows(settings: Settings, table: str) -> int:
    t = load_catalog(settings).load_table(identifier(settings, table))
    return int(t.scan(selected_fields=("event_id",)).to_arrow().num_rows)


def current_snapshot(settings: Settings, table: str) -> int:
    snapshot = load_catalog(settings).load_table(identifier(settings, table)).current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def test_every_lake_table_has_a_copy_with_lake_columns(settings: Settings) -> None:
    assert set(COPY_TABLES) == set(SILVER_TABLES) | set(DIM_TABLES)
    with psycopg.connect(settings.database_url) as conn:
        tables = {
            str(r[0])
            for r in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'lake_silver'"
            ).fetchall()
        }
    assert set(COPY_TABLES) <= tables
    for table in COPY_TABLES:
        assert warehouse.conflict_key(table)


def test_copy_is_incremental_by_snapshot_and_exactly_once(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    attempt, student = str(new_id()), str(new_id())
    key = pseudonymize(settings.pseudonym_key, student)
    kit.write_events(settings, responses(attempt, student, 4))
    to_silver(settings)

    first = copy_table(settings, "responses")
    assert first.mode in ("full", "incremental")
    assert first.snapshot_id == current_snapshot(settings, "responses")
    assert copied(settings, "responses", "attempt_id = %s", attempt) == 4
    # person ids arrive pseudonymised; the new optional response fields are copied
    assert copied(settings, "responses", "student_key = %s and attempt_id = %s", key, attempt) == 4
    assert copied(settings, "responses", "attempt_id = %s and pilot and position = 3", attempt) == 1
    assert copied(settings, "responses") == lake_rows(settings, "responses")

    again = copy_table(settings, "responses")
    assert (again.mode, again.rows_read, again.rows_added) == ("unchanged", 0, 0)

    kit.write_events(settings, responses(attempt, student, 2, start=4))
    to_silver(settings)
    lake_before = lake_rows(settings, "responses")
    held = copied(settings, "responses")
    later = copy_table(settings, "responses")
    assert later.mode == "incremental"
    assert later.previous_snapshot_id == first.snapshot_id
    # only the files appended since the last copy were read: the new rows, nothing twice
    assert later.rows_read == later.rows_added == lake_before - held >= 2
    assert copied(settings, "responses", "attempt_id = %s", attempt) == 6
    assert copied(settings, "responses") == lake_before
    assert copy_states(settings)["responses"] == current_snapshot(settings, "responses")


def test_a_failed_copy_leaves_rows_and_bookkeeping_as_they_were(
    settings: Settings, kit: type[OutboxKit], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_table(settings, "responses")
    attempt, student = str(new_id()), str(new_id())
    kit.write_events(settings, responses(attempt, student, 3))
    to_silver(settings)
    before_rows = copied(settings, "responses")
    before_state = copy_states(settings)["responses"]
    loaded: list[int] = []

    def load_then_fail(conn: Any, name: str, columns: list[str], data: Any) -> int:
        loaded.append(original(conn, name, columns, data))
        raise RuntimeError("copy interrupted after loading a file")

    original = warehouse._load
    monkeypatch.setattr(warehouse, "_load", load_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        copy_table(settings, "responses")
    monkeypatch.undo()
    assert loaded and loaded[0] > 0
    assert copied(settings, "responses") == before_rows
    assert copy_states(settings)["responses"] == before_state

    resumed = copy_table(settings, "responses")
    assert resumed.mode == "incremental"
    assert copied(settings, "responses", "attempt_id = %s", attempt) == 3
    assert copied(settings, "responses") == lake_rows(settings, "responses")


def test_a_rebuilt_table_is_reloaded_in_full(settings: Settings, kit: type[OutboxKit]) -> None:
    attempt, student = str(new_id()), str(new_id())
    kit.write_events(settings, responses(attempt, student, 2))
    to_silver(settings)
    copy_table(settings, "responses")
    rebuild_silver(settings, ["responses"])
    reloaded = copy_table(settings, "responses")
    assert reloaded.mode == "full"
    assert reloaded.rows_read == lake_rows(settings, "responses")
    assert copied(settings, "responses") == lake_rows(settings, "responses")
    assert copied(settings, "responses", "attempt_id = %s", attempt) == 2


def test_dimension_snapshots_copy_once_per_day(settings: Settings) -> None:
    snapshot_dimensions(settings)
    results = copy_tables(settings, DIM_TABLES)
    assert {r.mode for r in results.values()} <= {"full", "incremental", "unchanged"}
    again = copy_tables(settings, DIM_TABLES)
    assert all(r.rows_added == 0 and r.mode == "unchanged" for r in again.values())
    for table in DIM_TABLES:
        t = load_catalog(settings).load_table(identifier(settings, table))
        lake_count = t.scan(selected_fields=("snapshot_date",)).to_arrow().num_rows
        assert copied(settings, table) == lake_count
