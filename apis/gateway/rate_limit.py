"""Fixed-window rate limits in Redis, per user and per client IP; over the limit answers 429.

On authenticated routes the counters are incremented by the auth middleware in the same Redis
round trip as the revocation check (`limit_commands` / `PRECOUNTED_KEY`); this middleware only
compares the counts. Public routes (login, register) do their own round trip here. Either way the
limiter fails open on a Redis error (a Redis outage must not stop exams), while the revocation
check fails closed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from litestar.middleware import ASGIMiddleware
from redis.exceptions import RedisError

from apis.gateway.principal import SCOPE_KEY
from core.errors import TooManyRequests

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

WINDOW_SECONDS = 60
# The auth middleware leaves the counts it incremented here: [(name, count | error, limit)].
PRECOUNTED_KEY = "dreamseed.rate_counts"
_log = logging.getLogger("dreamseed.rate_limit")


def rate_limited(scope: Scope) -> bool:
    """Whether the route of `scope` is subject to the limiter (`no_rate_limit` opts out)."""
    handler = scope.get("route_handler")
    return handler is None or not handler.opt.get("no_rate_limit")


def limit_commands(
    scope: Scope, settings: Any, user_id: str | None, pipe: Any, now: float
) -> list[tuple[str, int]]:
    """Queue INCR + EXPIRE of this request's counters on `pipe`; returns (name, limit) per counter
    in queue order (two commands each)."""
    window = int(now // WINDOW_SECONDS)
    client_ip = (scope.get("client") or ("unknown", 0))[0]
    limits = [("ip", f"rl:ip:{client_ip}:{window}", settings.rate_limit_per_ip)]
    if user_id is not None:
        limits.append(("user", f"rl:user:{user_id}:{window}", settings.rate_limit_per_user))
    for _, key, _limit in limits:
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
    return [(name, limit) for name, _, limit in limits]


class RateLimitMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = "no_rate_limit"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["app"].state.dreamseed
        now = time.time()
        counts: list[tuple[str, Any, int]] | None = scope.get(PRECOUNTED_KEY)  # type: ignore[misc]
        if counts is None:
            principal = scope.get(SCOPE_KEY)  # type: ignore[misc]
            pipe = state.redis.pipeline(transaction=False)
            limits = limit_commands(
                scope, state.settings, getattr(principal, "user_id", None), pipe, now
            )
            try:
                replies = (await pipe.execute())[::2]
            except RedisError as exc:
                replies = [exc] * len(limits)
            counts = [(n, c, lim) for (n, lim), c in zip(limits, replies, strict=True)]
        if any(not isinstance(count, int) for _, count, _ in counts):
            # Fail open: a Redis outage must not stop exams; the limiter resumes with Redis.
            state.metrics.rate_limited_skipped.inc()
            _log.warning("rate limiter skipped: Redis unavailable")
            await next_app(scope, receive, send)
            return
        for name, count, limit in counts:
            if count > limit:
                window = int(now // WINDOW_SECONDS)
                retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
                state.metrics.rate_limited.labels(name).inc()
                raise TooManyRequests(
                    f"rate limit of {limit} requests per minute per {name} exceeded; "
                    f"retry in {retry_after}s",
                    {"Retry-After": str(retry_after)},
                )
        await next_app(scope, receive, send)
