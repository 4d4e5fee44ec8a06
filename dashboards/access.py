"""What a dashboards user may see, asked of the governance policy (never decided here).

- `load_subject` turns verified token claims into a governance `Subject`, with the classes the
  user teaches (teacher) or belongs to (student), read from PostgreSQL;
- `check_page` is the one place that asks the policy: page access
  (`data.dreamseed.dashboards.access.decision`) and, when allowed, the row filter
  (`data.dreamseed.dashboards.rows.filter`). Any failure of the engine is `PolicyUnavailable`;
- `row_filter_sql` turns the structured row filter into a SQL predicate over whitelisted columns.

Fail closed everywhere: a malformed answer, an unknown filter column or an engine error never
widens what is shown; callers answer 503 for `PolicyUnavailable` and 403 for a denial.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from core.auth import Claims
from core.settings import Settings
from dashboards.resources import Resources
from governance import (
    Decision,
    PolicyEngine,
    PolicyUnavailable,
    RowFilter,
    Subject,
    load_engine,
)
from lake.pseudonym import subject_key

log = logging.getLogger(__name__)

__all__ = [
    "PageAccess",
    "PolicyUnavailable",
    "check_page",
    "check_pages",
    "deny_reason_message",
    "load_subject",
    "open_policy",
    "row_filter_sql",
]

_NO_ROWS = RowFilter("none")

# Human-readable explanations of the policy's deny reasons.
_REASONS = {
    "role_not_allowed": "your role may not open this dashboard",
    "unknown_page": "this dashboard is not registered in the access policy",
    "unknown_role": "your role is not known to the access policy",
    "outside_access_hours": "dashboards are closed for your role at this hour",
    "invalid_input": "the access request was malformed",
}


@dataclass(frozen=True, slots=True)
class PageAccess:
    """The policy's answer for one subject and one page."""

    page: str
    subject: Subject
    allowed: bool
    reason: str
    row_filter: RowFilter
    decision: Decision  # the page-access decision, for the audit log


def deny_reason_message(reason: str) -> str:
    return _REASONS.get(reason, f"access denied ({reason})")


async def load_subject(resources: Resources, claims: Claims) -> Subject:
    """The governance subject for a signed-in user: her role, her classes, and her pseudonymous
    key (the marts built from the lake know people by key only; lake/pseudonym.py)."""
    key = subject_key(resources.settings.pseudonym_key, claims.user_id)
    if claims.role == "teacher":
        query = "select class_id::text as class_id from classes.classes where teacher_id = %s"
    elif claims.role == "student":
        query = "select class_id::text as class_id from classes.memberships where student_id = %s"
    else:
        return Subject(user_id=claims.user_id, role=claims.role, user_key=key)
    rows = await resources.fetch_all(query, (claims.user_id,))
    return Subject(
        user_id=claims.user_id,
        role=claims.role,
        class_ids=tuple(sorted(str(row["class_id"]) for row in rows)),
        user_key=key,
    )


async def check_page(engine: PolicyEngine, subject: Subject, page: str) -> PageAccess:
    """Ask the policy whether `subject` may open `page`, and which rows she may see there.

    Non-blocking for a remote OPA. Raises PolicyUnavailable when
    the engine cannot answer (the caller answers 503).
    """
    try:
        decision = await engine.dashboard_access(subject, page)
        if not decision.allowed:
            return PageAccess(page, subject, False, decision.reason, _NO_ROWS, decision)
        row_filter = await engine.dashboard_rows(subject, page)
    except PolicyUnavailable:
        raise
    except Exception as exc:  # any other engine failure must deny, never allow
        raise PolicyUnavailable(f"policy engine failed: {exc!r}") from exc
    except BaseException as exc:
        # A Rust panic inside regorus surfaces as pyo3's PanicException, a BaseException.
        if type(exc).__name__ != "PanicException":
            raise
        raise PolicyUnavailable(f"policy engine panicked: {exc}") from exc
    return PageAccess(page, subject, True, decision.reason, row_filter, decision)


async def check_pages(
    engine: PolicyEngine, subject: Subject, pages: Iterable[str]
) -> list[PageAccess]:
    """The policy's answer for each page, in the given order (PolicyUnavailable propagates)."""
    return [await check_page(engine, subject, page) for page in pages]


def row_filter_sql(
    row_filter: RowFilter, allowed_columns: Collection[str], *, table_alias: str | None = None
) -> tuple[sql.Composable, list[Any]]:
    """A SQL predicate (and its positional parameters) equivalent to the row filter.

    `any`: OR of `column::text = any(values)`; `none`: false; `all`: true. A condition on a
    column outside `allowed_columns` raises PolicyUnavailable (the policy and the dataset
    disagree: show nothing rather than guess).
    """
    if row_filter.mode == "all":
        return sql.SQL("true"), []
    if row_filter.mode == "none" or not row_filter.conditions:
        return sql.SQL("false"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for condition in row_filter.conditions:
        if condition.column not in allowed_columns:
            raise PolicyUnavailable(
                f"row filter names column {condition.column!r}, not one of {sorted(allowed_columns)}"
            )
        column = (
            sql.Identifier(table_alias, condition.column)
            if table_alias
            else sql.Identifier(condition.column)
        )
        parts.append(sql.SQL("{}::text = any(%s)").format(column))
        params.append(list(condition.values))
    return sql.SQL("(") + sql.SQL(" or ").join(parts) + sql.SQL(")"), params


def open_policy(settings: Settings) -> PolicyEngine:
    """The dashboards' policy engine: remote OPA when `opa_url` is set, else in-process Rego
    from `settings.policy_dir` (loaded and self-checked now: PolicyLoadError on a broken bundle)."""
    return load_engine(settings.opa_url or None, settings.policy_dir)
