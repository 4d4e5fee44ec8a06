"""The governance contract: one async API over the policy, answered in-process (regorus,
`governance.local`) or by an OPA server (`governance.opa`); `governance.sync` wraps it for the
few synchronous callers (the CLI).

Every evaluation either returns the policy's answer or raises :class:`PolicyUnavailable`
(fail closed): engine errors, undefined results, malformed answers, HTTP errors and timeouts
all become ``PolicyUnavailable``; nothing ever defaults to allow.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cachetools import FIFOCache

from governance.decision import (
    AUTHZ,
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    SQL_ACCESS,
    SQL_MASKING,
    SQL_ROWS,
    TUTOR_REVEAL,
    Decision,
    Resource,
    RowFilter,
    Subject,
)
from governance.inputs import (
    as_decision_answer,
    as_masking,
    authz_input,
    dashboard_input,
    reveal_input,
    sql_access_input,
)

ROUTE_MEMO_SIZE: Final = 4096
# Route level: (bundle revision, role, action, minute of `now`); resource level adds the
# resource type and the subject's two relations to it (owner? member of its class?).
RouteKey = tuple[str, ...]


class PolicyEngine(ABC):
    """The governance contract. All methods raise :class:`PolicyUnavailable` when no answer can
    be obtained; callers deny (HTTP 503)."""

    def __init__(self) -> None:
        # API authz answers depend only on the role, the action and the minute of `now` (access
        # hours) and, for a resource, on its type and two relations of the subject to it: is she
        # its owner, is she in its class -- never on the ids themselves.
        # tests/unit/governance/test_route_memo.py checks that invariant for every role, action,
        # resource type and relation against the bundle. Answers are memoised per bundle revision
        # under that key (first in, first out: old minutes leave first); every request still gets
        # its own Decision (id, time, request id, the real resource) and decision-log entry.
        self._route_answers: FIFOCache[RouteKey, Any] = FIFOCache(maxsize=ROUTE_MEMO_SIZE)

    @property
    @abstractmethod
    def revision(self) -> str:
        """Short identifier of the policy bundle answering (sha256 prefix for local)."""

    @abstractmethod
    async def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        """Evaluate ``rule`` (e.g. ``"data.dreamseed.api.authz.decision"``) for ``input``.
        An undefined result raises ``PolicyUnavailable``."""

    def reload(self) -> None:  # noqa: B027 - optional hook
        """Reload policies and data (local: re-read the bundle; remote: nothing to do)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients)."""

    # -- generic decisions -------------------------------------------------------------------

    async def decide(
        self,
        rule: str,
        input: Mapping[str, Any],
        *,
        action: str | None = None,
        request_id: str | None = None,
        memo_key: RouteKey | None = None,
    ) -> Decision:
        """Evaluate a ``{"allow", "reason"}`` rule and wrap the answer in a :class:`Decision`.

        ``memo_key`` (route-level authz only) reuses an answer already computed for that key."""
        start = time.perf_counter_ns()
        value = self._route_answers.get(memo_key) if memo_key is not None else None
        if value is None:
            value = await self.query(rule, input)
            if memo_key is not None:
                as_decision_answer(AUTHZ, value)  # never memoise a malformed answer
                self._route_answers[memo_key] = value
        latency_us = (time.perf_counter_ns() - start) // 1000
        return self._decision(rule, input, value, latency_us, action, request_id)

    def _decision(
        self,
        rule: str,
        input: Mapping[str, Any],
        value: Any,
        latency_us: int,
        action: str | None,
        request_id: str | None,
    ) -> Decision:
        allowed, reason = as_decision_answer(rule, value)
        subject = input.get("subject")
        subject = subject if isinstance(subject, Mapping) else {}
        resource = input.get("resource")
        context = input.get("context")
        if request_id is None and isinstance(context, Mapping):
            rid = context.get("request_id")
            request_id = rid if isinstance(rid, str) else None
        user_id = subject.get("user_id")
        role = subject.get("role")
        act = action if action is not None else input.get("action")
        return Decision.new(
            decision=rule,
            subject_id=user_id if isinstance(user_id, str) else None,
            subject_role=role if isinstance(role, str) else None,
            action=act if isinstance(act, str) else "",
            resource=dict(resource) if isinstance(resource, Mapping) else None,
            allowed=allowed,
            reason=reason,
            policy_revision=self.revision,
            latency_us=min(latency_us, 2**31 - 1),
            request_id=request_id,
        )

    # -- API ---------------------------------------------------------------------------------

    async def authorize(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None = None,
        *,
        now: str | None = None,
        active_exam_item_ids: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.api.authz.decision``; ``resource=None`` is the route-level check."""
        payload = authz_input(
            subject,
            action,
            resource,
            now=now,
            active_exam_item_ids=active_exam_item_ids,
            request_id=request_id,
        )
        key = self._route_memo_key(subject, action, resource, payload)
        return await self.decide(AUTHZ, payload, request_id=request_id, memo_key=key)

    def _route_memo_key(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None,
        payload: Mapping[str, Any],
    ) -> RouteKey | None:
        context = payload["context"]
        now = context["now"]
        # Only our own UTC form (YYYY-MM-DDTHH:MM:SSZ): the minute prefix is then exact.
        if context["active_exam_item_ids"] or len(now) != 20 or not now.endswith("Z"):
            return None
        key = (self.revision, subject.role, action, now[:16])
        if resource is None:
            return key
        owns = bool(subject.user_id) and resource.owner_id == subject.user_id
        in_class = resource.class_id is not None and resource.class_id in subject.class_ids
        return (*key, resource.type, "owner" if owns else "-", "member" if in_class else "-")

    # -- tutor -------------------------------------------------------------------------------

    async def may_reveal(
        self,
        subject: Subject,
        item_id: str,
        active_exam_item_ids: Sequence[str],
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.tutor.reveal.decision``: may the tutor reveal ``item_id``'s answer?"""
        payload = reveal_input(
            subject, item_id, active_exam_item_ids, now=now, request_id=request_id
        )
        return await self.decide(TUTOR_REVEAL, payload, request_id=request_id)

    # -- SQL door ----------------------------------------------------------------------------

    async def sql_access(
        self,
        subject: Subject,
        table: str,
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.sql.access.decision``: may the subject query ``table``?"""
        payload = sql_access_input(subject, table, now=now, request_id=request_id)
        return await self.decide(SQL_ACCESS, payload, request_id=request_id)

    async def sql_masking(
        self, subject: Subject, table: str, columns: Sequence[str]
    ) -> dict[str, str]:
        """``data.dreamseed.sql.masking.columns``: column -> clear|pseudonymize|redact|drop."""
        payload = {"subject": subject.to_input(), "table": table, "columns": list(columns)}
        return as_masking(SQL_MASKING, columns, await self.query(SQL_MASKING, payload))

    async def sql_rows(self, subject: Subject, table: str) -> RowFilter:
        """``data.dreamseed.sql.rows.filter``: the rows of ``table`` the subject may see."""
        payload = {"subject": subject.to_input(), "table": table}
        return RowFilter.from_policy(await self.query(SQL_ROWS, payload))

    # -- dashboards --------------------------------------------------------------------------

    async def dashboard_access(
        self,
        subject: Subject,
        page: str,
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.dashboards.access.decision``: may the subject open ``page``?"""
        payload = dashboard_input(subject, page, now=now, request_id=request_id)
        return await self.decide(DASHBOARD_ACCESS, payload, request_id=request_id)

    async def dashboard_rows(
        self, subject: Subject, page: str, *, now: str | None = None
    ) -> RowFilter:
        """``data.dreamseed.dashboards.rows.filter``: rows of the page's dataset to show."""
        payload = dashboard_input(subject, page, now=now)
        return RowFilter.from_policy(await self.query(DASHBOARD_ROWS, payload))
