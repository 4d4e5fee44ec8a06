"""Operational routes: the API root (links for a newcomer), liveness, readiness (PostgreSQL,
Redis, S3), Prometheus metrics."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apis.state import AppState

OPS = {"public": True, "no_rate_limit": True}
LIVE = {**OPS, "always_available": True}  # answers whatever the backing services do
PROBE_SECONDS = 2.0  # each dependency answers within this, or counts as down


async def _check_postgres(state: AppState) -> str:
    # A round trip every time, never a remembered state: the pool drops a connection the
    # server has closed (a restart) and this waits for a live one up to the probe's limit.
    async with asyncio.timeout(PROBE_SECONDS), state.pool.connection() as conn:
        await conn.execute("select 1")
    return "ok"


async def _check_redis(state: AppState) -> str:
    async with asyncio.timeout(PROBE_SECONDS):
        await state.redis.ping()
    if state.revocations is not None and not state.revocations.live:
        raise RuntimeError("the revoked-token list is not mirrored yet")
    return "ok"


async def _check_s3(state: AppState) -> str:
    if not state.settings.s3_endpoint:
        return "ok (local lake directory)"
    async with httpx.AsyncClient(timeout=PROBE_SECONDS) as client:
        # Any HTTP answer (even 403 to an anonymous request) proves the gateway is serving.
        await client.get(state.settings.s3_endpoint)
    return "ok"


class Links(msgspec.Struct):
    """Where to go from the API root."""

    name: str
    docs: str
    openapi: str
    health: str
    ready: str
    metrics: str
    login: str


class Readiness(msgspec.Struct):
    status: str  # "ready" or "not ready"
    checks: dict[str, str]  # per dependency: "ok…" or "failed: why"


class SystemController(Controller):
    tags = ["system"]
    include_in_schema = True

    @get("/", opt=LIVE)
    async def root(self) -> Links:
        """The API root: links to the docs, the OpenAPI description and the health routes."""
        return Links(
            name="DreamSeed API",
            docs="/schema/docs",
            openapi="/schema/openapi.json",
            health="/health",
            ready="/ready",
            metrics="/metrics",
            login="/api/v1/auth/login",
        )

    @get("/health", opt=LIVE)
    async def health(self) -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @get(
        "/ready",
        opt=OPS,
        responses={
            503: ResponseSpec(Readiness, description="Not ready: the failed checks say why.")
        },
    )
    async def ready(self, app_state: AppState) -> Response[Readiness]:
        """Readiness: PostgreSQL, Redis and S3 all answer (503 naming the failing one otherwise)."""
        names = ("postgresql", "redis", "s3")
        results = await asyncio.gather(
            _check_postgres(app_state),
            _check_redis(app_state),
            _check_s3(app_state),
            return_exceptions=True,
        )
        checks = {
            name: (f"failed: {r or type(r).__name__}" if isinstance(r, BaseException) else r)
            for name, r in zip(names, results, strict=True)
        }
        ok = not any(isinstance(r, BaseException) for r in results)
        return Response(
            Readiness("ready" if ok else "not ready", checks),
            status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
        )

    @get("/metrics", opt=LIVE, media_type="text/plain")
    async def metrics(self, app_state: AppState) -> Response[bytes]:
        """Prometheus exposition format."""
        return Response(generate_latest(app_state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
