"""The DreamSeed API: one Litestar app holding every service router (`dreamseed serve`).

Request path: RequestContext (request id, access log, metrics) → Auth (JWT, revocation)
→ RateLimit (Redis) → InputHygiene (size, encoding, NUL, depth, strict body types) → ReadRetry
(a read runs once more if PostgreSQL was lost under it) → route guard (policy) → controller →
service (one transaction + outbox).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis

from apis.analytics.controllers import AnalyticsController
from apis.assignments.controllers import AssignmentsController
from apis.classes import services as class_services
from apis.classes.controllers import ClassesController
from apis.content.controllers import ItemsController
from apis.deps import provide_state
from apis.errors import EXCEPTION_HANDLERS
from apis.exams.controllers import AttemptsController, ExamsController, ResultsController
from apis.gateway.auth import AuthMiddleware
from apis.gateway.input_hygiene import MAX_BODY_BYTES, InputHygieneMiddleware
from apis.gateway.metrics import Metrics
from apis.gateway.policy import PolicyGate, policy_guard
from apis.gateway.rate_limit import RateCounters, RateLimitMiddleware
from apis.gateway.read_retry import ReadRetryMiddleware
from apis.gateway.request_context import RequestContextMiddleware
from apis.gateway.revocations import RevocationMirror
from apis.governance.controllers import GovernanceController
from apis.learning.controllers import (
    CoursesController,
    LessonsController,
    MediaController,
    UnitsController,
)
from apis.lrs.controllers import (
    ActivityProfileController,
    AgentProfileController,
    CredentialsController,
    DefinitionsController,
    StateController,
    StatementsController,
)
from apis.notifications.controllers import NotificationsController
from apis.openapi import DocumentedJson, DocumentedYaml, OfflineSwaggerUI
from apis.privacy.controllers import PrivacyController
from apis.state import AppState
from apis.system.controllers import SystemController
from apis.tutor.controllers import TutorController
from apis.users.controllers import AuthController, UsersController
from core.db import create_pool
from core.passwords import PasswordWorkers
from core.relay import run_relay
from core.sessions import AuthService
from core.settings import Settings
from governance import load_engine
from governance.decision_log import DecisionLog

SERVICES: dict[str, Sequence[type]] = {
    "users": (AuthController, UsersController),
    "classes": (ClassesController,),
    "content": (ItemsController,),
    "exams": (ExamsController, AttemptsController, ResultsController),
    "learning": (CoursesController, UnitsController, LessonsController, MediaController),
    "assignments": (AssignmentsController,),
    "notifications": (NotificationsController,),
    "analytics": (AnalyticsController,),
    "governance": (GovernanceController,),
    "privacy": (PrivacyController,),
    "tutor": (TutorController,),
    "lrs": (
        StatementsController,
        StateController,
        ActivityProfileController,
        AgentProfileController,
        DefinitionsController,
        CredentialsController,
    ),
}
SWAGGER_ASSETS = "/schema/assets"
API_DESCRIPTION = """Adaptive exams, item banks, classes, courses and the tutor.

Sign in with `POST /api/v1/auth/login` and send `Authorization: Bearer <access_token>`; only the
operations without a lock are public. Every error is `{"error": {"status": …, "message": …,
"detail"?: …}}`, and the message names the field at fault.

