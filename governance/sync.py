"""The governance API for synchronous callers (the CLI's SQL door and account commands): the
one async engine, each call run to completion on a private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from governance.decision import Decision, Resource, RowFilter, Subject
from governance.engine import PolicyEngine

T = TypeVar("T")


class SyncPolicy:
    """Blocking twins of the :class:`PolicyEngine` calls a synchronous caller makes. Use from
    one thread, outside any running event loop; `close` releases the engine and the loop."""

    def __init__(self, engine: PolicyEngine) -> None:
        self.engine = engine
        self._runner = asyncio.Runner()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    @property
    def revision(self) -> str:
        return self.engine.revision

    def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        return self._run(self.engine.query(rule, input))

    def authorize(
        self, subject: Subject, action: str, resource: Resource | None = None, **kw: Any
    ) -> Decision:
        return self._run(self.engine.authorize(subject, action, resource, **kw))

    def sql_access(self, subject: Subject, table: str, **kw: Any) -> Decision:
        return self._run(self.engine.sql_access(subject, table, **kw))

    def sql_masking(self, subject: Subject, table: str, columns: Sequence[str]) -> dict[str, str]:
        return self._run(self.engine.sql_masking(subject, table, columns))

    def sql_rows(self, subject: Subject, table: str) -> RowFilter:
        return self._run(self.engine.sql_rows(subject, table))

    def close(self) -> None:
        try:
            self._run(self.engine.aclose())
        finally:
            self._runner.close()
