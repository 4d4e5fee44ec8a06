"""An adaptive exam row whose config lacks its CAT configuration (written straight into the
table, or by an older version) must not break the API: results still list (200) and reading
them needs no CAT rules; delivering items answers 409 naming the exam, never 500."""

from __future__ import annotations

from dataclasses import replace

import psycopg
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from tests.integration.exams.school import adaptive_exam, school
from tests.integration.exams.test_adaptive import take


async def test_results_list_and_delivery_refuses_with_409_naming_the_exam(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=2, n_items=20)
    exam = await adaptive_exam(client, sch)
    final = await take(client, sch, 0, exam["exam_id"], theta=0.2, seed=5)
    assert final["status"] == "completed"
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "update exams.exams set config = config - 'cat' where exam_id = %s",
            (exam["exam_id"],),
        )
    # A new process's cache: the exam is loaded from the changed row.
    fresh = create_app(
        replace(settings, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000),
        relay=False,
    )
    async with AsyncTestClient(fresh) as api:
        listed = await api.get(
            f"/api/v1/results/?exam_id={exam['exam_id']}", headers=sch.teacher.headers
        )
        assert listed.status_code == 200, listed.text
        assert [r["attempt_id"] for r in listed.json()] == [final["attempt_id"]]
        mine = await api.get(
            f"/api/v1/attempts/{final['attempt_id']}/result", headers=sch.students[0].headers
        )
        assert mine.status_code == 200, mine.text
        assert mine.json()["theta"] == final["result"]["theta"]
        started = await api.post(
            f"/api/v1/exams/{exam['exam_id']}/attempts", headers=sch.students[1].headers
        )
        assert started.status_code == 409, started.text
        assert exam["exam_id"] in started.text and "CAT configuration" in started.text
