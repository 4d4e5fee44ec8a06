"""The dashboards ASGI app: login/logout, an index of pages, and one mounted Shiny app per page.

Routes
    GET  /                      pages the signed-in user may open (HTML, or JSON on request)
    GET  /login, POST /login    sign in (form or JSON: email, password) → `ds_session` cookie
    GET|POST /logout            revoke the token (Redis) and clear the cookie
    GET  /health                PostgreSQL + Redis reachability (200 / 503)
    GET  /static/plotly.min.js  plotly.js from the installed plotly package (never a CDN)
    GET  /static/dreamseed.css|js  the theme and the table/filter script (dashboards/static/)
    /pages/<name>/              a Shiny app behind `PageGate` (policy: 403 denied, 503 down)

Everything but /login, /logout, /health and /static/ requires a valid access token
(`dashboards.auth.AuthMiddleware`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import plotly
from psycopg import Error as PsycopgError
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import DomainError
from core.settings import Settings
from dashboards.access import PolicyUnavailable, check_pages, load_subject, open_policy
from dashboards.auth import (
    COOKIE_NAME,
    AuthMiddleware,
    current_user,
    error_response,
    safe_next,
    token_from_headers,
)
from dashboards.pages import PAGES
from dashboards.pages.base import PageContext, PageGate, PageSpec, app_root
from dashboards.resources import Resources
from dashboards.theme import STATIC_DIR, STATIC_FILES, NavItem, document, index_body, login_page
from governance import PolicyEngine

log = logging.getLogger(__name__)

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def create_app(
    settings: Settings,
    *,
    policy: PolicyEngine | None = None,
    pages: Sequence[PageSpec] = PAGES,
) -> Starlette:
    """Build the dashboards app. The policy bundle is loaded (and self-checked) now, so a
    broken bundle fails start-up; connections open on first use and close on shutdown."""
    if not settings.jwt_secret:
        raise RuntimeError("DREAMSEED_JWT_SECRET is empty: run `dreamseed up` or set it")
    engine = policy or open_policy(settings)
    resources = Resources(settings)
    ctx = PageContext(settings=settings, resources=resources, policy=engine, pages=tuple(pages))
    views = _Views(ctx, pages)

    routes: list[BaseRoute] = [
        Route("/", views.index, methods=["GET"]),
        Route("/login", views.login_form, methods=["GET"]),
        Route("/login", views.login, methods=["POST"]),
        Route("/logout", views.logout, methods=["GET", "POST"]),
        Route("/health", views.health, methods=["GET"]),
        Route("/static/plotly.min.js", views.plotly_js, methods=["GET", "HEAD"]),
        Route("/static/{name}", views.static_file, methods=["GET", "HEAD"]),
    ]
    routes += [Mount(spec.path, app=PageGate(spec, spec.build(ctx), ctx)) for spec in pages]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await resources.close()
            await engine.aclose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(AuthMiddleware, resources=resources),
        ],
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    return app


class SecurityHeadersMiddleware:
    """Conservative response headers on every HTTP response."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


