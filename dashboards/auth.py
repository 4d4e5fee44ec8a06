"""Authentication for every dashboards request (HTTP and WebSocket), as a pure ASGI middleware.

The access token comes from the `ds_session` cookie (browsers, set by /login) or an
`Authorization: Bearer` header (API clients, tests). It is checked by the one auth service
(`core.sessions.AuthService.check_access`: signature, expiry, type "access", revocation). The
verified claims are put into the ASGI scope under `USER_SCOPE_KEY`, where routes, page gates and
Shiny sessions (`session.http_conn.scope`) read them.

Unauthenticated: a browser GET that accepts text/html is redirected to /login?next=<path>;
anything else gets 401. A WebSocket is closed before it is accepted. Redis down: 503 (fail closed,
a revoked token must never pass because the revocation list could not be read).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core.auth import Claims
from core.errors import Unauthenticated
from dashboards.resources import Resources

log = logging.getLogger(__name__)

COOKIE_NAME = "ds_session"
USER_SCOPE_KEY = "dreamseed.user"
# WebSocket close codes in the application range: "unauthenticated" / "service unavailable".
WS_UNAUTHENTICATED = 4401
WS_UNAVAILABLE = 4503


def token_from_headers(headers: Headers) -> str | None:
    """The bearer token, else the session cookie's value, else None."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie_header = headers.get("cookie")
    if cookie_header:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(cookie_header)
        except Exception:  # a malformed Cookie header is treated as no cookie
            return None
        morsel = cookie.get(COOKIE_NAME)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


async def authenticate(resources: Resources, token: str | None) -> Claims:
    """Verify a token and check it is not revoked; raise Unauthenticated with the reason.

    RedisError propagates: the caller must fail closed.
    """
    if not token:
        raise Unauthenticated("sign in required")
    return await resources.auth().check_access(token)


def current_user(scope: Scope) -> Claims | None:
    """The claims the middleware verified for this request, if any."""
    user = scope.get(USER_SCOPE_KEY)
    return user if isinstance(user, Claims) else None


def wants_html(headers: Headers, method: str) -> bool:
    return method in ("GET", "HEAD") and "text/html" in headers.get("accept", "")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local absolute paths are allowed as redirect targets (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def error_response(status: int, message: str, *, reason: str | None = None) -> Response:
    body: dict[str, str] = {"error": message}
    if reason:
        body["reason"] = reason
    return JSONResponse(body, status_code=status)


class AuthMiddleware:
    """Require a valid, unrevoked access token on every path except the public ones."""

    def __init__(
        self,
        app: ASGIApp,
        resources: Resources,
        public_paths: Iterable[str] = ("/login", "/logout", "/health"),
        public_prefixes: Iterable[str] = ("/static/",),
    ) -> None:
        self.app = app
        self.resources = resources
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)

    def _is_public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) or "/"
        if self._is_public(path):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            claims = await authenticate(self.resources, token_from_headers(headers))
        except Unauthenticated as exc:
            await self._refuse(scope, receive, send, headers, 401, exc.message)
            return
        except (RedisError, OSError) as exc:
            log.error("revocation check failed, refusing request: %s", exc)
            await self._refuse(scope, receive, send, headers, 503, "session store unavailable")
            return
        scope[USER_SCOPE_KEY] = claims
        await self.app(scope, receive, send)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        status: int,
        message: str,
    ) -> None:
        if scope["type"] == "websocket":
            code = WS_UNAUTHENTICATED if status == 401 else WS_UNAVAILABLE
            await send({"type": "websocket.close", "code": code, "reason": message})
            return
        response: Response
        if status == 401 and wants_html(headers, scope["method"]):
            root = scope.get("root_path", "")
            target = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            response = RedirectResponse(f"{root}/login?next={quote(target)}", status_code=303)
        else:
            response = error_response(status, message)
            if status == 401:
                response.headers["www-authenticate"] = 'Bearer realm="dreamseed-dashboards"'
        await response(scope, receive, send)
