"""Response bodies of the governance service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class DecisionRecord(msgspec.Struct):
    decision_id: str
    decided_at: datetime
    decision: str  # the rule path, e.g. data.dreamseed.api.authz.decision
    subject_id: str | None
    subject_role: str | None
    action: str
    resource: dict[str, Any] | None
    allowed: bool
    reason: str | None
    policy_revision: str
    latency_us: int
    request_id: str | None


class DecisionPage(msgspec.Struct):
    decisions: list[DecisionRecord]
    # Pass as `cursor` to read the next (older) page; null on the last page.
    next_cursor: str | None = None
