"""Gateway behaviour: 401 without a token, revocation on logout, refresh rotation, 4xx messages,
rate limiting with Retry-After, health/ready/metrics/docs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace

from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from tests.integration.apis.conftest import make_account

PROTECTED = [
    ("GET", "/api/v1/users/me"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/classes/"),
    ("POST", "/api/v1/classes/"),
    ("POST", "/api/v1/classes/join"),
    ("GET", f"/api/v1/classes/{uuid.uuid4()}"),
    ("POST", "/api/v1/items/"),
    ("GET", f"/api/v1/items/{uuid.uuid4()}"),
    ("POST", "/api/v1/exams/"),
    ("GET", f"/api/v1/exams/{uuid.uuid4()}"),
    ("POST", f"/api/v1/exams/{uuid.uuid4()}/attempts"),
    ("GET", f"/api/v1/attempts/{uuid.uuid4()}"),
    ("POST", f"/api/v1/attempts/{uuid.uuid4()}/responses"),
    ("POST", f"/api/v1/attempts/{uuid.uuid4()}/finish"),
]


async def test_every_protected_route_answers_401_without_a_token(client: AsyncTestClient) -> None:
    for method, path in PROTECTED:
        reply = await client.request(method, path)
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["error"]["message"]
        bad = await client.request(method, path, headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code == 401, (method, path)


async def test_logout_revokes_the_token_and_refresh_is_single_use(client: AsyncTestClient) -> None:
    teacher = await make_account(client, "teacher")
    login = (
        await client.post(
            "/api/v1/auth/login", json={"email": teacher.email, "password": teacher.password}
        )
    ).json()
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
    )
    assert refreshed.status_code == 200
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
    )
    assert reused.status_code == 401
    headers = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    after = await client.get("/api/v1/users/me", headers=headers)
    assert after.status_code == 401 and "revoked" in after.json()["error"]["message"]


async def test_bad_input_answers_4xx_with_a_message(client: AsyncTestClient) -> None:
    teacher = await make_account(client, "teacher")
    h = teacher.headers
    cases = [
        (
            "POST",
            "/api/v1/auth/register",
            {"email": "nope", "password": "x", "display_name": ""},
            None,
            400,
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"email": teacher.email, "password": "longenough1", "display_name": "Dup"},
            None,
            409,
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"email": "a@b.test", "password": "longenough1", "display_name": "A", "role": "admin"},
            None,
            400,
        ),
        ("POST", "/api/v1/auth/login", {"email": teacher.email, "password": "wrong"}, None, 401),
        ("POST", "/api/v1/auth/login", {"email": teacher.email}, None, 400),
        ("POST", "/api/v1/auth/refresh", {"refresh_token": "x" * 20}, None, 401),
        ("POST", "/api/v1/classes/", {"name": ""}, h, 400),
        ("POST", "/api/v1/classes/", {"name": "ok", "extra": 1}, h, 400),
        ("POST", "/api/v1/items/", {"stem": "?", "options": ["a"], "answer_key": 0}, h, 400),
        ("POST", "/api/v1/items/", {"stem": "?", "options": ["a", "b"], "answer_key": 5}, h, 400),
        ("POST", "/api/v1/items/", "not json", h, 400),
        ("POST", "/api/v1/exams/", {"title": "t", "item_ids": []}, h, 400),
        ("POST", "/api/v1/exams/", {"title": "t", "item_ids": [str(uuid.uuid4())]}, h, 404),
        ("POST", "/api/v1/exams/", {"title": "t", "item_ids": ["not-a-uuid"]}, h, 400),
        ("GET", f"/api/v1/exams/{uuid.uuid4()}", None, h, 404),
        ("GET", "/api/v1/exams/not-a-uuid", None, h, 404),
    ]
    for method, path, body, headers, expected in cases:
        kwargs = {"content": body} if isinstance(body, str) else {"json": body}
        reply = await client.request(method, path, headers=headers, **kwargs)
        assert reply.status_code == expected, (path, body, reply.status_code, reply.text)
        assert reply.json()["error"]["message"], reply.text


async def test_student_join_with_unknown_code_is_404(client: AsyncTestClient) -> None:
    student = await make_account(client, "student")
    reply = await client.post(
        "/api/v1/classes/join", json={"join_code": "ZZZZZZZZ"}, headers=student.headers
    )
    assert reply.status_code == 404 and "join code" in reply.json()["error"]["message"]


async def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    app = create_app(replace(settings, rate_limit_per_user=3, rate_limit_per_ip=100_000))
    async with AsyncTestClient(app) as client:
        account = await make_account(client, "student")
        statuses = [
            (await client.get("/api/v1/users/me", headers=account.headers)).status_code
            for _ in range(5)
        ]
        assert statuses[:3] == [200, 200, 200]
        limited = await client.get("/api/v1/users/me", headers=account.headers)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1


async def test_operational_routes(client: AsyncTestClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"postgresql", "redis", "s3"}
    await client.get("/health")
    metrics = await client.get("/metrics")
    assert "dreamseed_http_requests_total" in metrics.text
    docs = await client.get("/schema/docs")
    assert docs.status_code == 200 and "/schema/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    asset = await client.get("/schema/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    spec = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/attempts/{attempt_id}/responses" in spec["paths"]
    rid = secrets.token_hex(4)
    echoed = await client.get("/health", headers={"X-Request-ID": rid})
    assert echoed.headers["x-request-id"] == rid


async def test_redis_outage_answers_503_not_500(settings: Settings) -> None:
    """Tokens cannot be checked against the revocation list: fail closed with 503."""
    async with AsyncTestClient(create_app(settings)) as healthy:
        account = await make_account(healthy, "student")
        signed_in = await healthy.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        refresh_token = signed_in.json()["refresh_token"]
    # Nothing listens on port 1: a real connection failure, not a mock.
    down = replace(settings, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(create_app(down, relay=False)) as client:
        me = await client.get("/api/v1/users/me", headers=account.headers)
        assert me.status_code == 503 and me.headers["retry-after"] == "1"
        assert "Redis" in me.json()["error"]["message"]
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("failed")
        login = await client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        # Sign-in fails closed too: without Redis failed guesses could not be counted (and the
        # token could not be used anyway).
        assert login.status_code == 503 and login.headers["retry-after"] == "1"
        refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 503


async def test_access_log_records_the_status_the_client_got(client: AsyncTestClient) -> None:
    import json
    import logging

    lines: list[dict[str, object]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    handler = Collect()
    logging.getLogger("dreamseed.access").addHandler(handler)
    try:
        denied = await client.get("/api/v1/users/me", headers={"X-Request-ID": "rid-401"})
        assert denied.status_code == 401
        await client.get("/health", headers={"X-Request-ID": "rid-200"})
    finally:
        logging.getLogger("dreamseed.access").removeHandler(handler)
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["rid-401"]["status"] == 401 and by_id["rid-401"]["route"] == "/api/v1/users/me"
    assert by_id["rid-200"]["status"] == 200 and isinstance(by_id["rid-200"]["ms"], float)
