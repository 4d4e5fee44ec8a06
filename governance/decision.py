"""Value types of the governance API: subjects, resources, decisions and row filters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

__all__ = [
    "ANALYTICS_ACCESS",
    "AUTHZ",
    "DASHBOARD_ACCESS",
    "DASHBOARD_ROWS",
    "DECISION_RULES",
    "ENTRYPOINTS",
    "LRS_ACCESS",
    "REGISTRATION",
    "ROLES",
    "SQL_ACCESS",
    "SQL_MASKING",
    "SQL_ROWS",
    "TREATMENTS",
    "TUTOR_REVEAL",
    "Decision",
    "PolicyLoadError",
    "PolicyUnavailable",
    "Resource",
    "RowCondition",
    "RowFilter",
    "Subject",
    "Treatment",
]

# Rule paths (the public entrypoints of the bundle).
AUTHZ: Final = "data.dreamseed.api.authz.decision"
TUTOR_REVEAL: Final = "data.dreamseed.tutor.reveal.decision"
SQL_ACCESS: Final = "data.dreamseed.sql.access.decision"
SQL_MASKING: Final = "data.dreamseed.sql.masking.columns"
SQL_ROWS: Final = "data.dreamseed.sql.rows.filter"
DASHBOARD_ACCESS: Final = "data.dreamseed.dashboards.access.decision"
DASHBOARD_ROWS: Final = "data.dreamseed.dashboards.rows.filter"
REGISTRATION: Final = "data.dreamseed.users.registration.decision"
LRS_ACCESS: Final = "data.dreamseed.lrs.access.decision"
ANALYTICS_ACCESS: Final = "data.dreamseed.analytics.access.decision"

#: Entrypoints answering {"allow": bool, "reason": str}.
DECISION_RULES: Final = (
    AUTHZ,
    TUTOR_REVEAL,
    SQL_ACCESS,
    DASHBOARD_ACCESS,
    REGISTRATION,
    LRS_ACCESS,
    ANALYTICS_ACCESS,
)
#: Every public entrypoint.
ENTRYPOINTS: Final = (*DECISION_RULES, SQL_MASKING, SQL_ROWS, DASHBOARD_ROWS)

# "operator": whoever runs `dreamseed users …` with the database's credentials (no account).
ROLES: Final = ("anonymous", "student", "teacher", "analyst", "service", "admin", "operator")

Treatment = Literal["clear", "pseudonymize", "redact", "drop"]
TREATMENTS: Final[frozenset[str]] = frozenset({"clear", "pseudonymize", "redact", "drop"})


class PolicyUnavailable(RuntimeError):
    """The policy engine could not decide. Callers must deny (HTTP 503), never allow."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class PolicyLoadError(RuntimeError):
    """The policy bundle could not be loaded (syntax error, bad JSON, failed self-check).

    ``file``/``line``/``column`` name the offending place when known; ``str(err)`` starts with
    ``<file>:<line>:<column>:``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = ""
        if file is not None:
            where = file
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        super().__init__(where + message)
        self.file = file
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks. ``class_ids``: classes she is a member of (student) or teaches (teacher).
    ``user_key``: her pseudonymous key (HMAC of the id with the lake's key, lake/pseudonym.py),
    when the caller computed it: the row filter of a table that knows people only by key
    (``subject_columns.own_key`` in tables.json) matches on it; without it, no own rows."""

    user_id: str | None
    role: str
    class_ids: tuple[str, ...] = ()
    user_key: str | None = None

    def to_input(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "role": self.role,
            "class_ids": list(self.class_ids),
        }
        if self.user_key:
            out["user_key"] = self.user_key
        return out


@dataclass(frozen=True, slots=True)
class Resource:
    """What is acted on, for resource-level checks."""

    type: str
    id: str
    owner_id: str | None = None
    class_id: str | None = None

    def to_input(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "owner_id": self.owner_id,
            "class_id": self.class_id,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """One policy decision, as written to ``governance.decisions``."""

    decision_id: str
    decided_at: datetime
    decision: str
    subject_id: str | None
    subject_role: str | None
    action: str
    resource: dict[str, Any] | None
    allowed: bool
    reason: str
    policy_revision: str
    latency_us: int
    request_id: str | None

    @classmethod
    def new(
        cls,
        *,
        decision: str,
        subject_id: str | None,
        subject_role: str | None,
        action: str,
        resource: dict[str, Any] | None,
        allowed: bool,
        reason: str,
        policy_revision: str,
        latency_us: int,
        request_id: str | None,
    ) -> Decision:
        """A decision with a fresh uuid4 id, stamped now (UTC)."""
        return cls(
            decision_id=str(uuid.uuid4()),
            decided_at=datetime.now(UTC),
            decision=decision,
            subject_id=subject_id,
            subject_role=subject_role,
            action=action,
            resource=resource,
            allowed=allowed,
            reason=reason,
            policy_revision=policy_revision,
            latency_us=latency_us,
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class RowCondition:
    """``column IN values`` (values compared as text)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowFilter:
    """A structured row filter: ``all`` rows, ``none``, or ``any`` of the conditions (OR)."""

    mode: Literal["all", "none", "any"]
    conditions: tuple[RowCondition, ...] = field(default=())

    @classmethod
    def from_policy(cls, value: Any) -> RowFilter:
        """Validate a policy answer; raises ``PolicyUnavailable`` when it is malformed."""
        if not isinstance(value, Mapping):
            raise PolicyUnavailable(f"malformed row filter: {value!r}")
        mode = value.get("mode")
        if mode == "all":
            return cls("all")
        if mode == "none":
            return cls("none")
        if mode != "any":
            raise PolicyUnavailable(f"malformed row filter mode: {mode!r}")
        raw = value.get("conditions")
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise PolicyUnavailable(f"malformed row filter conditions: {raw!r}")
        conditions: list[RowCondition] = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise PolicyUnavailable(f"malformed row condition: {item!r}")
            column = item.get("column")
            values = item.get("values")
            if (
                not isinstance(column, str)
                or not isinstance(values, Sequence)
                or isinstance(values, str)
                or not all(isinstance(v, str) for v in values)
            ):
                raise PolicyUnavailable(f"malformed row condition: {item!r}")
            conditions.append(RowCondition(column, tuple(values)))
        if not conditions:
            return cls("none")
        return cls("any", tuple(conditions))
