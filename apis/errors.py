"""One error shape for every 4xx/5xx: `{"error": {"status": int, "message": str, "detail": …}}`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from psycopg import OperationalError
from redis.exceptions import RedisError

from apis.scope import put
from apis.validation import humanize
from core.db import is_connection_loss
from core.errors import DomainError

_log = logging.getLogger("dreamseed.api")


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, detail: Any = None
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": status, "message": message}
    if detail is not None:
        body["detail"] = detail
    return Response({"error": body}, status_code=status, headers=headers)


XAPI_PREFIX = "/xapi"
XAPI_VERSION_HEADER = {"X-Experience-API-Version": "1.0.3"}


def _with_xapi(request: Request[Any, Any, Any], headers: dict[str, str] | None) -> Any:
    """The LRS answers every request, errors too, with its xAPI version (the spec requires it)."""
    path = request.scope.get("path", "")
    if not path.startswith(XAPI_PREFIX):
        return headers
    out = {**(headers or {}), **XAPI_VERSION_HEADER}
    if path.startswith(f"{XAPI_PREFIX}/statements"):  # on every answer of GET statements
        out["X-Experience-API-Consistent-Through"] = datetime.now(UTC).isoformat()
    return out


def domain_error_handler(
    request: Request[Any, Any, Any], exc: DomainError
) -> Response[dict[str, Any]]:
    return error_response(exc.status, exc.message, _with_xapi(request, exc.headers or None))


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    extra = exc.extra if isinstance(exc.extra, list) else None
    parts = []
    for item in extra or []:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or "body"
            item["message"] = humanize(str(item.get("message", "")), where=str(where))
            parts.append(item["message"])
    message = "; ".join(parts) if parts else str(exc.detail)
    return error_response(400, message, _with_xapi(request, None), detail=extra)


def http_error_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    return error_response(exc.status_code, str(exc.detail), _with_xapi(request, exc.headers))


def redis_error_handler(
    request: Request[Any, Any, Any], exc: RedisError
) -> Response[dict[str, Any]]:
    _log.warning("Redis unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503, "a backing service (Redis) is unavailable; retry shortly", {"Retry-After": "1"}
    )


# Set in the request's scope when PostgreSQL was lost mid-request: the read-retry middleware
# (gateway/read_retry.py) may then run an idempotent request once more.
DATABASE_LOST = "dreamseed.database_lost"


def database_error_handler(
    request: Request[Any, Any, Any], exc: OperationalError
) -> Response[dict[str, Any]]:
    """PostgreSQL restarting, failing over or out of connections: the transaction was rolled
    back, so the client may retry; a 503, never a 500."""
    if not is_connection_loss(exc):
        return internal_error_handler(request, exc)
    _log.warning("PostgreSQL unavailable on %s %s: %r", request.method, request.url.path, exc)
    put(request.scope, DATABASE_LOST, True)
    return error_response(
        503, "the database is unavailable (restarting or failing over); retry shortly",
        {"Retry-After": "2"},
    )  # fmt: skip


def internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the request id in X-Request-ID identifies it")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    RedisError: redis_error_handler,
    OperationalError: database_error_handler,
    Exception: internal_error_handler,
}
