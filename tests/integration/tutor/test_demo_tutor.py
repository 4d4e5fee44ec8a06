"""The demo's tutor content seeds through the real API, and a student's question is answered by
the grounded fallback over real HTTP (no model configured), as `make demo` shows it."""

from __future__ import annotations

import httpx
import pytest

from apis.app import create_app
from apis.tutor.answers import FALLBACK_LABEL
from cli.demo_courses import seed_course
from cli.demo_tutor import DEMO_QUESTION, ask_tutor, seed_tutor_lessons
from core.settings import Settings
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


def _login(api: httpx.Client, role: str, name: str) -> dict[str, str]:
    email, password = f"{name}@tutor-demo.test", "demo-password-1"
    api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": name, "role": role},
    ).raise_for_status()
    token = api.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_demo_tutor_answers_from_the_course_without_a_model(settings: Settings) -> None:
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        teacher, student = _login(api, "teacher", "t-demo"), _login(api, "student", "s-demo")
        klass = api.post("/api/v1/classes", json={"name": "demo"}, headers=teacher).json()
        api.post(
            "/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=student
        ).raise_for_status()
        item = api.post(
            "/api/v1/items",
            json={"stem": "1/2 of 4?", "options": ["1", "2"], "answer_key": 1},
            headers=teacher,
        ).json()
        exam = api.post(
            "/api/v1/exams",
            json={"title": "t", "item_ids": [item["item_id"]], "class_id": klass["class_id"]},
            headers=teacher,
        ).json()
        course = seed_course(api, teacher, klass["class_id"], exam["exam_id"], 1)
        seed_tutor_lessons(api, teacher, course.course_id)
        answer = ask_tutor(api, student, klass["class_id"], DEMO_QUESTION)
    assert answer.startswith(FALLBACK_LABEL)
    assert "[Comparing fractions › Common denominator]" in answer
    assert answer.endswith("(fallback: no_model)")
