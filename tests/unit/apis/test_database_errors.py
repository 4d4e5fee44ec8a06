"""How the API answers when PostgreSQL is lost: 503 with Retry-After for connection loss, pool
exhaustion and shutdowns; a read runs once more; a write never does; program limits stay 500."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from litestar import Litestar, get, post
from litestar.testing import TestClient
from psycopg_pool import PoolTimeout

from apis.errors import EXCEPTION_HANDLERS
from apis.gateway.read_retry import ReadRetryMiddleware

CALLS: dict[str, int] = {}
FAILURES: list[Exception] = []  # raised in order by the routes below, one per call


def _next_failure(route: str) -> None:
    CALLS[route] = CALLS.get(route, 0) + 1
    if FAILURES:
        raise FAILURES.pop(0)


@get("/thing", sync_to_thread=False)
def read_thing() -> dict[str, str]:
    _next_failure("read")
    return {"thing": "ok"}


@post("/thing", sync_to_thread=False)
def write_thing() -> dict[str, str]:
    _next_failure("write")
    return {"thing": "written"}


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    CALLS.clear()
    FAILURES.clear()
    app = Litestar(
        [read_thing, write_thing],
        middleware=[ReadRetryMiddleware()],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "lost",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        PoolTimeout("couldn't get a connection after 5.00 sec"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
    ],
)
def test_a_write_on_a_lost_database_is_a_503_with_retry_after_and_runs_once(
    client: TestClient[Litestar], lost: Exception
) -> None:
    FAILURES.append(lost)
    reply = client.post("/thing")
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "2"
    assert reply.json()["error"] == {
        "status": 503,
        "message": "the database is unavailable (restarting or failing over); retry shortly",
    }
    assert CALLS == {"write": 1}


def test_a_read_runs_once_more_after_losing_the_database(client: TestClient[Litestar]) -> None:
    FAILURES.append(psycopg.errors.AdminShutdown("terminating connection"))
    reply = client.get("/thing")
    assert reply.status_code == 200 and reply.json() == {"thing": "ok"}
    assert CALLS == {"read": 2}


def test_a_read_is_retried_only_once(client: TestClient[Litestar]) -> None:
    FAILURES.extend([psycopg.OperationalError("lost"), psycopg.OperationalError("lost again")])
    reply = client.get("/thing")
    assert reply.status_code == 503 and reply.headers["retry-after"] == "2"
    assert CALLS == {"read": 2}
    assert client.get("/thing").status_code == 200  # the next request starts afresh


def test_a_program_limit_is_not_a_transient_outage(client: TestClient[Litestar]) -> None:
    FAILURES.append(psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"))
    reply = client.get("/thing")
    assert reply.status_code == 500
    assert CALLS == {"read": 1}
