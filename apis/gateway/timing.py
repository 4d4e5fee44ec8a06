"""Per-request stage timings, sent back as a W3C `Server-Timing` header.

`RequestContextMiddleware` opens a `Timings` for each request; code on the request path wraps a
stage in `with stage("db"):`. The reply then says where its time went, e.g.
`auth;dur=0.41, db;dur=1.20, app;dur=4.02` (milliseconds; `app` is the whole request), which a
browser's developer tools show and `bench/exams` aggregates for its slowest answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class Timings:
    __slots__ = ("stages",)

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds

    def header(self, total_seconds: float) -> bytes:
        parts = [f"{name};dur={1000 * s:.2f}" for name, s in self.stages.items()]
        parts.append(f"app;dur={1000 * total_seconds:.2f}")
        return ", ".join(parts).encode()


TIMINGS: ContextVar[Timings | None] = ContextVar("dreamseed_timings", default=None)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the wall time of the block to the current request's `name` stage (if any)."""
    timings = TIMINGS.get()
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings.add(name, time.perf_counter() - started)
