"""The demo's course content seeds through the real API (and S3) and shows up for a student."""

from __future__ import annotations

import httpx
import pytest

from apis.app import create_app
from cli.demo_courses import add_figure, picture_png, seed_course, study, workbook_pdf
from core.settings import Settings
from tests.support.school import account, class_with, items, quiz
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


def test_demo_course_seeds_and_a_student_studies_it(settings: Settings) -> None:
    assert workbook_pdf("x").startswith(b"%PDF-") and picture_png().startswith(b"\x89PNG")
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        teacher, student = account(api, "teacher").headers, account(api, "student").headers
        klass = class_with(api, teacher, student)
        (item_id,) = items(api, teacher, (1,), options=2)
        figure = add_figure(api, teacher, item_id)
        exam = quiz(api, teacher, klass["class_id"], [item_id])
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
