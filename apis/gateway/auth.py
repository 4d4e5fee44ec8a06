"""Authentication middleware: a valid, unrevoked JWT access token or 401.

Routes opt out with `opt={"public": True}` (health, login, register, docs). The xAPI routes
(`opt={"xapi": True}`) authenticate themselves (apis/lrs/protocol.py): LRS clients send HTTP
Basic credentials, possibly inside a form body (the xAPI alternate request syntax).

No Redis round trip on the request path: the signature is verified once per token and process
(`core.auth.decode_token_cached`), revocation is looked up in this process's mirror of the
revoked-token list (`revocations`), which fails closed (503) whenever it is not live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from apis.gateway.principal import SCOPE_KEY, Principal
from apis.gateway.timing import stage
from apis.scope import put
from core.auth import decode_token_cached
from core.errors import ServiceUnavailable, Unauthenticated

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from apis.gateway.revocations import RevocationMirror


def bearer_token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <access token>'")
            return token.strip()
    raise Unauthenticated("missing Authorization header with a Bearer access token")


def revocation_unavailable(cause: BaseException | None) -> ServiceUnavailable:
    # Fail closed: without the revocation list a logged-out token could pass.
    exc = ServiceUnavailable(
        "cannot check token revocation (Redis unavailable); retry shortly", {"Retry-After": "1"}
    )
    exc.__cause__ = cause
    return exc


def principal_from_token(state: Any, token: str) -> Principal:
    """The caller a bearer access token names, once verified and checked against revocations."""
    try:
        with stage("jwt"):
            claims = decode_token_cached(state.settings.jwt_secret, token, "access")
        revocations: RevocationMirror = state.revocations
        if not revocations.live:
            raise revocation_unavailable(revocations.error)
        if revocations.is_revoked(claims):
            raise Unauthenticated("token has been revoked (logged out)")
    except Unauthenticated as exc:
        exc.headers["WWW-Authenticate"] = "Bearer"
        raise
    return Principal(claims.user_id, claims.role, claims.token_id, claims.expires_at)


class AuthMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "public"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get("xapi"):
            await next_app(scope, receive, send)  # authenticated by the LRS layer
            return
        state = scope["app"].state.dreamseed
        try:
            token = bearer_token(scope)
        except Unauthenticated as exc:
            exc.headers["WWW-Authenticate"] = "Bearer"
            raise
        put(scope, SCOPE_KEY, principal_from_token(state, token))
        await next_app(scope, receive, send)
