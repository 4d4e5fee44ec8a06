"""Consistency facts about the lake, for asset checks and operators."""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table

from core.settings import Settings
from lake.catalog import load_catalog
from lake.contracts import known_contracts
from lake.duck import open_session, scan_location
from lake.ingest import (
    HORIZON_PROPERTY,
    final_outbox_count,
    read_horizon,
)
from lake.shipper import read_watermark, snapshot_int_property
from lake.silver import (
    SILVER_HORIZON_PROPERTY,
    SILVER_REBUILD_PROPERTY,
    SILVER_REJECTED_PROPERTY,
    SILVER_TABLES,
    route,
)
from lake.tables import OUTBOX_EVENTS, identifier


@dataclass(frozen=True, slots=True)
class OutboxAudit:
    """`lake_rows == distinct_event_ids == outbox_rows_below_horizon` when ingest is exactly once
    (the last equality assumes outbox rows are never purged; a retention job must adjust it)."""

    horizon: int
    lake_rows: int
    distinct_event_ids: int
    outbox_rows_below_horizon: int

    @property
    def duplicates(self) -> int:
        return self.lake_rows - self.distinct_event_ids

    @property
    def missing(self) -> int:
        return self.outbox_rows_below_horizon - self.lake_rows


def audit_outbox_events(settings: Settings) -> OutboxAudit:
    """Count rows and distinct event ids of one snapshot, and the outbox rows below its horizon."""
    catalog = load_catalog(settings, create_namespace=False)
    try:
        table = catalog.load_table(identifier(settings, OUTBOX_EVENTS))
    except (NoSuchTableError, NoSuchNamespaceError):
        return OutboxAudit(0, 0, 0, 0)
    horizon = read_horizon(table)
    lake_rows = distinct = 0
    if table.current_snapshot() is not None:
        con = open_session(settings)
        try:
            row = con.execute(
                "select count(*), count(distinct event_id) from iceberg_scan(?)",
                [scan_location(table.metadata_location)],
            ).fetchone()
        finally:
            con.close()
        if row is not None:
            lake_rows, distinct = int(row[0]), int(row[1])
    return OutboxAudit(
        horizon=horizon,
        lake_rows=lake_rows,
        distinct_event_ids=distinct,
        outbox_rows_below_horizon=final_outbox_count(settings, horizon) if horizon else 0,
    )


@dataclass(frozen=True, slots=True)
class SilverTableAudit:
    """One silver table against bronze as of the bronze snapshot its watermark names.

    Exactly once when `rows == distinct_event_ids == expected` (expected = bronze rows of the
    routed, decodable types up to the watermark, minus rows rejected as malformed)."""

    table: str
    watermark: int
    rows: int
    distinct_event_ids: int
    expected: int
    rejected: int
    rows_by_type: dict[str, int]
    expected_by_type: dict[str, int]

    @property
    def duplicates(self) -> int:
        return self.rows - self.distinct_event_ids

    @property
    def missing(self) -> int:
        return self.expected - self.rows

    @property
    def exact(self) -> bool:
        return self.duplicates == 0 and self.missing == 0


@dataclass(frozen=True, slots=True)
class SilverAudit:
    tables: dict[str, SilverTableAudit]
    unknown_by_type: dict[str, int]  # bronze rows no silver table takes (kept in bronze)

    @property
    def exact(self) -> bool:
        return all(t.exact for t in self.tables.values())


def _bronze_snapshot_at(bronze: Table, horizon: int) -> int | None:
    """The bronze ingest snapshot that committed `horizon` (an ancestor of the current one)."""
    snapshot = bronze.current_snapshot()
    while snapshot is not None:
        if snapshot_int_property(snapshot, HORIZON_PROPERTY) == horizon:
            return snapshot.snapshot_id
        if snapshot.parent_snapshot_id is None:
            return None
        snapshot = bronze.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return None


def _rejected_total(table: Table) -> int:
    """Sum of rejected counts over the table's snapshot ancestry, back to its last rebuild."""
    total = 0
    snapshot = table.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary
        if summary is not None:
            props = summary.additional_properties
            total += int(props.get(SILVER_REJECTED_PROPERTY, 0))
            if props.get(SILVER_REBUILD_PROPERTY) == "true":
                break
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return total


def audit_silver(settings: Settings, tables: tuple[str, ...] = SILVER_TABLES) -> SilverAudit:
    """Count every silver table per event type and compare with bronze at its watermark."""
    catalog = load_catalog(settings, create_namespace=False)
    try:
        bronze: Table | None = catalog.load_table(identifier(settings, OUTBOX_EVENTS))
    except (NoSuchTableError, NoSuchNamespaceError):
        bronze = None
    contracts = known_contracts()
    con = open_session(settings)
    results: dict[str, SilverTableAudit] = {}
    unknown: dict[str, int] = {}
    try:

        def bronze_counts(snapshot_id: int | None) -> dict[str, int]:
            if bronze is None or snapshot_id is None:
                return {}
            rows = con.execute(
                "select event_type, count(*) from iceberg_scan(?, snapshot_from_id = ?)"
                " group by event_type",
                [scan_location(bronze.metadata_location), snapshot_id],
            ).fetchall()
            return {str(t): int(n) for t, n in rows}

        if bronze is not None and bronze.current_snapshot() is not None:
            current = bronze.current_snapshot()
            assert current is not None
            for event_type, n in bronze_counts(current.snapshot_id).items():
                if route(event_type) is None or event_type not in contracts:
                    unknown[event_type] = n
        for name in tables:
            try:
                table = catalog.load_table(identifier(settings, name))
            except (NoSuchTableError, NoSuchNamespaceError):
                continue
            mark = read_watermark(table, SILVER_HORIZON_PROPERTY)
            rows_by_type: dict[str, int] = {}
            rows = distinct = 0
            if table.current_snapshot() is not None:
                location = scan_location(table.metadata_location)
                for t, n in con.execute(
                    "select event_type, count(*) from iceberg_scan(?) group by event_type",
                    [location],
                ).fetchall():
                    rows_by_type[str(t)] = int(n)
                got = con.execute(
                    "select count(*), count(distinct event_id) from iceberg_scan(?)", [location]
                ).fetchone()
                if got is not None:
                    rows, distinct = int(got[0]), int(got[1])
            # A type counts when it is decodable now or was when derived (contracts only grow;
            # tests unregister theirs).
            expected_by_type = {
                t: n
                for t, n in bronze_counts(
                    _bronze_snapshot_at(bronze, mark) if bronze is not None and mark else None
                ).items()
                if route(t) == name and (t in contracts or t in rows_by_type)
            }
            rejected = _rejected_total(table)
            results[name] = SilverTableAudit(
                table=name,
                watermark=mark,
                rows=rows,
                distinct_event_ids=distinct,
                expected=sum(expected_by_type.values()) - rejected,
                rejected=rejected,
                rows_by_type=rows_by_type,
                expected_by_type=expected_by_type,
            )
    finally:
        con.close()
    return SilverAudit(tables=results, unknown_by_type=unknown)
