"""RemoteOpaEngine against a real HTTP server on 127.0.0.1 that speaks OPA's data API.

There is no OPA binary here: the server answers ``POST /v1/data/<path>`` with ``{"input": …}``
by delegating to the in-process engine (``{"result": …}``, or ``{}`` when undefined), so this is
an honest contract test of the client: same inputs, same answers, and failures fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from governance import (
    LocalEngine,
    PolicyUnavailable,
    RemoteOpaEngine,
    Resource,
    RowFilter,
    Subject,
)
from tests.support.policy import Blocking

pytestmark = pytest.mark.integration

LOCAL = Blocking(LocalEngine())
NOW = "2024-04-29T10:00:00Z"


class OpaLikeHandler(BaseHTTPRequestHandler):
    mode = "ok"  # ok | error | slow

    def log_message(self, format: str, *args: Any) -> None:  # silence
        pass

    def do_POST(self) -> None:
        if self.mode == "error":
            self._send(500, {"code": "internal_error", "message": "boom"})
            return
        if self.mode == "slow":
            time.sleep(1.0)
        if not self.path.startswith("/v1/data/"):
            self._send(404, {"code": "not_found"})
            return
        rule = "data." + self.path.removeprefix("/v1/data/").split("?")[0].replace("/", ".")
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        try:
            result = LOCAL.query(rule, body.get("input", {}))
        except PolicyUnavailable:
            self._send(200, {})  # OPA: undefined document -> no "result"
            return
        self._send(200, {"result": result})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client timed out first (slow mode)
            self.wfile.write(data)


@pytest.fixture(scope="module")
def opa_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpaLikeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def remote(opa_url: str) -> Iterator[Blocking]:
    OpaLikeHandler.mode = "ok"
    engine = Blocking(RemoteOpaEngine(opa_url, timeout=0.5, revision=LOCAL.revision))
    yield engine
    engine.close()
    OpaLikeHandler.mode = "ok"


STUDENT = Subject("s1", "student", ("c1",))
TEACHER = Subject("t1", "teacher", ("c1",))
ANALYST = Subject("a1", "analyst")
CASES = [
    (STUDENT, "exams.attempt.read", Resource("attempt", "a", "s1", "c1")),
    (STUDENT, "exams.attempt.read", Resource("attempt", "a", "s2", "c1")),
    (STUDENT, "content.item.create", None),
    (TEACHER, "exams.result.read", Resource("result", "r", "s2", "c1")),
    (TEACHER, "exams.result.read", Resource("result", "r", "s2", "c2")),
    (ANALYST, "analytics.report.read", Resource("report", "usage")),
    (Subject(None, "anonymous"), "users.session.create", None),
    (Subject("x", "root"), "users.me.read", None),
]


@pytest.mark.parametrize(("subject", "action", "resource"), CASES)
def test_remote_answers_like_local(
    remote: Blocking, subject: Subject, action: str, resource: Resource | None
) -> None:
    got = remote.authorize(subject, action, resource, now=NOW, request_id="rq")
    want = LOCAL.authorize(subject, action, resource, now=NOW, request_id="rq")
    assert (got.allowed, got.reason) == (want.allowed, want.reason)
    assert got.policy_revision == LOCAL.revision and got.request_id == "rq"
    assert got.resource == want.resource and got.action == action


def test_remote_other_entrypoints(remote: Blocking) -> None:
    assert remote.sql_masking(ANALYST, "users.accounts", ["email", "user_id", "role"]) == {
        "email": "redact",
        "user_id": "pseudonymize",
        "role": "clear",
    }
    assert remote.sql_rows(TEACHER, "analytics.attempts_per_day") == LOCAL.sql_rows(
        TEACHER, "analytics.attempts_per_day"
    )
    assert remote.sql_rows(ANALYST, "exams.attempts") == RowFilter("all")
    assert remote.sql_access(ANALYST, "exams.attempts").allowed
    assert not remote.may_reveal(STUDENT, "i1", ["i1"], now=NOW).allowed
    assert remote.dashboard_access(TEACHER, "attempts_per_day", now=NOW).allowed
    assert remote.dashboard_rows(TEACHER, "attempts_per_day", now=NOW).mode == "any"


def test_remote_awaited_on_one_loop(opa_url: str) -> None:
    async def run() -> None:
        remote = RemoteOpaEngine(opa_url, timeout=0.5, revision=LOCAL.revision)
        got = await remote.authorize(STUDENT, "users.me.read", now=NOW)
        assert got.allowed
        assert not (await remote.may_reveal(STUDENT, "i1", ["i1"], now=NOW)).allowed
        assert (await remote.dashboard_access(TEACHER, "usage", now=NOW)).reason == (
            "role_not_allowed"
        )
        await remote.aclose()

    asyncio.run(run())


def test_undefined_rule_fails_closed(remote: Blocking) -> None:
    with pytest.raises(PolicyUnavailable, match="undefined"):
        remote.query("data.dreamseed.nope.decision", {})


def test_server_error_fails_closed(remote: Blocking) -> None:
    OpaLikeHandler.mode = "error"
    with pytest.raises(PolicyUnavailable, match="HTTP 500"):
        remote.authorize(STUDENT, "users.me.read")


def test_timeout_fails_closed(remote: Blocking) -> None:
    OpaLikeHandler.mode = "slow"
    with pytest.raises(PolicyUnavailable, match="unreachable"):
        remote.authorize(STUDENT, "users.me.read")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there any more


def test_connection_refused_fails_closed() -> None:
    engine = RemoteOpaEngine(f"http://127.0.0.1:{_closed_port()}")

    async def run() -> None:
        with pytest.raises(PolicyUnavailable, match="unreachable"):
            await engine.authorize(STUDENT, "users.me.read")
        await engine.aclose()

    asyncio.run(run())
