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
from tests.integration.tutor.conftest import tutor_settings
from tests.support.school import account, class_with, items, quiz
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


def test_demo_tutor_answers_from_the_course_without_a_model(settings: Settings) -> None:
    # Out of reach of the per-address rate limit: 127.0.0.1 is shared by every test here.
    with (
        serve_in_thread(create_app(tutor_settings(settings))) as url,
        httpx.Client(base_url=url, timeout=60) as api,
    ):
        teacher, student = account(api, "teacher").headers, account(api, "student").headers
        klass = class_with(api, teacher, student)
        exam = quiz(api, teacher, klass["class_id"], items(api, teacher, (1,), options=2))
        course = seed_course(api, teacher, klass["class_id"], exam["exam_id"], 1)
        seed_tutor_lessons(api, teacher, course.course_id)
        answer = ask_tutor(api, student, klass["class_id"], DEMO_QUESTION)
    assert answer.startswith(FALLBACK_LABEL)
    assert "[Comparing fractions › Common denominator]" in answer
    assert answer.endswith("(fallback: no_model)")
