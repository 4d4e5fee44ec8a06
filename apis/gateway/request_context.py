"""Outermost middleware: request id, Server-Timing, one JSON access-log line per request,
Prometheus metrics."""

from __future__ import annotations

import logging
import secrets
import sys
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING

import msgspec
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from redis.exceptions import RedisError

from apis.gateway.principal import SCOPE_KEY
from apis.gateway.timing import TIMINGS, Timings
from apis.scope import put
from core.errors import DomainError

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_KEY = "dreamseed.request_id"
# The current request id, for code that logs or records decisions deep inside a handler.
REQUEST_ID: ContextVar[str | None] = ContextVar("dreamseed_request_id", default=None)
_log = logging.getLogger("dreamseed.access")
_encode = msgspec.json.Encoder().encode
if not _log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and 0 < len(value) <= 128:
            return value.decode("latin-1")
    return secrets.token_hex(8)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, DomainError):
        return exc.status
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 503 if isinstance(exc, RedisError) else 500


class RequestContextMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = _incoming_request_id(scope)
        put(scope, REQUEST_ID_KEY, request_id)
        token = REQUEST_ID.set(request_id)
        timings = Timings()
        timings_token = TIMINGS.set(timings)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                # Where the time went before the reply started (W3C Server-Timing): lets a
                # client tell service time from network and its own queueing.
                spent = time.perf_counter() - started
                headers.append((b"server-timing", timings.header(spent)))
                message["headers"] = headers
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        except Exception as exc:
            # Raised inside the middleware stack (401, 429, 503 …): the exception handlers
            # outside answer it, so log the status they will send, not a generic 500.
            status = _status_of(exc)
            raise
        finally:
            REQUEST_ID.reset(token)
            TIMINGS.reset(timings_token)
            elapsed = time.perf_counter() - started
            route = scope.get("path_template", scope["path"])
            method = scope.get("method", "WS")
            state = scope["app"].state.get("dreamseed")
            if state is not None:
                state.metrics.observe_request(route, method, status, elapsed)
            if _log.isEnabledFor(logging.INFO):
                principal = scope.get(SCOPE_KEY)
                line = {
                    "request_id": request_id,
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "user_id": getattr(principal, "user_id", None),
                    "client": (scope.get("client") or ("", 0))[0],
                }
                _log.info(_encode(line).decode())
