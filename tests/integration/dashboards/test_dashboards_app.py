"""The dashboards app end to end: real PostgreSQL (scratch database), real Redis, real policy.

The mart `analytics.agg_attempts_per_day` is created here with real rows, so these tests do not
depend on the dbt project. Nothing skips: a missing service fails the `settings` fixture.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis
from starlette.websockets import WebSocketDisconnect

from core.auth import hash_password, issue_token, revocation_key
from core.settings import Settings
from dashboards.app import create_app
from governance import PolicyEngine, PolicyUnavailable

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),  # a Shiny WebSocket that never answers must not hang the suite
]

with warnings.catch_warnings():  # starlette warns that its TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PAGE = "/pages/attempts_per_day/"
PASSWORD = "correct horse battery staple"

MART_DDL = """
create schema if not exists analytics;
create table if not exists analytics.agg_attempts_per_day (
    completed_on   date not null,
    class_id       uuid,
    attempt_count  bigint not null,
    mean_score_pct numeric
);
"""


@dataclass(frozen=True)
class World:
    teacher_id: str
    other_teacher_id: str
    student_id: str
    admin_id: str
    teacher_email: str
    class_name: str
    other_class_name: str


@pytest.fixture(scope="module")
def world(settings: Settings) -> World:
    tag = secrets.token_hex(3)
    ids = {k: str(uuid.uuid4()) for k in ("teacher", "other", "student", "admin")}
    emails = {k: f"{k}.{tag}@school.example" for k in ids}
    class_id, other_class_id = str(uuid.uuid4()), str(uuid.uuid4())
    class_name, other_class_name = f"Algebra 7B {tag}", f"Biology 9C {tag}"
    today = datetime.now(UTC).date()
    pw_hash = hash_password(PASSWORD)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(MART_DDL)
        for kind, role in (
            ("teacher", "teacher"),
            ("other", "teacher"),
            ("student", "student"),
            ("admin", "admin"),
        ):
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, %s)",
                (ids[kind], emails[kind], f"{kind} {tag}", role, pw_hash),
            )
        for cid, name, teacher in (
            (class_id, class_name, ids["teacher"]),
            (other_class_id, other_class_name, ids["other"]),
        ):
            conn.execute(
                "insert into classes.classes (class_id, name, teacher_id, join_code)"
                " values (%s, %s, %s, %s)",
                (cid, name, teacher, f"J{secrets.token_hex(4)}"),
            )
        conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            (class_id, ids["student"]),
        )
        rows: list[tuple[date, str | None, int, float | None]] = [
            # mean_score_pct is a fraction in [0, 1] (the dbt mart's contract)
            (today - timedelta(days=1), class_id, 3, 0.715),
            (today - timedelta(days=2), class_id, 5, 0.64),
            (today - timedelta(days=1), other_class_id, 7919, 0.88),
            (today - timedelta(days=400), class_id, 2, None),  # outside the default period
            (today - timedelta(days=3), None, 4111, 0.5),  # an exam outside any class
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into analytics.agg_attempts_per_day"
                " (completed_on, class_id, attempt_count, mean_score_pct) values (%s, %s, %s, %s)",
                rows,
            )
    return World(
        teacher_id=ids["teacher"],
        other_teacher_id=ids["other"],
        student_id=ids["student"],
        admin_id=ids["admin"],
        teacher_email=emails["teacher"],
        class_name=class_name,
        other_class_name=other_class_name,
    )


@pytest.fixture(scope="module")
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    # A client address of this module's own: the failed-sign-in windows are shared through Redis.
    address = (f"127.9.{secrets.randbelow(250)}.{secrets.randbelow(250) + 2}", 50000)
    with TestClient(create_app(settings), follow_redirects=False, client=address) as test_client:
        yield test_client


def bearer(settings: Settings, user_id: str, role: str) -> dict[str, str]:
    token, _ = issue_token(settings.jwt_secret, user_id, role, "access", timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_401(client: TestClient) -> None:
    for path in (PAGE, "/", PAGE + "websocket/"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "sign in required"
    garbage = client.get(PAGE, headers={"Authorization": "Bearer not-a-jwt"})
    assert garbage.status_code == 401
    assert "invalid token" in garbage.json()["error"]


def test_browser_without_session_is_redirected_to_login(client: TestClient) -> None:
    response = client.get(PAGE, headers={"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/pages/attempts_per_day/"
    form = client.get("/login")
    assert form.status_code == 200
    assert "name='password'" in form.text


def test_student_is_forbidden(client: TestClient, settings: Settings, world: World) -> None:
    response = client.get(PAGE, headers=bearer(settings, world.student_id, "student"))
    assert response.status_code == 403
    body = response.json()
    assert body["reason"] == "role_not_allowed"
    assert "may not open" in body["error"]
    index = client.get(
        "/", headers={**bearer(settings, world.student_id, "student"), "Accept": "application/json"}
    )
    assert index.status_code == 200
    # a student's index lists only her own report
    assert [p["name"] for p in index.json()["pages"]] == ["student_report"]


def test_teacher_sees_only_her_classes(
    client: TestClient, settings: Settings, world: World
) -> None:
    response = client.get(PAGE, headers=bearer(settings, world.teacher_id, "teacher"))
    assert response.status_code == 200
    html = response.text
    assert world.class_name in html
    assert world.other_class_name not in html
    assert "7919" not in html  # the other class's count
    assert "4111" not in html and "(no class)" not in html
    assert "8 completed attempts" in html  # 3 + 5 in the default 90 days, not the 400-day-old 2
    assert "mean score 66.8 %" in html  # (3*71.5 + 5*64) / 8
    assert 'src="/static/plotly.min.js' in html
    assert "Plotly.newPlot" in html
    assert "cdn.plot.ly" not in html and "cdn.jsdelivr" not in html
    assert len(html) < 500_000  # plotly.js is not inlined
    # the shell: theme and script from our own routes, the navigation marks this page
    assert 'href="/static/dreamseed.css"' in html and 'src="/static/dreamseed.js"' in html
    assert "aria-current='page'>Completed exam attempts per day<" in html
    assert 'data-ds-filter="period"' in html and "data-ds-table" in html

    everything = client.get(
        PAGE + "?period=all", headers=bearer(settings, world.teacher_id, "teacher")
    )
    assert "10 completed attempts" in everything.text


def test_admin_sees_all_classes(client: TestClient, settings: Settings, world: World) -> None:
    response = client.get(PAGE, headers=bearer(settings, world.admin_id, "admin"))
    assert response.status_code == 200
    assert world.class_name in response.text
    assert world.other_class_name in response.text
    assert "(no class)" in response.text and "4111" in response.text
    index = client.get(
        "/", headers={**bearer(settings, world.admin_id, "admin"), "Accept": "application/json"}
    )
    assert [p["name"] for p in index.json()["pages"]] == [
        "attempts_per_day",
        "class_report",
        "item_bank_health",
        "student_report",
        "usage",
        "platform_health",
        "policy_audit",
    ]


def test_login_sets_an_httponly_strict_cookie(client: TestClient, world: World) -> None:
    wrong = client.post("/login", data={"email": world.teacher_email, "password": "nope"})
    assert wrong.status_code == 401
    assert "e-mail or password is wrong" in wrong.text
    assert "ds_session" not in wrong.headers.get("set-cookie", "")
    nobody = f"nobody.{secrets.token_hex(3)}@school.example"  # failures are counted per e-mail
    unknown = client.post("/login", json={"email": nobody, "password": "x"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "e-mail or password is wrong"
    missing = client.post("/login", json={"email": world.teacher_email})
    assert missing.status_code == 400

    right = client.post(
        "/login",
        data={"email": world.teacher_email.upper(), "password": PASSWORD, "next": PAGE},
    )
    assert right.status_code == 303
    assert right.headers["location"] == PAGE
    cookie = right.headers["set-cookie"]
    assert cookie.startswith("ds_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie

    page = client.get(PAGE)  # the client's cookie jar now carries ds_session
    assert page.status_code == 200
    assert world.class_name in page.text
    logout = client.post("/logout")
    assert logout.status_code == 200
    client.cookies.clear()


def test_login_refuses_open_redirects(client: TestClient, world: World) -> None:
    response = client.post(
        "/login",
        data={"email": world.teacher_email, "password": PASSWORD, "next": "//evil.example/"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    client.cookies.clear()


def test_logout_revokes_the_token(client: TestClient, settings: Settings, world: World) -> None:
    login = client.post("/login", json={"email": world.teacher_email, "password": PASSWORD})
    assert login.status_code == 200
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get(PAGE, headers=headers).status_code == 200

    logout = client.post("/logout", headers=headers)
    assert logout.status_code == 200
    assert (
        'ds_session=""' in logout.headers["set-cookie"]
        or "Max-Age=0" in logout.headers["set-cookie"]
    )
    after = client.get(PAGE, headers=headers)
    assert after.status_code == 401
    assert after.json()["error"] == "token has been revoked"

    token_id = _jti(login.json()["access_token"])
    ttl = redis.Redis.from_url(settings.redis_url).ttl(revocation_key(token_id))
    assert 0 < ttl <= settings.access_token_minutes * 60


def test_plotly_js_is_served_locally(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert len(response.content) > 1_000_000
    assert b"plotly" in response.content[:2000].lower()


def test_theme_and_script_are_served_locally(client: TestClient) -> None:
    css = client.get("/static/dreamseed.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ".ds-topbar" in css.text
    js = client.get("/static/dreamseed.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "data-ds-filter" in js.text
    missing = client.get("/static/..%2Fapp.py")
    assert missing.status_code == 404
    assert client.get("/static/other.js").json()["error"] == "no static file named 'other.js'"


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["postgresql"] == "ok"
    assert response.json()["redis"] == "ok"


def test_shiny_session_renders_filtered_rows(
    client: TestClient, settings: Settings, world: World
) -> None:
    """The Shiny server function reads the gate's decision from the WebSocket scope."""
    headers = bearer(settings, world.teacher_id, "teacher")
    with client.websocket_connect(PAGE + "websocket/", headers=headers) as ws:
        assert "config" in json.loads(ws.receive_text())
        # What shiny.js sends: inputs plus "the outputs are visible" client data.
        init = {
            "period": "all",
            ".clientdata_output_chart_hidden": False,
            ".clientdata_output_table_hidden": False,
        }
        ws.send_text(json.dumps({"method": "init", "data": init}))
        values = _receive_values(ws, {"chart", "table"})
    table = json.dumps(values["table"])
    assert world.class_name in table
    assert world.other_class_name not in table
    assert "10 completed attempts" in table
    assert "Plotly.newPlot" in json.dumps(values["chart"])


