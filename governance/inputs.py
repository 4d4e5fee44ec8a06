"""The input documents of the policy's entrypoints, built in one place for every door (the API,
the SQL door, the dashboards, the tutor), and the shapes of the answers they expect."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from governance.decision import TREATMENTS, PolicyUnavailable, Resource, Subject


def utc_now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def context(now: str | None, request_id: str | None, items: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "now": now if now is not None else utc_now_rfc3339(),
        "active_exam_item_ids": list(items),
        "request_id": request_id,
    }


def authz_input(
    subject: Subject,
    action: str,
    resource: Resource | None = None,
    *,
    now: str | None = None,
    active_exam_item_ids: Sequence[str] = (),
    request_id: str | None = None,
) -> dict[str, Any]:
    """The ``data.dreamseed.api.authz.decision`` input document."""
    return {
        "subject": subject.to_input(),
        "action": action,
        "resource": resource.to_input() if resource is not None else None,
        "context": context(now, request_id, active_exam_item_ids),
    }


def registration_input(role: str, email_domain: str) -> dict[str, Any]:
    """The ``data.dreamseed.users.registration.decision`` input: an anonymous caller registering
    an account of ``role`` with an e-mail of ``email_domain`` (never the whole address: the
    input is kept in the decision log)."""
    return {
        "subject": Subject(None, "anonymous").to_input(),
        "action": "users.account.create",
        "resource": {"type": "account", "id": "", "role": role, "email_domain": email_domain},
    }


def reveal_input(
    subject: Subject,
    item_id: str,
    active_exam_item_ids: Sequence[str],
    *,
    now: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The ``data.dreamseed.tutor.reveal.decision`` input."""
    return {
        "subject": subject.to_input(),
        "action": "tutor.answer.reveal",
        "resource": {"type": "item", "id": item_id, "owner_id": None, "class_id": None},
        "context": context(now, request_id, active_exam_item_ids),
    }


def sql_access_input(
    subject: Subject, table: str, *, now: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """The ``data.dreamseed.sql.access.decision`` input."""
    return {
        "subject": subject.to_input(),
        "action": "sql.query.run",
        "table": table,
        "resource": {"type": "table", "id": table, "owner_id": None, "class_id": None},
        "context": context(now, request_id),
    }


def dashboard_input(
    subject: Subject, page: str, *, now: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """The input of ``data.dreamseed.dashboards.access.decision`` and ``.rows.filter``."""
    return {
        "subject": subject.to_input(),
        "action": "dashboards.page.view",
        "page": page,
        "resource": {"type": "page", "id": page, "owner_id": None, "class_id": None},
        "context": context(now, request_id),
    }


def as_decision_answer(rule: str, value: Any) -> tuple[bool, str]:
    """``{"allow": bool, "reason": str}`` or PolicyUnavailable."""
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("allow"), bool)
        and isinstance(value.get("reason"), str)
    ):
        return value["allow"], value["reason"]
    raise PolicyUnavailable(f"malformed decision from {rule}: {value!r}", rule=rule)


def as_masking(rule: str, columns: Sequence[str], value: Any) -> dict[str, str]:
    """column -> treatment for every column asked about, or PolicyUnavailable."""
    if not isinstance(value, Mapping):
        raise PolicyUnavailable(f"malformed masking answer: {value!r}", rule=rule)
    out: dict[str, str] = {}
    for column in columns:
        treatment = value.get(column, "drop")  # a column the policy did not answer is dropped
        if treatment not in TREATMENTS:
            raise PolicyUnavailable(f"unknown treatment {treatment!r} for {column!r}", rule=rule)
        out[column] = treatment
    return out
