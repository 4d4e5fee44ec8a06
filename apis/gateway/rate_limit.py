"""Fixed-window rate limits per user and per client IP, shared through Redis; over the limit 429.

Counting costs a request no Redis round trip: each process counts locally and a background task
merges its counts into Redis every `FLUSH_SECONDS` (one pipeline of INCRBY + EXPIRE), learning the
window's total across processes in the same reply. A request is judged on that total plus what
this process counted since. Across N processes a client can overshoot a limit by what the others
admit within one flush interval -- the usual price of a shared limiter off the request path.

Fail open: if a flush fails (Redis down, out of memory) the limiter steps aside until a flush
succeeds again -- a Redis outage must not stop exams. (Revocation, in `revocations`, fails closed.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from apis.gateway.principal import SCOPE_KEY
from core.errors import TooManyRequests

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send
    from redis.asyncio import Redis

WINDOW_SECONDS = 60
FLUSH_SECONDS = 0.05
_log = logging.getLogger("dreamseed.rate_limit")


class RateCounters:
    """Window counters: this process's unflushed counts plus the last known shared totals."""

    def __init__(self, redis: Redis, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._redis = redis
        self._flush_seconds = flush_seconds
        self._pending: dict[str, int] = {}
        self._inflight: dict[str, int] = {}  # counts of the flush awaiting Redis's reply
        self._shared: dict[str, int] = {}  # key -> window total in Redis at the last flush
        self._window = -1  # the window whose totals `_shared` holds
        self.available = True  # False from a failed flush until a successful one
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def hit(self, key: str) -> int | None:
        """Count one request on `key`; its count in the window, or None while unavailable."""
        self._pending[key] = self._pending.get(key, 0) + 1
        self._wake.set()
        if not self.available:
            return None
        return self._shared.get(key, 0) + self._inflight.get(key, 0) + self._pending[key]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Flush what is pending and end the flusher (never cancelled mid-flush: a cancelled
        Redis pipeline can leave its connection unusable for the client's shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5)

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            if not self._stopping:
                await asyncio.sleep(self._flush_seconds)  # let a batch gather
            self._wake.clear()
            with contextlib.suppress(Exception):  # flush logs and records its own failure
                await self.flush()

    async def flush(self) -> None:
        """Merge the pending counts into Redis and learn the shared totals."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        self._inflight = pending
        pipe = self._redis.pipeline(transaction=False)
        for key, n in pending.items():
            pipe.incrby(key, n)
            pipe.expire(key, WINDOW_SECONDS * 2)
        try:
            replies = await pipe.execute()
        except Exception as exc:
            self._inflight = {}
            if self.available:
                _log.warning("rate limiter skipped until Redis answers again: %s", exc)
            self.available = False
            self._shared.clear()
            raise
        window = int(time.time() // WINDOW_SECONDS)
        if window != self._window:  # totals of past windows are of no use any more
            suffix = f":{window}"
            self._shared = {k: v for k, v in self._shared.items() if k.endswith(suffix)}
            self._window = window
        for key, total in zip(pending, replies[::2], strict=True):
            self._shared[key] = int(total)
        self._inflight = {}
        self.available = True


def window_keys(scope: Scope, user_id: str | None, now: float) -> list[tuple[str, str]]:
    """(counter name, Redis key) of the request's counters in the current window."""
    window = int(now // WINDOW_SECONDS)
    client_ip = (scope.get("client") or ("unknown", 0))[0]
    keys = [("ip", f"rl:ip:{client_ip}:{window}")]
    if user_id is not None:
        keys.append(("user", f"rl:user:{user_id}:{window}"))
    return keys


class RateLimitMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "no_rate_limit"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["app"].state.dreamseed
        counters: RateCounters = state.rate_counters
        principal = scope.get(SCOPE_KEY)
        now = time.time()
        limits: dict[str, Any] = {
            "ip": state.settings.rate_limit_per_ip,
            "user": state.settings.rate_limit_per_user,
        }
        for name, key in window_keys(scope, getattr(principal, "user_id", None), now):
            count = counters.hit(key)
            if count is None:
                state.metrics.rate_limited_skipped.inc()
                break  # fail open
            if count > limits[name]:
                window = int(now // WINDOW_SECONDS)
                retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
                state.metrics.rate_limited.labels(name).inc()
                raise TooManyRequests(
                    f"rate limit of {limits[name]} requests per minute per {name} exceeded; "
                    f"retry in {retry_after}s",
                    {"Retry-After": str(retry_after)},
                )
        await next_app(scope, receive, send)
