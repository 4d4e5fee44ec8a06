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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

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
    deny_reason_message,
    load_subject,
)
from dashboards.auth import current_user, error_response, wants_html
from dashboards.resources import Resources
from governance import PolicyEngine

log = logging.getLogger(__name__)

ACCESS_SCOPE_KEY = "dreamseed.page_access"
PRELOAD_SCOPE_KEY = "dreamseed.page_preload"
PLOTLY_JS_PATH = "/static/plotly.min.js"
WS_FORBIDDEN = 4403
WS_UNAVAILABLE = 4503
WS_SESSION_ENDED = 4401


@dataclass(frozen=True, slots=True)
class PageContext:
    """What pages share: settings, connections and the policy engine."""

    settings: Settings
    resources: Resources
    policy: PolicyEngine


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


def page_layout(
    request: Request, title: str, *body: TagChild, user: Claims | None = None
) -> TagList | Tag:
    """The common frame of a page: plotly.js from our own static route, header, logout."""
    root = app_root(request.scope)
    who = f"{user.role}" if user else ""
    return ui.page_fluid(
        ui.head_content(
            ui.tags.title(f"{title} · DreamSeed"),
            ui.tags.script(src=f"{root}{PLOTLY_JS_PATH}", charset="utf-8"),
        ),
        ui.tags.nav(
            ui.tags.a("DreamSeed dashboards", href=f"{root}/", class_="fw-bold me-3"),
            ui.tags.span(f"signed in as {who}", class_="text-muted me-3") if who else None,
            ui.tags.form(
                ui.tags.button("Sign out", type="submit", class_="btn btn-link p-0"),
                method="post",
                action=f"{root}/logout",
                class_="d-inline",
            ),
            class_="d-flex align-items-center py-2 border-bottom mb-3",
        ),
        ui.h2(title),
        *body,
    )


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
        if (
            scope["type"] == "http"
            and relative == "/"
            and scope["method"] in ("GET", "HEAD")
            and self.spec.preload is not None
        ):
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


def message_page(status: int, message: str, *, root: str = "") -> str:
    """A minimal self-contained HTML page for errors (no external assets)."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>DreamSeed dashboards</title>"
        "</head><body style='font-family:sans-serif;margin:2rem'>"
        f"<h1>{status}</h1><p>{escape(message)}</p>"
        f"<p><a href='{escape(root)}/'>Dashboards</a> · <a href='{escape(root)}/login'>Sign in</a></p>"
        "</body></html>"
    )
