"""The demo's LRS step over HTTP (the sync client `make demo` uses): class 1's credential sends
its student's lesson, and a statement about a student of another class is refused."""

from __future__ import annotations

import secrets
from dataclasses import replace

import psycopg
import pytest
from litestar.testing import TestClient

from apis.app import create_app
from cli.demo_lrs import outside_class_refusal, send_lesson_statements
from core.settings import Settings

pytestmark = pytest.mark.integration


def _person(api: TestClient, role: str) -> dict[str, str]:  # type: ignore[type-arg]
    email, password = f"{role}-{secrets.token_hex(4)}@school.test", secrets.token_hex(8)
    api.post("/api/v1/auth/register", json={"email": email, "password": password,
             "display_name": role, "role": role}).raise_for_status()  # fmt: skip
    login = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _class_with(api: TestClient, teacher: dict[str, str], student: dict[str, str]) -> str:  # type: ignore[type-arg]
    klass = api.post("/api/v1/classes/", json={"name": "C"}, headers=teacher).json()
    api.post("/api/v1/classes/join", json={"join_code": klass["join_code"]},
             headers=student).raise_for_status()  # fmt: skip
    return str(klass["class_id"])


def test_demo_lrs_credential_is_refused_outside_its_class(settings: Settings) -> None:
    app = create_app(
        replace(settings, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000), relay=False
    )
    with TestClient(app) as api:
        t1, t2 = _person(api, "teacher"), _person(api, "teacher")
        s1, s2 = _person(api, "student"), _person(api, "student")
        class_1 = _class_with(api, t1, s1)
        _class_with(api, t2, s2)
        credential = send_lesson_statements(api, t1, class_1, s1)
        refused = outside_class_refusal(api, credential, s2)
        s2_id = api.get("/api/v1/users/me", headers=s2).json()["user_id"]
    assert refused.startswith("403 ") and "outside_class" in refused
    with psycopg.connect(settings.database_url) as conn:
        counts = conn.execute(
            "select count(*) filter (where class_id = %s), count(*) filter (where user_id = %s)"
            " from lrs.statements",
            (class_1, s2_id),
        ).fetchone()
    assert counts == (5, 0)  # the lesson's five statements; nothing about the other student