def test_shiny_session_refuses_students(
    client: TestClient, settings: Settings, world: World
) -> None:
    headers = bearer(settings, world.student_id, "student")
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(PAGE + "websocket/", headers=headers) as ws,
    ):
        ws.receive_text()
    assert refused.value.code == 4403


def test_policy_engine_failure_is_503(settings: Settings, world: World) -> None:
    with TestClient(create_app(settings, policy=_BrokenEngine()), follow_redirects=False) as c:
        response = c.get(PAGE, headers=bearer(settings, world.teacher_id, "teacher"))
        assert response.status_code == 503
        assert response.json()["error"] == "access policy unavailable"
        index = c.get("/", headers=bearer(settings, world.admin_id, "admin"))
        assert index.status_code == 503


class _BrokenEngine(PolicyEngine):
    @property
    def revision(self) -> str:
        return "broken"

    async def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        raise PolicyUnavailable("engine down", rule=rule)


def _jti(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def _receive_values(ws: Any, wanted: set[str], limit: int = 50) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for _ in range(limit):
        message = json.loads(ws.receive_text())
        values.update(message.get("values") or {})
        errors = message.get("errors") or {}
        assert not errors, errors
        if wanted <= values.keys():
            return values
    raise AssertionError(f"no values for {wanted - values.keys()} after {limit} messages")


def test_shiny_session_ends_when_the_token_expires(
    client: TestClient, settings: Settings, world: World
) -> None:
    token, claims = issue_token(
        settings.jwt_secret, world.teacher_id, "teacher", "access", timedelta(seconds=2)
    )
    with client.websocket_connect(
        PAGE + "websocket/", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        ws.receive_text()
        init = {
            "period": "30",
            ".clientdata_output_chart_hidden": False,
            ".clientdata_output_table_hidden": False,
        }
        ws.send_text(json.dumps({"method": "init", "data": init}))
        _receive_values(ws, {"chart", "table"})
        time.sleep(max(0.0, (claims.expires_at - datetime.now(UTC)).total_seconds()) + 0.2)
        ws.send_text(json.dumps({"method": "update", "data": {"period": "all"}}))
        with pytest.raises(WebSocketDisconnect) as ended:
            for _ in range(20):  # no further renders: the session ends
                message = json.loads(ws.receive_text())
                assert world.class_name not in json.dumps(message.get("values") or {})
        assert ended.value.code == 4401


def test_page_decisions_are_audited(client: TestClient, settings: Settings, world: World) -> None:
    assert (
        client.get(PAGE, headers=bearer(settings, world.teacher_id, "teacher")).status_code == 200
    )
    assert (
        client.get(PAGE, headers=bearer(settings, world.student_id, "student")).status_code == 403
    )
    wanted = {(world.teacher_id, True, "allowed"), (world.student_id, False, "role_not_allowed")}
    found: set[tuple[str, bool, str]] = set()
    deadline = time.monotonic() + 10
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline and not wanted <= found:
            rows = conn.execute(
                "select subject_id, allowed, reason from governance.decisions"
                " where decision = 'data.dreamseed.dashboards.access.decision'"
                " and resource->>'id' = 'attempts_per_day' and subject_id = any(%s)",
                ([world.teacher_id, world.student_id],),
            ).fetchall()
            found = {(str(r[0]), bool(r[1]), str(r[2])) for r in rows}
            time.sleep(0.1)
    assert wanted <= found


def test_missing_mart_is_a_clear_503(settings: Settings, world: World) -> None:
    """A page whose dataset has not been built (dbt not run) answers 503 with a message."""
    from dashboards.pages import attempts_per_day
    from dashboards.pages.base import PageSpec

    async def preload_missing(ctx: Any, access: Any, request: Any) -> Any:
        return await ctx.resources.fetch_all("select * from analytics.not_built_yet")

    spec = PageSpec(
        name="attempts_per_day",
        title="Attempts",
        description="",
        build=attempts_per_day.build,
        preload=preload_missing,
    )
    with TestClient(create_app(settings, pages=[spec]), follow_redirects=False) as c:
        response = c.get(PAGE, headers=bearer(settings, world.teacher_id, "teacher"))
    assert response.status_code == 503
    assert "has not been built yet" in response.json()["error"]


def test_repeated_failed_sign_ins_are_throttled(client: TestClient, settings: Settings) -> None:
    """The dashboards sign in through the one auth service: its failed-sign-in throttle."""
    email = f"ghost.{secrets.token_hex(3)}@school.example"
    for _ in range(settings.login_failures_per_account_client):
        response = client.post("/login", json={"email": email, "password": "guess"})
        assert response.status_code == 401
    throttled = client.post("/login", json={"email": email, "password": "guess"})
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.json()["error"]
    assert int(throttled.headers["Retry-After"]) >= 1
