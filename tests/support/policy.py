"""`Blocking`: a policy engine's async API called from plain (synchronous) tests.

Production code has one async engine API and, for the CLI, `governance.SyncPolicy`; tests that
check many answers in a row read better without `await`, so this proxy runs every coroutine
method to completion on an event loop of the calling thread (one per thread: regorus engines are
per thread, and so are loops). Attributes are read and written through to the engine."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

from governance import PolicyEngine


class Blocking:
    def __init__(self, engine: PolicyEngine) -> None:
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "_loops", threading.local())

    def _runner(self) -> asyncio.Runner:
        loops = object.__getattribute__(self, "_loops")
        if not hasattr(loops, "runner"):
            loops.runner = asyncio.Runner()
        runner: asyncio.Runner = loops.runner
        return runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.engine, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._runner().run(attr(*args, **kwargs))

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.engine, name, value)

    def close(self) -> None:
        """Release the engine (its HTTP client) and this thread's loop."""
        self._runner().run(self.engine.aclose())
        self._runner().close()
