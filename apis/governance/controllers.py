"""HTTP routes of the governance service: /api/v1/governance (administrators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from apis.governance import services
from apis.governance.schemas import DecisionPage
from apis.state import AppState
from core.errors import InvalidInput


class GovernanceController(Controller):
    path = "/api/v1/governance"
    tags = ["governance"]

    @get("/decisions", opt={"action": "governance.decisions.read"})
    async def decisions(
        self,
        app_state: AppState,
        subject_id: Annotated[str | None, Parameter(max_length=200)] = None,
        action: Annotated[str | None, Parameter(max_length=200)] = None,
        allowed: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> DecisionPage:
        """Policy decisions (API, SQL door, dashboards), newest first; filter by subject, action,
        outcome and time (`since` inclusive, `until` exclusive, RFC 3339); page with
        `next_cursor`."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"`{name}` needs a time zone (e.g. 2024-05-01T00:00:00Z)")
        return await services.list_decisions(
            app_state,
            services.DecisionQuery(subject_id, action, allowed, since, until, limit, cursor),
        )