Input rules for every operation: a body of at most 1 MiB (the items import: 10 MiB), UTF-8 text,
JSON nested at most 64 levels, no NUL (U+0000) in any string, strict types (`"1"` is not an
integer)."""


def _openapi() -> OpenAPIConfig:
    # The docs page loads Swagger UI 5 from the swagger-ui-bundle-v2 wheel: it works offline.
    # The plugins complete the schema (errors, statuses, security per operation: apis/openapi.py).
    return OpenAPIConfig(
        title="DreamSeed API",
        version="0.1.0",
        description=API_DESCRIPTION,
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                # LRS clients: a key and secret issued per integration (/api/v1/lrs/credentials).
                "basic": SecurityScheme(type="http", scheme="basic"),
            }
        ),
        render_plugins=[
            OfflineSwaggerUI(SWAGGER_ASSETS, spec_url="/schema/openapi.json"),
            DocumentedJson(),
            DocumentedYaml(),
        ],
        path="/schema",
        # The API description is public: no token, no rate limit, no policy action.
        openapi_router=Router(
            "/schema",
            route_handlers=[],
            opt={"public": True, "no_rate_limit": True, "always_available": True},
            include_in_schema=False,
        ),
    )


# Garbage collector settings for a latency-bound service (measured in bench/exams/README.md):
# the default young-generation threshold (700) ran a ≈ 1.3 ms collection every few requests, and
# full collections walked the whole start-up heap (app, routes, policy bundle, numpy): pauses of
# 100-200 ms, each one a p99 outlier. Freezing the start-up heap takes it out of every later
# collection; a larger young threshold collects the same garbage in fewer, cheaper passes.
GC_THRESHOLDS = (5000, 20, 1000)


def _tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


_shutdown_log = logging.getLogger(__name__)
SHUTDOWN_STEP_SECONDS = 10.0


async def _bounded(step: str, closing: Awaitable[object]) -> None:
    """Await one shutdown step for at most SHUTDOWN_STEP_SECONDS; a stuck step is logged."""
    try:
        await asyncio.wait_for(closing, SHUTDOWN_STEP_SECONDS)
    except TimeoutError:
        _shutdown_log.warning("shutdown: %s did not finish in %.0f s", step, SHUTDOWN_STEP_SECONDS)


def create_app(
    settings: Settings | None = None,
    services: Sequence[str] | None = None,
    *,
    relay: bool = True,
) -> Litestar:
    """Build the API; `services` limits it to some routers (each service can run alone).

    `relay` runs the outbox relay (outbox → Redis Streams) as a background task of this process.
    """
    settings = settings or Settings.load()
    chosen = list(services or SERVICES)
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown services {unknown}; choose from {sorted(SERVICES)}")
    # Load the policy bundle now: a broken policy fails start-up with its file and line.
    engine = load_engine(settings.opa_url or None, settings.policy_dir)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = create_pool(settings.database_url)
        await pool.open(wait=True, timeout=10)
        redis: Redis = Redis.from_url(settings.redis_url, decode_responses=True)
        # Batches gather for 200 ms: one write carries many requests' decisions, and the writer
        # wakes 5 times a second rather than once per request (its CPU is the requests' CPU).
        decision_log = DecisionLog(settings.database_url, linger=0.2)
        await decision_log.start()
        metrics = Metrics()
        revocations = RevocationMirror(settings.redis_url)
        await revocations.start()
        rate_counters = RateCounters(redis)
        await rate_counters.start()
        passwords = PasswordWorkers(settings.password_workers, settings.password_queue_limit)
        auth = AuthService(
            settings, pool.connection, redis, passwords, on_published=revocations.apply
        )

        async def class_ids_of(user_id: str) -> list[str]:
            # the policy asks only during requests, when `state` (below) exists
            return await class_services.class_ids_of(state, user_id)

        policy = PolicyGate(engine, class_ids_of, decision_log.record, metrics)
        state = AppState(settings, pool, redis, policy, metrics, revocations, rate_counters, auth)
        app.state.dreamseed = state
        stop = asyncio.Event()
        relay_task = (
            asyncio.create_task(
                run_relay(pool, redis, stop, stream_prefix=settings.realtime.stream_prefix)
            )
            if relay
            else None
        )
        _tune_gc()
        try:
            yield
        finally:
            stop.set()
            if relay_task is not None:
                await relay_task
            # Each step bounded: a step stuck on a peer (a hung model stream, a lost Redis
            # connection) must not keep the process from exiting; it is logged and skipped.
            await _bounded("decision log", decision_log.stop())
            await _bounded("CAT cache writes", state.exams.cat.drain())
            await _bounded("tutor", state.tutor.aclose())
            await _bounded("notification wake-ups", state.wakes.aclose())
            await _bounded("rate counters", rate_counters.stop())
            await _bounded("revocation mirror", revocations.stop())
            passwords.close()
            await _bounded("redis", redis.aclose())
            await _bounded("database pool", pool.close())
            await _bounded("policy engine", engine.aclose())

    handlers: list[Any] = [SystemController]
    handlers += [c for name in chosen for c in SERVICES[name]]
    handlers.append(
        create_static_files_router(
            path=SWAGGER_ASSETS,
            directories=[Path(swagger_ui_bundle.swagger_ui_path)],
            opt={"public": True, "no_rate_limit": True},
            include_in_schema=False,
        )
    )
    return Litestar(
        route_handlers=[Router("/", route_handlers=handlers)],
        lifespan=[lifespan],
        middleware=[
            RequestContextMiddleware(),
            AuthMiddleware(),
            RateLimitMiddleware(),
            InputHygieneMiddleware(),
            ReadRetryMiddleware(),
        ],
        request_max_body_size=MAX_BODY_BYTES,
        guards=[policy_guard],
        dependencies={"app_state": Provide(provide_state, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=_openapi(),
        state=State({"dreamseed": None}),
        debug=False,
    )
