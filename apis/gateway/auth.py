"""Authentication middleware: a valid, unrevoked JWT access token or 401.

Routes opt out with `opt={"public": True}` (health, login, register, docs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.middleware import ASGIMiddleware
from redis.exceptions import RedisError

from apis.gateway.principal import SCOPE_KEY, Principal
from core.auth import decode_token, revocation_key
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


class AuthMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = "public"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["app"].state.dreamseed
        try:
            claims = decode_token(state.settings.jwt_secret, bearer_token(scope), "access")
            try:
                revoked = await state.redis.exists(revocation_key(claims.token_id))
            except RedisError as exc:
                # Fail closed: without the revocation list a logged-out token could pass.
                raise ServiceUnavailable(
                    "cannot check token revocation (Redis unavailable); retry shortly",
                    {"Retry-After": "1"},
                ) from exc
            if revoked:
                raise Unauthenticated("token has been revoked (logged out)")
        except Unauthenticated as exc:
            exc.headers["WWW-Authenticate"] = "Bearer"
            raise
        scope[SCOPE_KEY] = Principal(  # type: ignore[literal-required]
            claims.user_id, claims.role, claims.token_id, claims.expires_at
        )
        await next_app(scope, receive, send)
