"""The revoked-token list, mirrored in this process so a request needs no Redis round trip.

Redis stays the truth: logout writes `auth:revoked:<token id>` (TTL: the token's remaining life)
and publishes the id on `auth:revocations`. Every API process mirrors the set:

1. subscribe to the channel, THEN load every `auth:revoked:*` key (so an id published while
   loading is not missed), and only then report itself live;
2. add each published id as it arrives; drop ids whose token has expired anyway.

Fail closed: while the mirror is not live (not loaded yet, subscription lost, Redis down) every
authenticated request is refused with 503, exactly as the per-request EXISTS check it replaces
did. A lost connection is noticed at once (the socket closes) and a silent one within
`HEALTH_SECONDS` (the subscription is pinged). Logout in this process applies at once; in the
other processes, as soon as they read the published message (a loopback/LAN hop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis

from core.auth import REVOKED_PREFIX

CHANNEL = "auth:revocations"
HEALTH_SECONDS = 1.0
RETRY_SECONDS = 0.5
PRUNE_SECONDS = 60.0
_log = logging.getLogger("dreamseed.revocations")


def message(token_id: str, expires_at: float) -> str:
    """What logout publishes: `<token id> <unix expiry>`."""
    return f"{token_id} {expires_at:.0f}"


class RevocationMirror:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._ids: dict[str, float] = {}  # token id -> unix time after which it expired anyway
        self._live = False
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._went_live = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._ids

    def add(self, token_id: str, expires_at: float) -> None:
        """A revocation made by this process (logout): effective here at once."""
        self._ids[token_id] = expires_at

    async def start(self, wait: float = 2.0) -> None:
        """Start mirroring; wait up to `wait` seconds for the first load (a process that starts
        with Redis down serves 503 until it is back, then goes live by itself)."""
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._went_live.wait(), wait)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._live = False

    async def _run(self) -> None:
        while not self._stop.is_set():
            redis = Redis.from_url(
                self._redis_url,
                decode_responses=True,
                health_check_interval=HEALTH_SECONDS,
                socket_connect_timeout=RETRY_SECONDS,
            )
            try:
                await self._mirror(redis)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._live or self.error is None:
                    _log.warning("revocation list not mirrored (%s): requests get 503", exc)
                self._live, self.error = False, exc
            finally:
                self._live = False
                with contextlib.suppress(Exception):
                    await redis.aclose()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_SECONDS)

    async def _mirror(self, redis: Redis) -> None:
        async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(CHANNEL)
            self._ids = await self._load(redis)
            self._live, self.error = True, None
            self._went_live.set()
            pruned = time.time()
            while True:
                # Raises when the connection is lost; the health check pings a silent one.
                found = await pubsub.get_message(timeout=HEALTH_SECONDS)
                if found is not None and isinstance(found.get("data"), str):
                    token_id, _, expires = found["data"].partition(" ")
                    self._ids[token_id] = float(expires or time.time() + 86_400)
                if time.time() - pruned > PRUNE_SECONDS:
                    now = pruned = time.time()
                    self._ids = {k: v for k, v in self._ids.items() if v > now}

    @staticmethod
    async def _load(redis: Redis) -> dict[str, float]:
        ids: dict[str, float] = {}
        keys = [key async for key in redis.scan_iter(match=REVOKED_PREFIX + "*", count=1000)]
        now = time.time()
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            pipe = redis.pipeline(transaction=False)
            for key in batch:
                pipe.pttl(key)
            for key, ttl_ms in zip(batch, await pipe.execute(), strict=True):
                if isinstance(ttl_ms, int) and ttl_ms != -2:  # -2: expired meanwhile
                    ids[key[len(REVOKED_PREFIX) :]] = now + (
                        ttl_ms / 1000 if ttl_ms > 0 else 86_400
                    )
        return ids
