"""Pure parts of the ingest: horizon lookup across snapshots, Arrow chunking, schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Operation, Summary

from lake.ingest import HORIZON_PROPERTY, _record_batches, read_horizon
from lake.shipper import Shipment
from lake.tables import NO_COMMIT_RETRIES, OUTBOX_EVENTS_DEF


@dataclass
class FakeSnapshot:
    snapshot_id: int
    parent_snapshot_id: int | None
    summary: Summary | None


@dataclass
class FakeMetadata:
    snapshots: dict[int, FakeSnapshot] = field(default_factory=dict)

    def snapshot_by_id(self, snapshot_id: int) -> FakeSnapshot | None:
        return self.snapshots.get(snapshot_id)


@dataclass
class FakeTable:
    metadata: FakeMetadata
    current: int | None

    def current_snapshot(self) -> FakeSnapshot | None:
        return None if self.current is None else self.metadata.snapshots[self.current]


def chain(*summaries: dict[str, str] | None) -> Table:
    snaps: dict[int, FakeSnapshot] = {}
    parent = None
    for i, props in enumerate(summaries, start=1):
        summary = None if props is None else Summary(Operation.APPEND, **props)
        snaps[i] = FakeSnapshot(i, parent, summary)
        parent = i
    return cast(Table, FakeTable(FakeMetadata(snaps), parent))


def test_no_snapshot_means_horizon_zero() -> None:
    assert read_horizon(chain()) == 0


def test_horizon_comes_from_the_latest_snapshot_carrying_it() -> None:
    table = chain({HORIZON_PROPERTY: "100"}, {HORIZON_PROPERTY: "250"}, {}, None)
    assert read_horizon(table) == 250


def test_snapshots_without_any_horizon_mean_zero() -> None:
    assert read_horizon(chain({}, {"other": "x"})) == 0


class FakeCursor:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        out, self.rows = self.rows[:size], self.rows[size:]
        return out


def test_rows_become_arrow_chunks_with_the_table_schema() -> None:
    occurred = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    us = int(occurred.timestamp() * 1_000_000)
    rows = [(i, f"id-{i}", "a.b.c.v1", "agg", us, '{"x": 1}') for i in range(5)]
    schema = OUTBOX_EVENTS_DEF.arrow_schema()
    ingested = datetime(2026, 5, 5, tzinfo=UTC)
    chunks = list(_record_batches(cast(Any, FakeCursor(rows)), schema, 2, ingested))
    assert [c.num_rows for c in chunks] == [2, 2, 1]
    table = pa.concat_tables(chunks)
    assert table.schema.equals(schema)
    assert table.column("occurred_at").to_pylist()[0] == occurred
    assert set(table.column("ingested_at").to_pylist()) == {ingested}
    assert table.column("event_seq").to_pylist() == [0, 1, 2, 3, 4]


def test_table_definition_is_partitioned_by_day_and_refuses_rebased_commits() -> None:
    (part,) = OUTBOX_EVENTS_DEF.partition_spec.fields
    assert str(part.transform) == "day" and part.source_id == 5
    assert OUTBOX_EVENTS_DEF.properties["commit.retry.num-retries"] == "0"
    assert NO_COMMIT_RETRIES.items() <= OUTBOX_EVENTS_DEF.properties.items()
    names = [f.name for f in OUTBOX_EVENTS_DEF.schema.fields]
    assert names == [
        "event_seq",
        "event_id",
        "event_type",
        "aggregate_id",
        "occurred_at",
        "payload",
        "ingested_at",
    ]


def test_rate_of_an_empty_result_is_zero() -> None:
    result = Shipment(0, 5, 5, False, None, 0, 0.0)
    assert result.rows_per_second == 0.0
