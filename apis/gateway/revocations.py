"""The revoked-token list, mirrored in this process so a request needs no Redis round trip.

Redis stays the truth (`core.revocation`): every door that revokes (API, dashboards and CLI
logout, account administration) writes the key and publishes it on `auth:revocations` in one
MULTI. Every API process mirrors the list:

1. subscribe to the channel, THEN load every `auth:revoked:*` and `auth:revoked-user:*` key (so an
   id published while loading is not missed), and only then report itself live;
2. add each published token id / user cutoff as it arrives; drop entries whose tokens have
   expired anyway.

Fail closed: while the mirror is not live (not loaded yet, subscription lost, Redis down) every
authenticated request is refused with 503, exactly as the per-request EXISTS check it replaces
did. A lost connection is noticed at once (the socket closes) and a silent one within
`HEALTH_SECONDS` (the subscription is pinged). A revocation made by this process applies at once
(`apply`); in the other processes, as soon as they read the published message (a loopback/LAN hop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis

from core.auth import Claims
from core.revocation import CHANNEL, TOKEN_PREFIX, USER_MESSAGE, USER_PREFIX, token_message

HEALTH_SECONDS = 1.0
RETRY_SECONDS = 0.5
PRUNE_SECONDS = 60.0
_log = logging.getLogger("dreamseed.revocations")
__all__ = ["CHANNEL", "RevocationMirror", "message"]


def message(token_id: str, expires_at: float) -> str:
    """What a token revocation publishes (kept for callers of the old name)."""
    return token_message(token_id, expires_at)


class RevocationMirror:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._ids: dict[str, float] = {}  # token id -> unix time after which it expired anyway
        # user id -> (cutoff: tokens issued before it are revoked, unix time the entry lapses)
        self._users: dict[str, tuple[float, float]] = {}
        self._live = False
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._went_live = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    def is_revoked(self, claims: Claims) -> bool:
        if claims.token_id in self._ids:
            return True
        user = self._users.get(claims.user_id)
        return user is not None and claims.issued_at < user[0]

    def add(self, token_id: str, expires_at: float) -> None:
        """A token revoked by this process: effective here at once."""
        self._ids[token_id] = expires_at

    def apply(self, published: str) -> None:
        """Apply one message of the channel (`core.revocation` formats)."""
        key, _, rest = published.partition(" ")
        fields = rest.split()
        expires = float(fields[0]) if fields else time.time() + 86_400
        if key.startswith(USER_MESSAGE):
            cutoff = float(fields[1]) if len(fields) > 1 else time.time()
            user_id = key[len(USER_MESSAGE) :]
            known = self._users.get(user_id)
            if known is None or known[0] < cutoff:
                self._users[user_id] = (cutoff, expires)
        else:
            self._ids[key] = expires

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
            self._ids = await self._load_tokens(redis)
            self._users = await self._load_users(redis)
            self._live, self.error = True, None
            self._went_live.set()
            pruned = time.time()
            while True:
                # Raises when the connection is lost; the health check pings a silent one.
                found = await pubsub.get_message(timeout=HEALTH_SECONDS)
                if found is not None and isinstance(found.get("data"), str):
                    self.apply(found["data"])
                if time.time() - pruned > PRUNE_SECONDS:
                    now = pruned = time.time()
                    self._ids = {k: v for k, v in self._ids.items() if v > now}
                    self._users = {k: v for k, v in self._users.items() if v[1] > now}

    @staticmethod
    async def _scan(redis: Redis, prefix: str, command: str) -> dict[str, tuple[int, str | None]]:
        """Every key under `prefix`: (its TTL in ms, its value when `command` is "get")."""
        keys = [key async for key in redis.scan_iter(match=prefix + "*", count=1000)]
        found: dict[str, tuple[int, str | None]] = {}
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            pipe = redis.pipeline(transaction=False)
            for key in batch:
                pipe.pttl(key)
                if command == "get":
                    pipe.get(key)
            replies = await pipe.execute()
            step = 2 if command == "get" else 1
            for index, key in enumerate(batch):
                ttl_ms = replies[index * step]
                value = replies[index * step + 1] if command == "get" else None
                if isinstance(ttl_ms, int) and ttl_ms != -2:  # -2: expired meanwhile
                    found[key[len(prefix) :]] = (ttl_ms, value)
        return found

    @classmethod
    async def _load_tokens(cls, redis: Redis) -> dict[str, float]:
        now = time.time()
        return {
            token_id: now + (ttl_ms / 1000 if ttl_ms > 0 else 86_400)
            for token_id, (ttl_ms, _) in (await cls._scan(redis, TOKEN_PREFIX, "pttl")).items()
        }

    @classmethod
    async def _load_users(cls, redis: Redis) -> dict[str, tuple[float, float]]:
        now = time.time()
        return {
            user_id: (float(value), now + (ttl_ms / 1000 if ttl_ms > 0 else 86_400))
            for user_id, (ttl_ms, value) in (await cls._scan(redis, USER_PREFIX, "get")).items()
            if value is not None
        }
