"""The lake resource: a handle on `core.settings.Settings` and the `lake` library."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg

from core.settings import Settings
from lake.audit import OutboxAudit, SilverAudit, audit_outbox_events, audit_silver
from lake.decisions import pending_decisions, ship_decisions
from lake.dims import DimResult, snapshot_dimensions
from lake.ingest import current_horizon, ingest_outbox, pending_events
from lake.quality import QualityResult, validate_table
from lake.shipper import Shipment
from lake.silver import SilverResult, derive_silver, pending_silver, rebuild_silver
from lake.warehouse import copy_lag

OLDEST_PENDING_SQL = """
select extract(epoch from now() - min(occurred_at))
  from events.outbox
 where txid >= %(previous)s::xid8 and txid < pg_snapshot_xmin(pg_current_snapshot())
"""


@dataclass(frozen=True)
class LakeResource:
    """Passed to assets, checks and sensors as the `lake` resource (a plain object)."""

    settings: Settings

    def ingest(self) -> Shipment:
        return ingest_outbox(self.settings)

    def horizon(self) -> int:
        return current_horizon(self.settings)

    def pending(self, horizon: int | None = None) -> int:
        return pending_events(self.settings, horizon)

    def audit(self) -> OutboxAudit:
        return audit_outbox_events(self.settings)

    def derive_silver(self) -> SilverResult:
        return derive_silver(self.settings)

    def rebuild_silver(self, tables: list[str]) -> SilverResult:
        return rebuild_silver(self.settings, tables)

    def pending_silver(self) -> int:
        return pending_silver(self.settings)

    def audit_silver(self) -> SilverAudit:
        return audit_silver(self.settings)

    def ship_decisions(self) -> Shipment:
        return ship_decisions(self.settings)

    def pending_decisions(self) -> int:
        return pending_decisions(self.settings)

    def snapshot_dimensions(self, day: date | None = None) -> DimResult:
        return snapshot_dimensions(self.settings, day)

    def quality(self, table: str) -> QualityResult:
        return validate_table(self.settings, table)

    def oldest_pending_seconds(self) -> float:
        """Age of the oldest final outbox row not yet in the lake (0 when none is waiting)."""
        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            row = conn.execute(OLDEST_PENDING_SQL, {"previous": str(self.horizon())}).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def copy_lag(self) -> dict[str, int]:
        """Lake tables whose PostgreSQL copy is behind: table -> the lake's snapshot id."""
        return copy_lag(self.settings)

    def now(self) -> datetime:
        return datetime.now(UTC)
