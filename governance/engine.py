"""Policy engines: in-process Rego (regorus) or a remote OPA server, one contract.

Every evaluation either returns the policy's answer or raises :class:`PolicyUnavailable`
(fail closed): engine errors, undefined results, malformed answers, HTTP errors and timeouts
all become ``PolicyUnavailable``; nothing ever defaults to allow.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import regorus

from governance.decision import (
    AUTHZ,
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    REGISTRATION,
    SQL_ACCESS,
    SQL_MASKING,
    SQL_ROWS,
    TREATMENTS,
    TUTOR_REVEAL,
    Decision,
    PolicyLoadError,
    PolicyUnavailable,
    Resource,
    RowFilter,
    Subject,
)

__all__ = [
    "DEFAULT_BUNDLE_DIR",
    "Bundle",
    "LocalEngine",
    "PolicyEngine",
    "RemoteOpaEngine",
    "authz_input",
    "load_bundle",
    "load_engine",
    "registration_input",
]

#: The bundle shipped with the package: ``policies/**/*.rego`` and ``data/*.json``.
DEFAULT_BUNDLE_DIR: Final = Path(__file__).resolve().parent

#: ``data/<stem>.json`` is mounted at ``data.config.<stem>``.
DATA_ROOT: Final = "config"

_LOCATION = re.compile(r"-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)")
_ERROR = re.compile(r"^error:\s*(?P<msg>.+)$", re.MULTILINE)


def _clean(exc: BaseException) -> str:
    """regorus errors carry a Rust stack backtrace: keep the message only."""
    text = str(exc).split("Stack backtrace:", 1)[0].strip()
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Bundle:
    """The files of a policy bundle, read once. ``revision`` hashes policies + data (not tests)."""

    root: Path
    policies: tuple[tuple[str, str], ...]  # (path relative to root, text), tests excluded
    tests: tuple[tuple[str, str], ...]  # *_test.rego
    data: dict[str, Any]  # {"config": {stem: content}}
    revision: str


def load_bundle(bundle_dir: Path | None = None) -> Bundle:
    """Read ``<bundle_dir>/policies/**/*.rego`` and ``<bundle_dir>/data/*.json``.

    Raises :class:`PolicyLoadError` naming the file (and line) of unreadable JSON.
    """
    root = (bundle_dir or DEFAULT_BUNDLE_DIR).resolve()
    policy_dir = root / "policies"
    if not policy_dir.is_dir():
        raise PolicyLoadError("no policies/ directory in the bundle", file=str(root))
    policies: list[tuple[str, str]] = []
    tests: list[tuple[str, str]] = []
    for path in sorted(policy_dir.rglob("*.rego")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        (tests if path.name.endswith("_test.rego") else policies).append((rel, text))
    if not policies:
        raise PolicyLoadError("the bundle has no policies", file=str(policy_dir))
    config: dict[str, Any] = {}
    data_files: list[tuple[str, str]] = []
    data_dir = root / "data"
    for path in sorted(data_dir.glob("*.json")) if data_dir.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        try:
            config[path.stem] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyLoadError(
                f"invalid JSON: {exc.msg}", file=rel, line=exc.lineno, column=exc.colno
            ) from exc
        data_files.append((rel, text))
    digest = hashlib.sha256()
    for rel, text in (*policies, *data_files):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        digest.update(b"\0")
    return Bundle(
        root=root,
        policies=tuple(policies),
        tests=tuple(tests),
        data={DATA_ROOT: config},
        revision=digest.hexdigest()[:12],
    )


def build_regorus(
    bundle: Bundle, *, include_tests: bool = False, coverage: bool = False
) -> regorus.Engine:
    """A regorus engine with the bundle's policies (and tests) and data loaded.

    A Rego syntax error raises :class:`PolicyLoadError` with the file, line and column.
    """
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    if coverage:
        engine.set_enable_coverage(True)
    files = bundle.policies + (bundle.tests if include_tests else ())
    for rel, text in files:
        try:
            engine.add_policy(rel, text)
        except Exception as exc:  # regorus raises RuntimeError with a rendered diagnostic
            message = _clean(exc)
            where = _LOCATION.search(str(exc))
            what = _ERROR.search(str(exc))
            detail = what.group("msg").strip() if what else message
            if where:
                raise PolicyLoadError(
                    f"Rego error: {detail}",
                    file=where.group("file"),
                    line=int(where.group("line")),
                    column=int(where.group("col")),
                ) from exc
            raise PolicyLoadError(f"Rego error: {detail}", file=rel) from exc
    engine.add_data(bundle.data)
    return engine


def authz_input(
    subject: Subject,
    action: str,
    resource: Resource | None = None,
    *,
    now: str | None = None,
    active_exam_item_ids: Sequence[str] = (),
    request_id: str | None = None,
) -> dict[str, Any]:
    """The ``data.dreamseed.api.authz.decision`` input document."""
    return {
        "subject": subject.to_input(),
        "action": action,
        "resource": resource.to_input() if resource is not None else None,
        "context": {
            "now": now if now is not None else _utc_now_rfc3339(),
            "active_exam_item_ids": list(active_exam_item_ids),
            "request_id": request_id,
        },
    }


def registration_input(role: str, email_domain: str) -> dict[str, Any]:
    """The ``data.dreamseed.users.registration.decision`` input: an anonymous caller registering
    an account of ``role`` with an e-mail of ``email_domain`` (never the whole address: the
    input is kept in the decision log)."""
    return {
        "subject": Subject(None, "anonymous").to_input(),
        "action": "users.account.create",
        "resource": {"type": "account", "id": "", "role": role, "email_domain": email_domain},
    }


def _utc_now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _context(now: str | None, request_id: str | None, items: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "now": now if now is not None else _utc_now_rfc3339(),
        "active_exam_item_ids": list(items),
        "request_id": request_id,
    }


def _as_decision_answer(rule: str, value: Any) -> tuple[bool, str]:
    if (
        isinstance(value, Mapping)
        and isinstance(value.get("allow"), bool)
        and isinstance(value.get("reason"), str)
    ):
        return value["allow"], value["reason"]
    raise PolicyUnavailable(f"malformed decision from {rule}: {value!r}", rule=rule)


def _as_masking(rule: str, columns: Sequence[str], value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PolicyUnavailable(f"malformed masking answer: {value!r}", rule=rule)
    out: dict[str, str] = {}
    for column in columns:
        treatment = value.get(column, "drop")  # a column the policy did not answer is dropped
        if treatment not in TREATMENTS:
            raise PolicyUnavailable(f"unknown treatment {treatment!r} for {column!r}", rule=rule)
        out[column] = treatment
    return out


ROUTE_MEMO_SIZE: Final = 4096
# Route level: (bundle revision, role, action, minute of `now`); resource level adds the
# resource type and the subject's two relations to it (owner? member of its class?).
RouteKey = tuple[str, ...]


class PolicyEngine(ABC):
    """The governance contract, implemented in-process (:class:`LocalEngine`) or remotely
    (:class:`RemoteOpaEngine`). All methods raise :class:`PolicyUnavailable` when no answer
    can be obtained; callers deny (HTTP 503)."""

    @property
    @abstractmethod
    def revision(self) -> str:
        """Short identifier of the policy bundle answering (sha256 prefix for local)."""

    @abstractmethod
    def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        """Evaluate ``rule`` (e.g. ``"data.dreamseed.api.authz.decision"``) for ``input``.
        An undefined result raises ``PolicyUnavailable``."""

    @abstractmethod
    async def query_async(self, rule: str, input: Mapping[str, Any]) -> Any:
        """Async :meth:`query` (non-blocking for the remote engine)."""

    def reload(self) -> None:  # noqa: B027 - optional hook
        """Reload policies and data (local: re-read the bundle; remote: nothing to do)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients)."""

    async def aclose(self) -> None:
        self.close()

    # -- generic decisions -------------------------------------------------------------------

    def decide(
        self,
        rule: str,
        input: Mapping[str, Any],
        *,
        action: str | None = None,
        request_id: str | None = None,
        memo_key: RouteKey | None = None,
    ) -> Decision:
        """Evaluate a ``{"allow", "reason"}`` rule and wrap the answer in a :class:`Decision`.

        ``memo_key`` (route-level authz only) reuses an answer already computed for that key."""
        start = time.perf_counter_ns()
        value = self._memo().get(memo_key) if memo_key is not None else None
        if value is None:
            value = self.query(rule, input)
            if memo_key is not None:
                self._remember(memo_key, value)
        latency_us = (time.perf_counter_ns() - start) // 1000
        return self._decision(rule, input, value, latency_us, action, request_id)

    async def decide_async(
        self,
        rule: str,
        input: Mapping[str, Any],
        *,
        action: str | None = None,
        request_id: str | None = None,
        memo_key: RouteKey | None = None,
    ) -> Decision:
        start = time.perf_counter_ns()
        value = self._memo().get(memo_key) if memo_key is not None else None
        if value is None:
            value = await self.query_async(rule, input)
            if memo_key is not None:
                self._remember(memo_key, value)
        latency_us = (time.perf_counter_ns() - start) // 1000
        return self._decision(rule, input, value, latency_us, action, request_id)

    def _decision(
        self,
        rule: str,
        input: Mapping[str, Any],
        value: Any,
        latency_us: int,
        action: str | None,
        request_id: str | None,
    ) -> Decision:
        allowed, reason = _as_decision_answer(rule, value)
        subject = input.get("subject")
        subject = subject if isinstance(subject, Mapping) else {}
        resource = input.get("resource")
        context = input.get("context")
        if request_id is None and isinstance(context, Mapping):
            rid = context.get("request_id")
            request_id = rid if isinstance(rid, str) else None
        user_id = subject.get("user_id")
        role = subject.get("role")
        act = action if action is not None else input.get("action")
        return Decision.new(
            decision=rule,
            subject_id=user_id if isinstance(user_id, str) else None,
            subject_role=role if isinstance(role, str) else None,
            action=act if isinstance(act, str) else "",
            resource=dict(resource) if isinstance(resource, Mapping) else None,
            allowed=allowed,
            reason=reason,
            policy_revision=self.revision,
            latency_us=min(latency_us, 2**31 - 1),
            request_id=request_id,
        )

    # -- API ---------------------------------------------------------------------------------

    def authorize(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None = None,
        *,
        now: str | None = None,
        active_exam_item_ids: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.api.authz.decision``; ``resource=None`` is the route-level check."""
        payload = authz_input(
            subject,
            action,
            resource,
            now=now,
            active_exam_item_ids=active_exam_item_ids,
            request_id=request_id,
        )
        key = self._route_memo_key(subject, action, resource, payload)
        return self.decide(AUTHZ, payload, request_id=request_id, memo_key=key)

    async def authorize_async(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None = None,
        *,
        now: str | None = None,
        active_exam_item_ids: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Decision:
        payload = authz_input(
            subject,
            action,
            resource,
            now=now,
            active_exam_item_ids=active_exam_item_ids,
            request_id=request_id,
        )
        key = self._route_memo_key(subject, action, resource, payload)
        return await self.decide_async(AUTHZ, payload, request_id=request_id, memo_key=key)

    # API authz answers depend only on the role, the action and the minute of `now` (access hours)
    # and, for a resource, on its type and two relations of the subject to it: is she its owner,
    # is she in its class -- never on the ids themselves. tests/unit/governance/test_route_memo.py
    # checks that invariant for every role, action, resource type and relation against the
    # bundle. Answers are memoised per bundle revision under that key; every request still gets
    # its own Decision (id, time, request id, the real resource) and decision-log entry.
    _route_answers: dict[RouteKey, Any] | None = None

    def _memo(self) -> dict[RouteKey, Any]:
        if self._route_answers is None:
            self._route_answers = {}
        return self._route_answers

    def _remember(self, key: RouteKey, value: Any) -> Any:
        _as_decision_answer(AUTHZ, value)  # never memoise a malformed answer
        memo = self._memo()
        if len(memo) >= ROUTE_MEMO_SIZE:
            memo.clear()
        memo[key] = value
        return value

    def _route_memo_key(
        self,
        subject: Subject,
        action: str,
        resource: Resource | None,
        payload: Mapping[str, Any],
    ) -> RouteKey | None:
        context = payload["context"]
        now = context["now"]
        # Only our own UTC form (YYYY-MM-DDTHH:MM:SSZ): the minute prefix is then exact.
        if context["active_exam_item_ids"] or len(now) != 20 or not now.endswith("Z"):
            return None
        key = (self.revision, subject.role, action, now[:16])
        if resource is None:
            return key
        owns = bool(subject.user_id) and resource.owner_id == subject.user_id
        in_class = resource.class_id is not None and resource.class_id in subject.class_ids
        return (*key, resource.type, "owner" if owns else "-", "member" if in_class else "-")

    # -- tutor -------------------------------------------------------------------------------

    @staticmethod
    def reveal_input(
        subject: Subject,
        item_id: str,
        active_exam_item_ids: Sequence[str],
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "subject": subject.to_input(),
            "action": "tutor.answer.reveal",
            "resource": {"type": "item", "id": item_id, "owner_id": None, "class_id": None},
            "context": _context(now, request_id, active_exam_item_ids),
        }

    def may_reveal(
        self,
        subject: Subject,
        item_id: str,
        active_exam_item_ids: Sequence[str],
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.tutor.reveal.decision``: may the tutor reveal ``item_id``'s answer?"""
        payload = self.reveal_input(
            subject, item_id, active_exam_item_ids, now=now, request_id=request_id
        )
        return self.decide(TUTOR_REVEAL, payload, request_id=request_id)

    async def may_reveal_async(
        self,
        subject: Subject,
        item_id: str,
        active_exam_item_ids: Sequence[str],
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        payload = self.reveal_input(
            subject, item_id, active_exam_item_ids, now=now, request_id=request_id
        )
        return await self.decide_async(TUTOR_REVEAL, payload, request_id=request_id)

    # -- SQL door ----------------------------------------------------------------------------

    def sql_access(
        self,
        subject: Subject,
        table: str,
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.sql.access.decision``: may the subject query ``table``?"""
        payload = {
            "subject": subject.to_input(),
            "action": "sql.query.run",
            "table": table,
            "resource": {"type": "table", "id": table, "owner_id": None, "class_id": None},
            "context": _context(now, request_id),
        }
        return self.decide(SQL_ACCESS, payload, request_id=request_id)

    def sql_masking(self, subject: Subject, table: str, columns: Sequence[str]) -> dict[str, str]:
        """``data.dreamseed.sql.masking.columns``: column -> clear|pseudonymize|redact|drop."""
        payload = {"subject": subject.to_input(), "table": table, "columns": list(columns)}
        return _as_masking(SQL_MASKING, columns, self.query(SQL_MASKING, payload))

    def sql_rows(self, subject: Subject, table: str) -> RowFilter:
        """``data.dreamseed.sql.rows.filter``: the rows of ``table`` the subject may see."""
        payload = {"subject": subject.to_input(), "table": table}
        return RowFilter.from_policy(self.query(SQL_ROWS, payload))

    # -- dashboards --------------------------------------------------------------------------

    @staticmethod
    def dashboard_input(
        subject: Subject, page: str, *, now: str | None = None, request_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "subject": subject.to_input(),
            "action": "dashboards.page.view",
            "page": page,
            "resource": {"type": "page", "id": page, "owner_id": None, "class_id": None},
            "context": _context(now, request_id),
        }

    def dashboard_access(
        self,
        subject: Subject,
        page: str,
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        """``data.dreamseed.dashboards.access.decision``: may the subject open ``page``?"""
        payload = self.dashboard_input(subject, page, now=now, request_id=request_id)
        return self.decide(DASHBOARD_ACCESS, payload, request_id=request_id)

    async def dashboard_access_async(
        self,
        subject: Subject,
        page: str,
        *,
        now: str | None = None,
        request_id: str | None = None,
    ) -> Decision:
        payload = self.dashboard_input(subject, page, now=now, request_id=request_id)
        return await self.decide_async(DASHBOARD_ACCESS, payload, request_id=request_id)

    def dashboard_rows(self, subject: Subject, page: str, *, now: str | None = None) -> RowFilter:
        """``data.dreamseed.dashboards.rows.filter``: rows of the page's dataset to show."""
        payload = self.dashboard_input(subject, page, now=now)
        return RowFilter.from_policy(self.query(DASHBOARD_ROWS, payload))


#: Probe inputs evaluated at load time: a bundle that errors on them fails start-up.
_PROBE_SUBJECT = Subject(user_id="probe-user", role="student", class_ids=("probe-class",))
_PROBE_NOW = "2024-01-01T12:00:00Z"


def _self_check(query: Callable[[str, Mapping[str, Any]], Any]) -> None:
    """Evaluate every entrypoint once; raise :class:`PolicyLoadError` if any fails."""
    probes: Iterable[tuple[str, dict[str, Any]]] = (
        (AUTHZ, authz_input(_PROBE_SUBJECT, "users.me.read", now=_PROBE_NOW)),
        (TUTOR_REVEAL, PolicyEngine.reveal_input(_PROBE_SUBJECT, "i", [], now=_PROBE_NOW)),
        (SQL_ACCESS, {"subject": _PROBE_SUBJECT.to_input(), "table": "t", "context": {}}),
        (SQL_MASKING, {"subject": _PROBE_SUBJECT.to_input(), "table": "t", "columns": ["c"]}),
        (SQL_ROWS, {"subject": _PROBE_SUBJECT.to_input(), "table": "t"}),
        (DASHBOARD_ACCESS, PolicyEngine.dashboard_input(_PROBE_SUBJECT, "p", now=_PROBE_NOW)),
        (DASHBOARD_ROWS, PolicyEngine.dashboard_input(_PROBE_SUBJECT, "p", now=_PROBE_NOW)),
        (REGISTRATION, registration_input("teacher", "probe.example")),
    )
    for rule, payload in probes:
        try:
            value = query(rule, payload)
            if rule in (SQL_ROWS, DASHBOARD_ROWS):
                RowFilter.from_policy(value)
            elif rule == SQL_MASKING:
                _as_masking(rule, ["c"], value)
            else:
                _as_decision_answer(rule, value)
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
        raise PolicyUnavailable(f"policy evaluation failed: {_clean(exc)}", rule=rule) from exc
    except BaseException as exc:
        if not _is_panic(exc):
            raise
        raise PolicyUnavailable(f"policy engine panicked: {_clean(exc)}", rule=rule) from exc
    if value is None:
        raise PolicyUnavailable(f"policy result undefined: {rule}", rule=rule)
    return value


class LocalEngine(PolicyEngine):
    """In-process Rego evaluation with regorus.

    regorus engines are bound to the thread that created them (pyo3 ``unsendable``), so each
    thread lazily builds its own engine from the already-read, already-validated bundle
    (about 1.5 ms, once per thread and bundle); a query then only sets the input and evaluates.
    The API's event loop is one thread, hence one engine. No lock is needed on the hot path.
    """

    def __init__(self, bundle_dir: Path | None = None) -> None:
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

    def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        try:
            engine = self._thread_engine()
        except Exception as exc:
            raise PolicyUnavailable(f"policy engine unavailable: {exc}", rule=rule) from exc
        return _evaluate(engine, rule, input)

    async def query_async(self, rule: str, input: Mapping[str, Any]) -> Any:
        return self.query(rule, input)


class RemoteOpaEngine(PolicyEngine):
    """The same contract answered by an OPA server's REST data API.

    ``POST {url}/v1/data/<rule path with / for .>`` with ``{"input": ...}``; the answer is
    ``{"result": ...}`` (absent when undefined). Any transport error, timeout, non-2xx status,
    or missing/malformed result raises :class:`PolicyUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        revision: str | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._revision = revision or f"opa:{httpx.URL(self._url).host}"
        self._client = httpx.Client(base_url=self._url, timeout=timeout, transport=transport)
        self._aclient = httpx.AsyncClient(
            base_url=self._url, timeout=timeout, transport=async_transport
        )

    @property
    def revision(self) -> str:
        return self._revision

    @staticmethod
    def _path(rule: str) -> str:
        if not rule.startswith("data."):
            raise PolicyUnavailable(f"not a data rule path: {rule}", rule=rule)
        return "/v1/data/" + rule.removeprefix("data.").replace(".", "/")

    @staticmethod
    def _result(rule: str, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise PolicyUnavailable(f"OPA answered HTTP {response.status_code}", rule=rule)
        try:
            body = response.json()
        except ValueError as exc:
            raise PolicyUnavailable("OPA answered non-JSON", rule=rule) from exc
        if not isinstance(body, Mapping) or body.get("result") is None:
            raise PolicyUnavailable(f"policy result undefined: {rule}", rule=rule)
        return body["result"]

    def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        try:
            response = self._client.post(self._path(rule), json={"input": input})
        except PolicyUnavailable:
            raise
        except Exception as exc:  # transport errors, timeouts, anything: fail closed
            raise PolicyUnavailable(f"OPA unreachable: {exc!r}", rule=rule) from exc
        return self._result(rule, response)

    async def query_async(self, rule: str, input: Mapping[str, Any]) -> Any:
        try:
            response = await self._aclient.post(self._path(rule), json={"input": input})
        except PolicyUnavailable:
            raise
        except Exception as exc:  # transport errors, timeouts, anything: fail closed
            raise PolicyUnavailable(f"OPA unreachable: {exc!r}", rule=rule) from exc
        return self._result(rule, response)

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        self._client.close()
        await self._aclient.aclose()


def load_engine(opa_url: str | None, bundle_dir: Path | None = None) -> PolicyEngine:
    """The engine for this process: remote OPA when ``opa_url`` is set, else in-process.

    The in-process engine is loaded and self-checked now: a broken bundle raises
    :class:`PolicyLoadError` (naming file and line for syntax errors) and start-up must fail.
    """
    if opa_url:
        return RemoteOpaEngine(opa_url)
    return LocalEngine(bundle_dir)
