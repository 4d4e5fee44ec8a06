"""The demo's course content seeds through the real API (and S3) and shows up for a student."""

from __future__ import annotations

import httpx
import pytest

from apis.app import create_app
from cli.demo_courses import add_figure, picture_png, seed_course, study, workbook_pdf
from core.settings import Settings
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


def _login(api: httpx.Client, role: str, n: int) -> dict[str, str]:
    email, password = f"demo-{role}-{n}@courses.test", "demo-password-1"
    api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    ).raise_for_status()
    token = api.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_demo_course_seeds_and_a_student_studies_it(settings: Settings) -> None:
    assert workbook_pdf("x").startswith(b"%PDF-") and picture_png().startswith(b"\x89PNG")
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        teacher, student = _login(api, "teacher", 1), _login(api, "student", 1)
        klass = api.post("/api/v1/classes", json={"name": "demo"}, headers=teacher).json()
        api.post(
            "/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=student
        ).raise_for_status()
        item = api.post(
            "/api/v1/items",
            json={"stem": "1/2 of 4?", "options": ["1", "2"], "answer_key": 1},
            headers=teacher,
        ).json()
        figure = add_figure(api, teacher, item["item_id"])
        exam = api.post(
            "/api/v1/exams",
            json={"title": "t", "item_ids": [item["item_id"]], "class_id": klass["class_id"]},
            headers=teacher,
        ).json()
        course = seed_course(api, teacher, klass["class_id"], exam["exam_id"], 1)
        study(api, student, course)
        lesson = api.get(f"/api/v1/lessons/{course.lesson_id}", headers=student).json()
        assert len(lesson["attachments"]) == 2 and "<table>" in lesson["html"]
        todo = api.get("/api/v1/assignments/todo", headers=student).json()
        statuses = sorted(t["work"]["status"] for t in todo)
        assert statuses == ["not_started", "submitted", "submitted"]  # the exam is still to take
        attempt = api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student).json()
        assert [m["media_id"] for m in attempt["items"][0]["media"]] == [figure]
        link = api.get(f"/api/v1/media/{figure}", headers=student)
        assert link.status_code == 200 and httpx.get(link.json()["url"]).content == picture_png(
            48, 48
        )
