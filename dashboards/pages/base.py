"""What every dashboard page is made of, and the gate that guards it.

A page is a `PageSpec`: a policy page name (a key of `data.config.dashboards.pages`), a title,
a factory building its Shiny app from the shared `PageContext`, and optionally a `preload`
coroutine. The app mounts each page at `/pages/<name>/` behind a `PageGate`, which for every
HTTP request and WebSocket of the page:

1. takes the user the auth middleware verified (`dashboards.auth.USER_SCOPE_KEY`),
2. asks the policy (`dashboards.access.check_page`): denied → 403, engine error → 503, and
   records the decision in the audit log (`governance.decisions`; a refused record → 503),
3. puts the `PageAccess` (subject + row filter) into the scope under `ACCESS_SCOPE_KEY`, where
   the Shiny server function reads it via `session.http_conn.scope`,
4. for the page's initial GET, awaits `preload` and puts its result under `PRELOAD_SCOPE_KEY`,
   so the (synchronous) Shiny UI function can render server-side content without blocking.

Shiny's own static dependencies (`lib/...`) are served to any signed-in user without a policy
round trip: they are public package assets.

To add a page: write `dashboards/pages/<name>.py` exposing `PAGE = PageSpec(...)`, list it in
`dashboards/pages/__init__.py`, and add the page to governance's `data/dashboards.json`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from htmltools import Tag, TagChild, TagList
from psycopg import Error as PsycopgError
from psycopg.errors import UndefinedTable
from redis.exceptions import RedisError
from shiny import App, Session, ui
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth import Claims
from core.revocation import is_revoked
from core.settings import Settings
from dashboards.access import (
    PageAccess,
    PolicyUnavailable,
    check_page,
    check_pages,
    deny_reason_message,
    load_subject,
)
from dashboards.auth import current_user, error_response, wants_html
from dashboards.components import prefilled
from dashboards.resources import Resources
from dashboards.theme import (
    CSS_PATH,
    ICON_PATH,
    JS_PATH,
    PLOTLY_JS_PATH,
    NavItem,
    message_page,
    topbar_html,
)
from governance import PolicyEngine, Subject

log = logging.getLogger(__name__)

ACCESS_SCOPE_KEY = "dreamseed.page_access"
PRELOAD_SCOPE_KEY = "dreamseed.page_preload"
NAV_SCOPE_KEY = "dreamseed.nav"
WS_FORBIDDEN = 4403
WS_UNAVAILABLE = 4503
WS_SESSION_ENDED = 4401


@dataclass(frozen=True, slots=True)
class PageContext:
    """What pages share: settings, connections and the policy engine."""

    settings: Settings
    resources: Resources
    policy: PolicyEngine
    pages: tuple[PageSpec, ...] = ()  # every mounted page, in menu order (for the navigation)


Preload = Callable[[PageContext, PageAccess, Request], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class PageSpec:
    name: str
    title: str
    description: str
    build: Callable[[PageContext], App]
    preload: Preload | None = None

    @property
    def path(self) -> str:
        return f"/pages/{self.name}"


def page_access(scope: Scope) -> PageAccess | None:
    """The gate's decision for this request or Shiny session (None outside a gated page)."""
    access = scope.get(ACCESS_SCOPE_KEY)
    return access if isinstance(access, PageAccess) and access.allowed else None


def session_access(session: Session) -> PageAccess | None:
    """The gate's decision for a Shiny session, read from its WebSocket's ASGI scope.

    `http_conn` exists on the root (app) session only, hence `root_scope()`; anything unexpected
    yields None, which pages treat as "show nothing".
    """
    conn = getattr(session.root_scope(), "http_conn", None)
    return page_access(conn.scope) if isinstance(conn, HTTPConnection) else None


def app_root(scope: Scope) -> str:
    """The URL prefix of the dashboards app itself (not of the mounted page)."""
    return str(scope.get("app_root_path", ""))


View = TypeVar("View")


