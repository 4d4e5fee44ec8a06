"""Policy enforcement: every non-public route names an action, and the Rego policy decides.

Two checks, same policy (`data.dreamseed.api.authz.decision`):
- the route guard (before the handler): may this role perform the route's action at all?
- `PolicyGate.authorize` (inside the handler, once the resource is loaded): is this resource in
  the caller's scope (her own, her class's, …)?
Any engine failure denies with 503 (fail closed). Every decision goes to the decision log.

Class ids of the subject are cached per process for `CLASS_IDS_TTL_SECONDS` (10 s), positive
only: a cached list is used only when it already contains the resource's class; otherwise the
list is reloaded from PostgreSQL. So a new membership counts at once and a non-member is never
allowed by the cache; a removed membership may still count for up to the TTL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from apis.gateway.principal import SCOPE_KEY, Principal
from apis.gateway.request_context import REQUEST_ID
from apis.gateway.timing import stage
from core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from governance import Decision, PolicyEngine, PolicyUnavailable, Resource, Subject

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

    from apis.gateway.metrics import Metrics

__all__ = ["PolicyGate", "Resource", "policy_guard"]

ClassIdsLoader = Callable[[str], Awaitable[list[str]]]
CLASS_IDS_TTL_SECONDS = 10.0
CLASS_IDS_CACHE_SIZE = 50_000


class PolicyGate:
    def __init__(
        self,
        engine: PolicyEngine,
        class_ids_of: ClassIdsLoader,
        record: Callable[[Decision], bool],
        metrics: Metrics,
        *,
        class_ids_ttl: float = CLASS_IDS_TTL_SECONDS,
    ) -> None:
        self.engine = engine
        self._class_ids_of = class_ids_of
        # user id -> her class ids, dropped `class_ids_ttl` seconds after they were read
        self._class_ids: TTLCache[str, tuple[str, ...]] = TTLCache(
            maxsize=CLASS_IDS_CACHE_SIZE, ttl=class_ids_ttl
        )
        self._record = record
        self._metrics = metrics

    async def _decide(
        self, principal: Principal, action: str, resource: Resource | None, class_ids: list[str]
    ) -> None:
        subject = Subject(principal.user_id, principal.role, tuple(class_ids))
        try:
            with stage("policy"):
                decision = await self.engine.authorize(
                    subject, action, resource, request_id=REQUEST_ID.get()
                )
        except PolicyUnavailable as exc:
            raise ServiceUnavailable(f"policy engine unavailable, request denied: {exc}") from exc
        if not self._record(decision):
            # Never act without an audit record: a full decision log denies the request.
            raise ServiceUnavailable("the policy decision log is full; request denied, retry later")
        self._metrics.count_decision(action, decision.allowed)
        if not decision.allowed:
            what = f"{action} on {resource.type} {resource.id}" if resource else action
            raise Forbidden(f"{what} is not permitted for role {principal.role}: {decision.reason}")

    async def decide(self, rule: str, input: dict[str, Any], action: str) -> Decision:
        """Any other `{allow, reason}` entrypoint (e.g. self-registration), logged like the
        route checks; the caller acts on the answer."""
        try:
            with stage("policy"):
                decision = await self.engine.decide(
                    rule, input, action=action, request_id=REQUEST_ID.get()
                )
        except PolicyUnavailable as exc:
            raise ServiceUnavailable(f"policy engine unavailable, request denied: {exc}") from exc
        if not self._record(decision):
            raise ServiceUnavailable("the policy decision log is full; request denied, retry later")
        self._metrics.count_decision(action, decision.allowed)
        return decision

    async def check_route(self, principal: Principal, action: str) -> None:
        await self._decide(principal, action, None, [])

    async def authorize(self, principal: Principal, action: str, resource: Resource) -> None:
        """Resource-level check; the subject carries the classes she teaches or belongs to."""
        class_ids: list[str] = []
        if resource.class_id is not None and principal.role in ("student", "teacher"):
            class_ids = await self.class_ids_for(principal.user_id, resource.class_id)
        await self._decide(principal, action, resource, class_ids)

    async def class_ids_for(self, user_id: str, needed: str) -> list[str]:
        """The user's class ids; from the cache only if it is fresh and already has `needed`."""
        cached = self._class_ids.get(user_id)
        if cached is not None and needed in cached:
            return list(cached)
        class_ids = await self._class_ids_of(user_id)
        self._class_ids[user_id] = tuple(class_ids)
        return class_ids


async def policy_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """App-wide guard: public routes pass; every other route must name an action that is allowed."""
    if handler.opt.get("public") or handler.opt.get("xapi"):
        return  # xAPI routes run the same check once they have authenticated (apis/lrs)
    action = handler.opt.get("action")
    if not isinstance(action, str):
        # Fail closed: a route nobody wrote a policy action for is not reachable.
        raise Forbidden(f"route {connection.url.path} declares no policy action")
    principal = connection.scope.get(SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise Unauthenticated("authentication required")
    gate: PolicyGate = connection.app.state.dreamseed.policy
    await gate.check_route(principal, action)
