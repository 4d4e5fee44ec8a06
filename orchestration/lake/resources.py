"""The lake resource: a handle on `core.settings.Settings` and the `lake` library."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from lake.audit import OutboxAudit, audit_outbox_events
from lake.ingest import IngestResult, current_horizon, ingest_outbox, pending_events


@dataclass(frozen=True)
class LakeResource:
    """Passed to assets, checks and sensors as the `lake` resource (a plain object)."""

    settings: Settings

    def ingest(self) -> IngestResult:
        return ingest_outbox(self.settings)

    def horizon(self) -> int:
        return current_horizon(self.settings)

    def pending(self, horizon: int | None = None) -> int:
        return pending_events(self.settings, horizon)

    def audit(self) -> OutboxAudit:
        return audit_outbox_events(self.settings)