def preloaded_page(
    request: Request,
    kind: type[View],
    *,
    title: str,
    description: str,
    output_id: str,
    body: Callable[[View], TagChild],
    filters: Callable[[View], Sequence[TagChild]],
) -> TagList | Tag:
    """A page whose first HTML holds its one output already rendered from the view the gate
    preloaded (`PageSpec.preload`); the Shiny session re-renders `output_id` on filter changes.
    No view of `kind` or no access (the gate always sets both): nothing is shown (fail closed)."""
    view = request.scope.get(PRELOAD_SCOPE_KEY)
    if not isinstance(view, kind) or page_access(request.scope) is None:
        return ui.TagList(ui.p("Not available."))
    return page_layout(
        request,
        title,
        prefilled(ui.output_ui(output_id), body(view)),
        user=current_user(request.scope),
        description=description,
        filters=filters(view),
    )


def page_layout(
    request: Request,
    title: str,
    *body: TagChild,
    user: Claims | None = None,
    description: str | None = None,
    filters: Sequence[TagChild] = (),
) -> TagList | Tag:
    """The common frame of a page: theme and scripts from our own static routes, the top bar
    with the pages this user may open (computed by the gate), the title, a filter bar whose
    values persist in the URL (`dashboards.components.filter_*`), then the body."""
    root = app_root(request.scope)
    nav = request.scope.get(NAV_SCOPE_KEY) or ()
    access = page_access(request.scope)
    return ui.page_fluid(
        ui.head_content(
            ui.tags.title(f"{title} · DreamSeed"),
            ui.tags.link(rel="stylesheet", href=f"{root}{CSS_PATH}"),
            ui.tags.link(rel="icon", href=f"{root}{ICON_PATH}", type="image/svg+xml"),
            ui.tags.script(src=f"{root}{PLOTLY_JS_PATH}", charset="utf-8"),
            ui.tags.script(src=f"{root}{JS_PATH}", charset="utf-8", defer=""),
        ),
        ui.HTML(
            topbar_html(
                root,
                nav,
                current=access.page if access else None,
                role=user.role if user else None,
            )
        ),
        ui.tags.main(
            ui.h1(title),
            ui.p(description, class_="ds-lead") if description else None,
            ui.tags.form(
                *filters,
                class_="ds-filters",
                role="search",
                aria_label="Filters",
                onsubmit="return false;",
            )
            if filters
            else None,
            *body,
            id="ds-main",
            class_="ds-main",
        ),
        class_="p-0",
    )


async def nav_items(ctx: PageContext, subject: Subject, root: str) -> list[NavItem]:
    """The pages `subject` may open, in menu order (PolicyUnavailable propagates).

    These answers only build the menu; they are not recorded in the decision log (the gate
    records the decision of every page actually opened, the index those it lists)."""
    answers = await check_pages(ctx.policy, subject, [p.name for p in ctx.pages])
    return [
        NavItem(p.name, p.title, f"{root}{p.path}/", p.description)
        for p, a in zip(ctx.pages, answers, strict=True)
        if a.allowed
    ]


class SessionGuard:
    """Ends a long-lived Shiny WebSocket once its token expires or is revoked.

    Checked whenever the browser sends a message (input changes): expiry every time, Redis'
    revocation set at most every `revocation_check_seconds` (and whenever Redis fails, the
    session ends: fail closed). Ending = closing the socket with code 4401 (the browser shows
    Shiny's "disconnected" state; reloading leads to /login) and handing Shiny a disconnect.
    """

    def __init__(
        self,
        receive: Receive,
        send: Send,
        user: Claims,
        resources: Resources,
        *,
        revocation_check_seconds: float = 30.0,
    ) -> None:
        self._receive = receive
        self._send = send
        self._user = user
        self._resources = resources
        self._interval = revocation_check_seconds
        self._checked_at = time.monotonic()

    async def _still_valid(self) -> bool:
        if datetime.now(UTC) >= self._user.expires_at:
            return False
        if time.monotonic() - self._checked_at < self._interval:
            return True
        try:
            revoked = await is_revoked(self._resources.redis(), self._user)
        except (RedisError, OSError):
            return False
        self._checked_at = time.monotonic()
        return not revoked

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.receive" and not await self._still_valid():
            await self._send(
                {"type": "websocket.close", "code": WS_SESSION_ENDED, "reason": "session ended"}
            )
            return {"type": "websocket.disconnect", "code": WS_SESSION_ENDED}
        return message


