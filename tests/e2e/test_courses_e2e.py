"""Courses, media and assignments end to end over real HTTP (uvicorn on a socket) with real
PostgreSQL, Redis and the S3 server, then the lake:

a teacher builds a course with a lesson holding a PDF and an image (uploaded through presigned
URLs), assigns the lesson and an exam (and a file task) to her class with due times; a student
lists her assignments, opens the lesson (the download URLs work; a student of another class gets
403 and no URL), her reading is recorded as learning records, she submits a file late and takes
the exam; the teacher sees the statuses, grades and returns; the outbox reaches the silver tables
with every record exactly once.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from apis.app import create_app as create_api
from core.settings import Settings
from lake.catalog import load_catalog
from lake.ingest import ingest_outbox
from lake.silver import derive_silver, route
from lake.tables import identifier
from tests.support.lake import ship
from tests.support.school import account, ok, upload
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n% workbook\n1 0 obj << >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(256)
ESSAY = b"%PDF-1.4\n% my essay\n%%EOF\n"


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_api(settings)) as url:
        yield url


def _at(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _statuses(api: httpx.Client, who: dict[str, str]) -> dict[str, str]:
    todo = ok(api.get("/api/v1/assignments/todo", headers=who))
    return {t["assignment"]["title"]: t["work"]["status"] for t in todo}


def _last_seq(settings: Settings) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("select coalesce(max(event_seq), 0) from events.outbox").fetchone()
    assert row is not None
    return int(row[0])


def test_courses_media_assignments_end_to_end(settings: Settings, api_url: str) -> None:
    before = _last_seq(settings)  # the session's database is shared: count this story only
    with httpx.Client(base_url=api_url, timeout=60) as api:
        t = account(api, "teacher").headers
        student_id, _, s = account(api, "student")
        other_teacher = account(api, "teacher").headers
        outsider = account(api, "student").headers
        klass = ok(api.post("/api/v1/classes", json={"name": "5A"}, headers=t), 201)
        other = ok(api.post("/api/v1/classes", json={"name": "5B"}, headers=other_teacher), 201)
        ok(api.post("/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=s))
        ok(
            api.post(
                "/api/v1/classes/join", json={"join_code": other["join_code"]}, headers=outsider
            )
        )
        class_id = klass["class_id"]

        # The teacher's course: a lesson with a PDF workbook and an image.
        course = ok(api.post("/api/v1/courses", json={"title": "Fractions"}, headers=t), 201)
        cid = course["course_id"]
        unit = ok(
            api.post(f"/api/v1/courses/{cid}/units", json={"title": "Halves"}, headers=t), 201
        )
        lesson = ok(
            api.post(
                f"/api/v1/units/{unit['unit_id']}/lessons",
                json={"title": "What is a half?", "body": "# Halves\n\nTwo equal parts."},
                headers=t,
            ),
            201,
        )
        lid = lesson["lesson_id"]
        files = [
            upload(api, t, ("lesson", lid), PDF, "application/pdf"),
            upload(api, t, ("lesson", lid), PNG, "image/png"),
        ]
        ok(api.patch(f"/api/v1/lessons/{lid}", json={"attachments": files}, headers=t))
        ok(api.post(f"/api/v1/lessons/{lid}/publish", headers=t))
        ok(api.post(f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=t))

        # An exam for the class, and three assignments.
        items = [
            ok(
                api.post(
                    "/api/v1/items",
                    json={"stem": f"{n}/2 of 4?", "options": ["1", "2", "3"], "answer_key": n},
                    headers=t,
                ),
                201,
            )["item_id"]
            for n in (1, 2)
        ]
        exam = ok(
            api.post(
                "/api/v1/exams",
                json={"title": "Quiz", "item_ids": items, "class_id": class_id},
                headers=t,
            ),
            201,
        )
        common = {"class_id": class_id, "open_at": _at(-48), "due_at": _at(24)}
        read_it = ok(
            api.post(
                "/api/v1/assignments",
                json={**common, "kind": "lesson", "lesson_id": lid, "title": "Read"},
                headers=t,
            ),
            201,
        )
        quiz = ok(
            api.post(
                "/api/v1/assignments",
                json={**common, "kind": "exam", "exam_id": exam["exam_id"], "title": "Quiz",
                      "points": 10},
                headers=t,
            ),
            201,
        )  # fmt: skip
        essay = ok(
            api.post(
                "/api/v1/assignments",
                json={**common, "due_at": _at(-1), "kind": "task", "accepts_files": True,
                      "late_policy": "flag", "title": "Essay", "points": 20},
                headers=t,
            ),
            201,
        )  # fmt: skip

        # The student: her list, the lesson, its files.
        assert _statuses(api, s) == {"Read": "not_started", "Quiz": "not_started", "Essay": "late"}
        assert [c["course_id"] for c in ok(api.get("/api/v1/courses", headers=s))] == [cid]
        seen = ok(api.get(f"/api/v1/lessons/{lid}", headers=s))
        assert "<h1>Halves</h1>" in seen["html"]
        for media_id, body in zip(files, (PDF, PNG), strict=True):
            link = ok(api.get(f"/api/v1/media/{media_id}", headers=s))
            assert httpx.get(link["url"]).content == body
            denied = api.get(f"/api/v1/media/{media_id}", headers=outsider)
            assert denied.status_code == 403 and "X-Amz" not in denied.text
        assert api.get(f"/api/v1/lessons/{lid}", headers=outsider).status_code == 403
        ok(
            api.post(
                f"/api/v1/lessons/{lid}/progress", json={"progress": 0.6, "seconds": 120}, headers=s
            ),
            201,
        )
        ok(
            api.post(
                f"/api/v1/lessons/{lid}/progress",
                json={"completed": True, "seconds": 60},
                headers=s,
            ),
            201,
        )

        # A file handed in late, then the exam.
        mine = upload(api, s, ("submission", essay["assignment_id"]), ESSAY, "application/pdf")
        late = ok(
            api.post(
                f"/api/v1/assignments/{essay['assignment_id']}/submissions",
                json={"media_ids": [mine]},
                headers=s,
            ),
            201,
        )
        assert late["is_late"]
        attempt = ok(api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=s), 201)
        for item in attempt["items"]:
            ok(
                api.post(
                    f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                    json={"item_id": item["item_id"], "choice": 1},
                    headers=s,
                ),
                201,
            )
        ok(api.post(f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=s))
        assert _statuses(api, s) == {"Read": "submitted", "Quiz": "submitted", "Essay": "submitted"}

        # The teacher: statuses, the file, grade and return.
        board = ok(api.get(f"/api/v1/assignments/{essay['assignment_id']}", headers=t))
        (work,) = board["work"]
        assert work["student_id"] == student_id and work["is_late"] and work["flagged"]
        quiz_board = ok(api.get(f"/api/v1/assignments/{quiz['assignment_id']}", headers=t))
        assert quiz_board["work"][0]["attempt_id"] == attempt["attempt_id"]
        assert httpx.get(ok(api.get(f"/api/v1/media/{mine}", headers=t))["url"]).content == ESSAY
        assert api.get(f"/api/v1/media/{mine}", headers=outsider).status_code == 403
        path = f"/api/v1/assignments/{essay['assignment_id']}/students/{student_id}"
        ok(api.post(f"{path}/grade", json={"points": 15, "feedback": "Late but good."}, headers=t))
        ok(api.post(f"{path}/return", headers=t))
        assert _statuses(api, s)["Essay"] == "returned"
        assert read_it["assignment_id"]

    # The lake: bronze then silver, twice (the second run adds nothing): every event of this
    # story is in its silver table exactly once.
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select event_id::text, event_type from events.outbox where event_seq > %s"
            " and (event_type like 'learning.%%' or event_type like 'assignments.%%')",
            (before,),
        ).fetchall()
    expected: dict[str, set[str]] = {}
    for event_id, event_type in rows:
        table = route(event_type)
        assert table is not None, event_type
        expected.setdefault(table, set()).add(event_id)
    kinds = Counter(event_type for _, event_type in rows)
    assert kinds["learning.record.recorded.v1"] == 3  # one view, one progress, one completion
    assert kinds["assignments.work.submitted.v1"] == 3
    ship(settings)
    ingest_outbox(settings)  # a rerun adds nothing
    derive_silver(settings)
    catalog = load_catalog(settings)
    for table, ids in expected.items():
        stored = (
            catalog.load_table(identifier(settings, table))
            .scan(selected_fields=("event_id",))
            .to_arrow()
            .column("event_id")
            .to_pylist()
        )
        mine_only = [e for e in stored if e in ids]
        assert sorted(mine_only) == sorted(ids), table  # every record, exactly once
    records = catalog.load_table(identifier(settings, "learning_records")).scan().to_arrow()
    assert "student_id" not in records.column_names  # pseudonymised in the lake
