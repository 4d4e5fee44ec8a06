"""Consistency facts about the lake, for asset checks and operators."""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

from core.settings import Settings
from lake.catalog import load_catalog
from lake.duck import open_session, scan_location
from lake.ingest import final_outbox_count, read_horizon
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