class PageGate:
    """Policy guard around one page's Shiny app (see the module docstring)."""

    def __init__(self, spec: PageSpec, app: ASGIApp, ctx: PageContext) -> None:
        self.spec = spec
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        relative = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        if scope["type"] == "http" and relative.startswith("/lib/"):
            await self.app(scope, receive, send)
            return
        user = current_user(scope)
        if user is None:  # the auth middleware runs first; never serve a page without a user
            await self._refuse(scope, receive, send, 401, "sign in required", None)
            return
        try:
            subject = await load_subject(self.ctx.resources, user)
            access = await check_page(self.ctx.policy, subject, self.spec.name)
        except PolicyUnavailable as exc:
            log.error("policy unavailable for page %s: %s", self.spec.name, exc)
            await self._refuse(scope, receive, send, 503, "access policy unavailable", None)
            return
        except (PsycopgError, OSError) as exc:
            log.error("cannot load subject for page %s: %s", self.spec.name, exc)
            await self._refuse(scope, receive, send, 503, "database unavailable", None)
            return
        if not await self.ctx.resources.record_decision(access.decision):
            await self._refuse(scope, receive, send, 503, "decision audit log unavailable", None)
            return
        if not access.allowed:
            message = f"{self.spec.title}: {deny_reason_message(access.reason)}"
            await self._refuse(scope, receive, send, 403, message, access.reason)
            return
        scope[ACCESS_SCOPE_KEY] = access
        if scope["type"] == "websocket":
            receive = SessionGuard(receive, send, user, self.ctx.resources).receive
        first_view = (
            scope["type"] == "http" and relative == "/" and scope["method"] in ("GET", "HEAD")
        )
        if first_view:
            try:
                scope[NAV_SCOPE_KEY] = await nav_items(self.ctx, subject, app_root(scope))
            except PolicyUnavailable as exc:
                log.error("policy unavailable for the navigation: %s", exc)
                await self._refuse(scope, receive, send, 503, "access policy unavailable", None)
                return
        if first_view and self.spec.preload is not None:
            try:
                scope[PRELOAD_SCOPE_KEY] = await self.spec.preload(self.ctx, access, Request(scope))
            except PolicyUnavailable as exc:
                log.error("row filter unusable on page %s: %s", self.spec.name, exc)
                await self._refuse(scope, receive, send, 503, "access policy unavailable", None)
                return
            except UndefinedTable as exc:
                log.error("page %s: its dataset is missing: %s", self.spec.name, exc)
                message = f"{self.spec.title}: the data for this dashboard has not been built yet"
                await self._refuse(scope, receive, send, 503, message, None)
                return
            except (PsycopgError, OSError) as exc:
                log.error("preload of page %s failed: %s", self.spec.name, exc)
                await self._refuse(scope, receive, send, 503, "database unavailable", None)
                return
        await self.app(scope, receive, send)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        message: str,
        reason: str | None,
    ) -> None:
        if scope["type"] == "websocket":
            code = WS_FORBIDDEN if status == 403 else WS_UNAVAILABLE
            await send({"type": "websocket.close", "code": code, "reason": message[:120]})
            return
        response: Response
        if wants_html(Headers(scope=scope), scope["method"]):
            response = HTMLResponse(
                message_page(status, message, root=app_root(scope)), status_code=status
            )
        else:
            response = error_response(status, message, reason=reason)
        await response(scope, receive, send)