class _Views:
    def __init__(self, ctx: PageContext, pages: Sequence[PageSpec]) -> None:
        self.ctx = ctx
        self.pages = tuple(pages)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    # -- index --------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        user = current_user(request.scope)
        if user is None:
            return error_response(401, "sign in required")
        try:
            subject = await load_subject(self.ctx.resources, user)
            answers = await check_pages(self.ctx.policy, subject, [s.name for s in self.pages])
            for answer in answers:
                if not await self.ctx.resources.record_decision(answer.decision):
                    return error_response(503, "decision audit log unavailable")
            allowed = [s for s, a in zip(self.pages, answers, strict=True) if a.allowed]
        except PolicyUnavailable as exc:
            log.error("policy unavailable for the index: %s", exc)
            return error_response(503, "access policy unavailable")
        except (PsycopgError, OSError) as exc:
            log.error("cannot load subject for the index: %s", exc)
            return error_response(503, "database unavailable")
        root = app_root(request.scope)
        if _wants_json(request):
            return JSONResponse(
                {
                    "role": user.role,
                    "pages": [
                        {"name": s.name, "title": s.title, "path": f"{root}{s.path}/"}
                        for s in allowed
                    ],
                }
            )
        nav = [NavItem(s.name, s.title, f"{root}{s.path}/", s.description) for s in allowed]
        return HTMLResponse(
            document(
                "DreamSeed dashboards",
                index_body(user.role, nav),
                root=root,
                nav=nav,
                role=user.role,
            )
        )

    # -- login / logout -----------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        next_path = safe_next(request.query_params.get("next"), app_root(request.scope) + "/")
        return HTMLResponse(login_page(app_root(request.scope), next_path, error=None))

    async def login(self, request: Request) -> Response:
        root = app_root(request.scope)
        as_form = _is_form(request)
        data: dict[str, Any]
        try:
            if as_form:
                data = dict(await request.form())
            else:
                raw = await request.json()
                data = raw if isinstance(raw, dict) else {}
        except ValueError:
            data = {}
        email = str(data.get("email") or "").strip().lower()
        password = str(data.get("password") or "")
        next_path = safe_next(str(data.get("next") or ""), root + "/")

        def fail(status: int, message: str) -> Response:
            if as_form:
                return HTMLResponse(
                    login_page(root, next_path, error=message, email=email), status_code=status
                )
            return error_response(status, message)

        if not email or not password:
            return fail(400, "email and password are required")
        client = request.client.host if request.client else "unknown"
        try:
            session = await self.ctx.resources.auth().sign_in(
                email, password, client=client, with_refresh=False
            )
        except DomainError as exc:  # wrong credentials 401, throttled 429, busy 503
            refused = fail(exc.status, exc.message)
            refused.headers.update(exc.headers)
            return refused
        except (RedisError, PsycopgError, OSError) as exc:
            log.error("sign-in failed on a backing service: %s", exc)
            return fail(503, "sign-in is unavailable right now; try again shortly")

        lifetime = timedelta(minutes=self.settings.access_token_minutes)
        token, claims = session.access_token, session.access
        response: Response
        if as_form:
            response = RedirectResponse(next_path, status_code=303)
        else:
            response = JSONResponse(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_at": claims.expires_at.isoformat(),
                    "role": claims.role,
                }
            )
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(lifetime.total_seconds()),
            path=root + "/",
            httponly=True,
            samesite="strict",
            secure=self.settings.environment not in ("development", "test"),
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def logout(self, request: Request) -> Response:
        root = app_root(request.scope)
        token = token_from_headers(Headers(scope=request.scope))
        if token:
            try:  # an expired or invalid token has nothing left to revoke
                await self.ctx.resources.auth().sign_out_token(token)
            except (RedisError, OSError) as exc:
                log.error("cannot revoke token: %s", exc)
                return error_response(503, "sign-out is unavailable right now; try again")
        response: Response
        if request.method == "GET" or _is_form(request):
            response = RedirectResponse(f"{root}/login", status_code=303)
        else:
            response = JSONResponse({"status": "signed out"})
        response.delete_cookie(COOKIE_NAME, path=root + "/", httponly=True, samesite="strict")
        return response

    # -- health, static -----------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await self.ctx.resources.fetch_all("select 1")
            checks["postgresql"] = "ok"
        except (PsycopgError, OSError) as exc:
            checks["postgresql"] = f"down: {type(exc).__name__}"
        try:
            await self.ctx.resources.redis().ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"down: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "policy_revision": self.ctx.policy.revision}
            | checks,
            status_code=200 if healthy else 503,
        )

    async def static_file(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            return error_response(404, f"no static file named {name!r}")
        return FileResponse(
            STATIC_DIR / name,
            media_type=media_type,
            headers={"cache-control": "public, max-age=3600"},
        )

    async def plotly_js(self, request: Request) -> Response:
        return FileResponse(
            PLOTLY_JS,
            media_type="application/javascript",
            headers={"cache-control": "public, max-age=86400"},
        )


__all__ = ["PLOTLY_JS", "create_app"]
