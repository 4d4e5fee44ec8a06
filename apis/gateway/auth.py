"""Authentication middleware: a valid, unrevoked JWT access token or 401.

Routes opt out with `opt={"public": True}` (health, login, register, docs).

One Redis round trip per request: the revocation check (EXISTS) and, unless the route opts out
of rate limiting, the limiter's counters (INCR/EXPIRE) go in one non-transactional pipeline
executed with `raise_on_error=False`, so each reply is judged on its own: an error or no reply for
the revocation check fails closed (503), an error on a counter fails the limiter open (see
`rate_limit`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar.middleware import ASGIMiddleware
from redis.exceptions import RedisError

from apis.gateway.principal import SCOPE_KEY, Principal
from apis.gateway.rate_limit import PRECOUNTED_KEY, limit_commands, rate_limited
from apis.gateway.timing import stage
from core.auth import decode_token_cached, revocation_key
from core.errors import ServiceUnavailable, Unauthenticated

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send


def bearer_token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
            return token.strip()
    raise Unauthenticated("missing Authorization header with a Bearer access token")


def _revocation_unavailable(cause: BaseException | None) -> ServiceUnavailable:
    # Fail closed: without the revocation list a logged-out token could pass.
    exc = ServiceUnavailable(
        "cannot check token revocation (Redis unavailable); retry shortly", {"Retry-After": "1"}
    )
    exc.__cause__ = cause
    return exc


class AuthMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = "public"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["app"].state.dreamseed
        try:
            with stage("jwt"):
                claims = decode_token_cached(
                    state.settings.jwt_secret, bearer_token(scope), "access"
                )
            pipe = state.redis.pipeline(transaction=False)
            pipe.exists(revocation_key(claims.token_id))
            limits: list[tuple[str, int]] | None = None
            if rate_limited(scope):
                limits = limit_commands(scope, state.settings, claims.user_id, pipe, time.time())
            try:
                with stage("gateway_redis"):
                    replies: list[Any] = await pipe.execute(raise_on_error=False)
            except RedisError as exc:
                raise _revocation_unavailable(exc) from exc
            revoked = replies[0] if replies else None
            if not isinstance(revoked, int):
                raise _revocation_unavailable(revoked if isinstance(revoked, Exception) else None)
            if revoked:
                raise Unauthenticated("token has been revoked (logged out)")
        except Unauthenticated as exc:
            exc.headers["WWW-Authenticate"] = "Bearer"
            raise
        if limits is not None:
            counts = replies[1::2]
            scope[PRECOUNTED_KEY] = [  # type: ignore[literal-required]
                (name, count, limit) for (name, limit), count in zip(limits, counts, strict=True)
            ]
        scope[SCOPE_KEY] = Principal(  # type: ignore[literal-required]
            claims.user_id, claims.role, claims.token_id, claims.expires_at
        )
        await next_app(scope, receive, send)
