"""In-process Rego evaluation with regorus: the policy engine of every process that has no OPA
server configured."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import regorus

from governance.bundle import Bundle, build_regorus, clean_error, load_bundle
from governance.decision import (
    ANALYTICS_ACCESS,
    AUTHZ,
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    LRS_ACCESS,
    REGISTRATION,
    SQL_ACCESS,
    SQL_MASKING,
    SQL_ROWS,
    TUTOR_REVEAL,
    PolicyLoadError,
    PolicyUnavailable,
    RowFilter,
    Subject,
)
from governance.engine import PolicyEngine
from governance.inputs import (
    as_decision_answer,
    as_masking,
    authz_input,
    dashboard_input,
    registration_input,
    reveal_input,
)

#: Probe inputs evaluated at load time: a bundle that errors on them fails start-up.
_PROBE_SUBJECT = Subject(user_id="probe-user", role="student", class_ids=("probe-class",))
_PROBE_NOW = "2024-01-01T12:00:00Z"


def _self_check(query: Callable[[str, Mapping[str, Any]], Any]) -> None:
    """Evaluate every entrypoint once; raise :class:`PolicyLoadError` if any fails."""
    probes: Iterable[tuple[str, dict[str, Any]]] = (
        (AUTHZ, authz_input(_PROBE_SUBJECT, "users.me.read", now=_PROBE_NOW)),
        (TUTOR_REVEAL, reveal_input(_PROBE_SUBJECT, "i", [], now=_PROBE_NOW)),
        (SQL_ACCESS, {"subject": _PROBE_SUBJECT.to_input(), "table": "t", "context": {}}),
        (SQL_MASKING, {"subject": _PROBE_SUBJECT.to_input(), "table": "t", "columns": ["c"]}),
        (SQL_ROWS, {"subject": _PROBE_SUBJECT.to_input(), "table": "t"}),
        (DASHBOARD_ACCESS, dashboard_input(_PROBE_SUBJECT, "p", now=_PROBE_NOW)),
        (DASHBOARD_ROWS, dashboard_input(_PROBE_SUBJECT, "p", now=_PROBE_NOW)),
        (REGISTRATION, registration_input("teacher", "probe.example")),
        (LRS_ACCESS, {"subject": _PROBE_SUBJECT.to_input(), "action": "lrs.statements.read"}),
        (ANALYTICS_ACCESS, {"subject": _PROBE_SUBJECT.to_input(), "action": "x", "resource": {}}),
    )
    for rule, payload in probes:
        try:
            value = query(rule, payload)
            if rule in (SQL_ROWS, DASHBOARD_ROWS):
                RowFilter.from_policy(value)
            elif rule == SQL_MASKING:
                as_masking(rule, ["c"], value)
            else:
                as_decision_answer(rule, value)
        except PolicyUnavailable as exc:
            raise PolicyLoadError(f"bundle self-check failed on {rule}: {exc}") from exc


def _is_panic(exc: BaseException) -> bool:
    """pyo3 turns Rust panics into ``PanicException``, a ``BaseException`` subclass."""
    return type(exc).__name__ == "PanicException"


def _evaluate(engine: regorus.Engine, rule: str, input: Mapping[str, Any]) -> Any:
    try:
        engine.set_input(input)
        value = engine.eval_rule(rule)
    except Exception as exc:
        raise PolicyUnavailable(f"policy evaluation failed: {clean_error(exc)}", rule=rule) from exc
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        raise PolicyUnavailable(f"policy engine panicked: {clean_error(exc)}", rule=rule) from exc
    if value is None:
        raise PolicyUnavailable(f"policy result undefined: {rule}", rule=rule)
    return value


class LocalEngine(PolicyEngine):
    """In-process Rego evaluation with regorus.

    regorus engines are bound to the thread that created them (pyo3 ``unsendable``), so each
    thread lazily builds its own engine from the already-read, already-validated bundle
    (about 1.5 ms, once per thread and bundle); a query then only sets the input and evaluates.
    The API's event loop is one thread, hence one engine. No lock is needed on the hot path, and
    a query never waits: the coroutine finishes without suspending.
    """

    def __init__(self, bundle_dir: Path | None = None) -> None:
        super().__init__()
        self._bundle_dir = bundle_dir
        self._reload_lock = threading.Lock()
        self._local = threading.local()
        self._bundle = self._validated(load_bundle(bundle_dir))

    def _validated(self, bundle: Bundle) -> Bundle:
        engine = build_regorus(bundle)
        _self_check(lambda rule, payload: _evaluate(engine, rule, payload))
        self._local.engine, self._local.bundle = engine, bundle
        return bundle

    @property
    def revision(self) -> str:
        return self._bundle.revision

    @property
    def bundle(self) -> Bundle:
        return self._bundle

    def reload(self) -> None:
        """Re-read and validate the bundle, then switch to it atomically.

        On any error raise :class:`PolicyLoadError` and keep serving the previous bundle.
        """
        with self._reload_lock:
            self._bundle = self._validated(load_bundle(self._bundle_dir))

    def _thread_engine(self) -> regorus.Engine:
        bundle = self._bundle
        local = self._local
        if getattr(local, "bundle", None) is not bundle:
            local.engine = build_regorus(bundle)
            local.bundle = bundle
        engine: regorus.Engine = local.engine
        return engine

    async def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        try:
            engine = self._thread_engine()
        except Exception as exc:
            raise PolicyUnavailable(f"policy engine unavailable: {exc}", rule=rule) from exc
        return _evaluate(engine, rule, input)
