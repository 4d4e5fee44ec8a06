"""Password hashing (argon2id) off the event loop, with bounded concurrency.

argon2 is built to be slow (tens to hundreds of ms of CPU and 64 MiB per hash). Run on the event
loop it stalls every other request of the process; run on an unbounded pool a login storm takes
every core. So hashes run on a small pool of threads (the cores minus one, at least one: a core
stays for the event loop), the threads run at a lower CPU priority (`nice` + `NICE_INCREMENT`, a
per-thread attribute on Linux that the argon2 lane threads inherit), and at most `queue_limit`
hashes may wait: beyond that sign-in answers 503 with `Retry-After` at once instead of queueing
without end.

Unknown e-mails are verified against a dummy hash made with the same parameters, so a wrong
e-mail costs the same time as a wrong password and timing does not tell which accounts exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import ServiceUnavailable

NICE_INCREMENT = 10
_T = TypeVar("_T")
_hasher = PasswordHasher()


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # best effort: not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE_INCREMENT)


def hash_password(password: str) -> str:
    """Synchronous: for scripts and tests. Servers use `PasswordWorkers.hash`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Synchronous: for scripts and tests. Servers use `PasswordWorkers.verify`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordWorkers:
    """One per process: a bounded pool that hashes and verifies passwords off the event loop."""

    def __init__(self, workers: int = 0, queue_limit: int = 64) -> None:
        self.workers = workers if workers > 0 else default_workers()
        self.queue_limit = queue_limit
        self._pool = ThreadPoolExecutor(
            self.workers, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._waiting = 0
        self._dummy: str | None = None

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        if self._waiting >= self.queue_limit:
            raise ServiceUnavailable(
                "sign-in is busy (too many password checks waiting); retry in a second",
                {"Retry-After": "1"},
            )
        self._waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, fn, *args)
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Verify against `password_hash`, or against the dummy hash when it is None (an unknown
        e-mail): the same work either way, and False for the dummy."""
        if password_hash is None:
            await self._run(verify_password, await self.dummy_hash(), password)
            return False
        return await self._run(verify_password, password_hash, password)

    async def dummy_hash(self) -> str:
        """A hash of a random secret nobody knows, made once with the current parameters."""
        if self._dummy is None:
            self._dummy = await self._run(hash_password, secrets.token_urlsafe(24))
        return self._dummy

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
