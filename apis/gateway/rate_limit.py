"""Fixed-window rate limits in Redis, per user and per client IP; over the limit answers 429."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from litestar.middleware import ASGIMiddleware
from redis.exceptions import RedisError

from apis.gateway.principal import SCOPE_KEY
from core.errors import TooManyRequests

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

WINDOW_SECONDS = 60
_log = logging.getLogger("dreamseed.rate_limit")


class RateLimitMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]
    exclude_opt_key = "no_rate_limit"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["app"].state.dreamseed
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
        client_ip = (scope.get("client") or ("unknown", 0))[0]
        principal = scope.get(SCOPE_KEY)  # type: ignore[misc]
        limits = [("ip", f"rl:ip:{client_ip}:{window}", state.settings.rate_limit_per_ip)]
        if principal is not None:
            limits.append(
                (
                    "user",
                    f"rl:user:{principal.user_id}:{window}",
                    state.settings.rate_limit_per_user,
                )
            )
        pipe = state.redis.pipeline(transaction=False)
        for _, key, _limit in limits:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
        try:
            counts = (await pipe.execute())[::2]
        except RedisError:
            # Fail open: a Redis outage must not stop exams; the limiter resumes with Redis.
            state.metrics.rate_limited.labels("skipped_redis_down").inc()
            _log.warning("rate limiter skipped: Redis unavailable")
            await next_app(scope, receive, send)
            return
        for (name, _, limit), count in zip(limits, counts, strict=True):
            if count > limit:
                state.metrics.rate_limited.labels(name).inc()
                raise TooManyRequests(
                    f"rate limit of {limit} requests per minute per {name} exceeded; "
                    f"retry in {retry_after}s",
                    {"Retry-After": str(retry_after)},
                )
        await next_app(scope, receive, send)
