"""Engine loading, revision, reload, fail-closed behaviour, remote client (mock transport)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import governance.bundle as bundle_module
from governance import (
    AUTHZ,
    DEFAULT_BUNDLE_DIR,
    SQL_MASKING,
    LocalEngine,
    PolicyLoadError,
    PolicyUnavailable,
    RemoteOpaEngine,
    Resource,
    RowFilter,
    Subject,
    SyncPolicy,
    load_bundle,
    load_engine,
)
from tests.support.policy import Blocking

STUDENT = Subject("s1", "student", ("c1",))
NOW = "2024-04-29T10:00:00Z"


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE_DIR / "policies", dest / "policies")
    shutil.copytree(DEFAULT_BUNDLE_DIR / "data", dest / "data")
    return dest


def test_load_engine_without_url_is_local() -> None:
    engine = load_engine(None)
    assert isinstance(engine, LocalEngine)
    assert len(engine.revision) == 12
    assert engine.revision == load_bundle().revision


def test_revision_ignores_tests_but_tracks_policies_and_data(bundle_copy: Path) -> None:
    base = load_bundle(bundle_copy).revision
    (bundle_copy / "policies/dreamseed/api/authz/authz_test.rego").write_text(
        (bundle_copy / "policies/dreamseed/api/authz/authz_test.rego").read_text() + "\n# comment\n"
    )
    assert load_bundle(bundle_copy).revision == base
    roles = bundle_copy / "data/roles.json"
    roles.write_text(roles.read_text() + "\n")
    assert load_bundle(bundle_copy).revision != base


def test_syntax_error_names_file_and_line(bundle_copy: Path) -> None:
    target = bundle_copy / "policies/dreamseed/sql/rows/rows.rego"
    lines = target.read_text().splitlines()
    lines.insert(11, "broken := {")  # line 12 of the file
    target.write_text("\n".join(lines) + "\n")
    with pytest.raises(PolicyLoadError) as info:
        load_engine(None, bundle_copy)
    err = info.value
    assert err.file == "policies/dreamseed/sql/rows/rows.rego"
    assert err.line is not None and err.line >= 12
    assert str(err).startswith(f"policies/dreamseed/sql/rows/rows.rego:{err.line}:")
    assert "Stack backtrace" not in str(err)


def test_bad_json_names_file_and_line(bundle_copy: Path) -> None:
    (bundle_copy / "data/tutor.json").write_text('{\n  "block_all_reveals_during_exam": ,\n}\n')
    with pytest.raises(PolicyLoadError, match=r"^data/tutor\.json:2:") as info:
        LocalEngine(bundle_copy)
    assert info.value.line == 2


def test_runtime_error_in_policy_fails_start_up(bundle_copy: Path) -> None:
    target = bundle_copy / "policies/dreamseed/api/authz/authz.rego"
    text = target.read_text().replace(
        'decision := {"allow": allow, "reason": reason}',
        'decision := {"allow": allow, "reason": reason, "x": 1 / 0}',
    )
    target.write_text(text)
    with pytest.raises(PolicyLoadError, match=r"self-check failed on data\.dreamseed\.api\.authz"):
        LocalEngine(bundle_copy)


def test_missing_entrypoint_fails_start_up(bundle_copy: Path) -> None:
    (bundle_copy / "policies/dreamseed/dashboards/rows/rows.rego").unlink()
    with pytest.raises(PolicyLoadError, match=r"dashboards\.rows\.filter"):
        LocalEngine(bundle_copy)


def test_reload_picks_up_changes_and_keeps_old_bundle_on_error(bundle_copy: Path) -> None:
    engine = Blocking(LocalEngine(bundle_copy))
    first = engine.revision
    assert engine.authorize(STUDENT, "users.me.read", now=NOW).allowed
    roles = bundle_copy / "data/roles.json"
    original = roles.read_text()
    roles.write_text(original.replace('"users.me.read",', "", 1))  # first occurrence: student
    engine.reload()
    assert engine.revision != first
    denied = engine.authorize(STUDENT, "users.me.read", now=NOW)
    assert not denied.allowed and denied.policy_revision == engine.revision
    second = engine.revision
    (bundle_copy / "policies/dreamseed/api/authz/authz.rego").write_text(
        "package dreamseed.api.authz\nx := {\n"
    )
    with pytest.raises(PolicyLoadError, match=r"policies/dreamseed/api/authz/authz\.rego"):
        engine.reload()
    assert engine.revision == second
    assert not engine.authorize(STUDENT, "users.me.read", now=NOW).allowed


def test_reload_rolls_back_when_self_check_fails(bundle_copy: Path) -> None:
    engine = Blocking(LocalEngine(bundle_copy))
    revision = engine.revision
    (bundle_copy / "policies/dreamseed/dashboards/rows/rows.rego").unlink()
    with pytest.raises(PolicyLoadError):
        engine.reload()
    assert engine.revision == revision
    assert engine.dashboard_rows(Subject("a", "admin"), "attempts_per_day") == RowFilter("all")


class _Exploding:
    def set_input(self, _: Any) -> None:
        raise RuntimeError("engine crashed\n\nStack backtrace:\n 0: <unknown>")

    def eval_rule(self, _: str) -> Any:  # pragma: no cover - never reached
        return {"allow": True, "reason": "allowed"}


class _Returning:
    def __init__(self, value: Any) -> None:
        self.value = value

    def set_input(self, _: Any) -> None:
        pass

    def eval_rule(self, _: str) -> Any:
        return self.value


def test_engine_error_fails_closed() -> None:
    engine = Blocking(LocalEngine())
    engine._thread_engine = _Exploding  # type: ignore[method-assign,assignment]
    with pytest.raises(PolicyUnavailable, match="engine crashed") as info:
        engine.authorize(STUDENT, "users.me.read")
    assert info.value.rule == AUTHZ
    assert "Stack backtrace" not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [None, True, {"allow": "yes", "reason": "x"}, {"allow": True}, [], {"reason": "allowed"}],
)
def test_undefined_or_malformed_decision_fails_closed(value: Any) -> None:
    engine = Blocking(LocalEngine())
    engine._thread_engine = lambda: _Returning(value)  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(PolicyUnavailable):
        engine.authorize(STUDENT, "users.me.read")


def test_malformed_masking_and_rows_fail_closed() -> None:
    engine = Blocking(LocalEngine())
    engine._thread_engine = lambda: _Returning({"email": "show"})  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(PolicyUnavailable):
        engine.sql_masking(STUDENT, "users.accounts", ["email"])
    engine._thread_engine = lambda: _Returning({"mode": "some"})  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(PolicyUnavailable):
        engine.sql_rows(STUDENT, "users.accounts")


class PanicException(BaseException):  # same name as pyo3's, which is a BaseException
    pass


class _Panicking(_Returning):
    def eval_rule(self, _: str) -> Any:
        raise PanicException("regoruspy::Engine is unsendable, but sent to another thread")


def test_engine_panic_fails_closed() -> None:
    engine = Blocking(LocalEngine())
    engine._thread_engine = lambda: _Panicking(None)  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(PolicyUnavailable, match="panicked"):
        engine.authorize(STUDENT, "users.me.read")


def test_keyboard_interrupt_is_not_swallowed() -> None:
    class _Interrupted(_Returning):
        def eval_rule(self, _: str) -> Any:
            raise KeyboardInterrupt

    engine = Blocking(LocalEngine())
    engine._thread_engine = lambda: _Interrupted(None)  # type: ignore[method-assign,assignment,return-value]
    with pytest.raises(KeyboardInterrupt):
        engine.authorize(STUDENT, "users.me.read")


def test_unknown_rule_fails_closed() -> None:
    with pytest.raises(PolicyUnavailable):
        Blocking(LocalEngine()).query("data.dreamseed.nope.decision", {})


def test_decision_record_fields() -> None:
    engine = Blocking(LocalEngine())
    resource = Resource("attempt", "a1", "s1", "c1")
    decision = engine.authorize(STUDENT, "exams.attempt.read", resource, request_id="req-1")
    assert decision.allowed and decision.reason == "allowed"
    assert decision.decision == AUTHZ
    assert decision.subject_id == "s1" and decision.subject_role == "student"
    assert decision.action == "exams.attempt.read"
    assert decision.resource == {"type": "attempt", "id": "a1", "owner_id": "s1", "class_id": "c1"}
    assert decision.request_id == "req-1"
    assert decision.policy_revision == engine.revision
    assert 0 <= decision.latency_us < 1_000_000
    assert decision.decided_at.tzinfo is not None
    assert len(decision.decision_id) == 36


def test_other_entrypoints() -> None:
    engine = Blocking(LocalEngine())
    analyst = Subject("a1", "analyst")
    assert engine.sql_access(analyst, "users.accounts").allowed
    assert engine.sql_access(analyst, "users.accounts").action == "sql.query.run"
    assert not engine.sql_access(STUDENT, "users.accounts").allowed
    assert engine.sql_masking(analyst, "users.accounts", ["email", "user_id"]) == {
        "email": "redact",
        "user_id": "pseudonymize",
    }
    assert engine.sql_rows(analyst, "exams.attempts") == RowFilter("all")
    assert not engine.may_reveal(STUDENT, "i1", ["i1"]).allowed
    assert engine.may_reveal(STUDENT, "i1", []).allowed
    teacher = Subject("t1", "teacher", ("c1",))
    assert engine.dashboard_access(teacher, "attempts_per_day").allowed
    assert not engine.dashboard_access(STUDENT, "attempts_per_day").allowed
    rows = engine.dashboard_rows(teacher, "attempts_per_day")
    assert rows.mode == "any" and rows.conditions[0].values == ("c1",)


def test_the_async_api_answers_without_a_wrapper() -> None:
    engine = LocalEngine()

    async def run() -> None:
        decision = await engine.authorize(STUDENT, "users.me.read")
        assert decision.allowed
        assert not (await engine.may_reveal(STUDENT, "i1", ["i1"])).allowed
        assert not (await engine.dashboard_access(STUDENT, "usage")).allowed

    asyncio.run(run())


def test_the_sync_wrapper_answers_like_the_engine() -> None:
    policy = SyncPolicy(LocalEngine())
    analyst = Subject("a1", "analyst")
    assert policy.authorize(STUDENT, "users.me.read", now=NOW).allowed
    assert not policy.sql_access(STUDENT, "users.accounts").allowed
    assert policy.sql_masking(analyst, "users.accounts", ["user_id"]) == {"user_id": "pseudonymize"}
    assert policy.sql_rows(analyst, "exams.attempts") == RowFilter("all")
    policy.close()


def test_concurrent_threads_get_consistent_answers() -> None:
    engine = Blocking(LocalEngine())
    errors: list[str] = []
    own = Resource("attempt", "a", "s1", "c1")
    other = Resource("attempt", "a", "s2", "c1")

    def work(n: int) -> None:
        for i in range(300):
            res = own if (i + n) % 2 else other
            got = engine.authorize(STUDENT, "exams.attempt.read", res, now=NOW).allowed
            if got is not (res is own):
                errors.append(f"thread {n} iteration {i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- remote client against a mock transport (the real-HTTP contract test is in integration) ---


def _remote(handler: Any, url: str = "http://opa.invalid:8181", **kw: Any) -> RemoteOpaEngine:
    return RemoteOpaEngine(url, transport=httpx.MockTransport(handler), **kw)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"json": {"code": "internal_error"}}),
        (200, {"json": {}}),  # undefined
        (200, {"text": "not json"}),
        (200, {"json": {"result": {"allow": 1}}}),
    ],
)
def test_remote_bad_answers_fail_closed(status: int, body: dict[str, Any]) -> None:
    engine = _remote(lambda _request: httpx.Response(status, **body))

    async def run() -> None:
        with pytest.raises(PolicyUnavailable):
            await engine.authorize(STUDENT, "users.me.read")
        await engine.aclose()

    asyncio.run(run())


def test_remote_posts_input_to_the_data_api() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": {"allow": True, "reason": "allowed"}})

    engine = Blocking(_remote(handler, "http://opa:8181/", revision="r9"))
    decision = engine.authorize(STUDENT, "users.me.read", request_id="q")
    assert decision.allowed and decision.policy_revision == "r9"
    assert seen[0].method == "POST"
    assert seen[0].url.path == "/v1/data/dreamseed/api/authz/decision"
    assert b'"input"' in seen[0].content and b'"users.me.read"' in seen[0].content
    with pytest.raises(PolicyUnavailable):
        engine.query("dreamseed.api.authz.decision", {})
    engine.close()


def test_remote_timeout_fails_closed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    engine = Blocking(_remote(handler, "http://opa:8181"))
    with pytest.raises(PolicyUnavailable, match="unreachable"):
        engine.query(SQL_MASKING, {})
    assert engine.revision == "opa:opa"


def test_load_engine_with_url_is_remote() -> None:
    engine = load_engine("http://127.0.0.1:1")
    assert isinstance(engine, RemoteOpaEngine)
    asyncio.run(engine.aclose())
    assert bundle_module.DATA_ROOT == "config"
