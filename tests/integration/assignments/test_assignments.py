"""Assignments over HTTP on real PostgreSQL, Redis and S3: statuses through the whole life of a
task (submitted in versions, graded, returned), late policies, an exam assignment handed in by
finishing the attempt, file submissions through the media path, class management, and no
student reaching another student's work."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from lake.pseudonym import pseudonymize
from tests.integration.apis.conftest import Account, make_account
from tests.integration.learning.helpers import make_class, ok, outbox_types
from tests.support.lake import ship

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
PDF = b"%PDF-1.4\nmy essay\n%%EOF\n"


def when(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def assign(client: AsyncTestClient, teacher: Account, **body: Any) -> dict[str, Any]:
    body.setdefault("title", "Homework")
    body.setdefault("open_at", when(-1))
    body.setdefault("due_at", when(24))
    return await ok(
        await client.post("/api/v1/assignments", json=body, headers=teacher.headers), 201
    )


def status_of(todo: list[dict[str, Any]], assignment_id: str) -> dict[str, Any]:
    (line,) = [t for t in todo if t["assignment"]["assignment_id"] == assignment_id]
    return line["work"]


async def todo(client: AsyncTestClient, who: Account) -> list[dict[str, Any]]:
    return await ok(await client.get("/api/v1/assignments/todo", headers=who.headers))


async def test_a_task_from_submission_to_returned_grade(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    s1, s2 = await make_account(client, "student"), await make_account(client, "student")
    outsider = await make_account(client, "student")
    class_id = await make_class(client, teacher, s1, s2)
    await make_class(client, await make_account(client, "teacher"), outsider)
    t = teacher.headers
    task = await assign(
        client, teacher, class_id=class_id, kind="task", accepts_text=True, accepts_files=True,
        points=20, late_policy="flag",
    )  # fmt: skip
    aid = task["assignment_id"]
    assert status_of(await todo(client, s1), aid)["status"] == "not_started"
    assert await todo(client, outsider) == []
    assert (
        await client.get(f"/api/v1/assignments/{aid}", headers=outsider.headers)
    ).status_code == 403

    # Versions until the due time: text first, then text and a file (uploaded via media).
    first = await ok(
        await client.post(
            f"/api/v1/assignments/{aid}/submissions", json={"body": "draft"}, headers=s1.headers
        ),
        201,
    )
    assert first["version"] == 1 and not first["is_late"]
    ticket = await ok(
        await client.post(
            "/api/v1/media/uploads",
            json={
                "holder_type": "submission", "holder_id": aid, "filename": "essay.pdf",
                "content_type": "application/pdf", "size_bytes": len(PDF),
                "sha256": hashlib.sha256(PDF).hexdigest(),
            },
            headers=s1.headers,
        ),
        201,
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        put = await http.put(ticket["upload_url"], content=PDF, headers=ticket["headers"])
        assert put.status_code == 200
    media_id = ticket["media_id"]
    await ok(await client.post(f"/api/v1/media/{media_id}/finalise", headers=s1.headers))
    # A classmate cannot hand in s1's file, nor download it; the teacher can.
    stolen = await client.post(
        f"/api/v1/assignments/{aid}/submissions", json={"media_ids": [media_id]}, headers=s2.headers
    )
    assert stolen.status_code == 400 and "media_ids" in stolen.json()["error"]["message"]
    assert (await client.get(f"/api/v1/media/{media_id}", headers=s2.headers)).status_code == 403
    second = await ok(
        await client.post(
            f"/api/v1/assignments/{aid}/submissions",
            json={"body": "final", "media_ids": [media_id]},
            headers=s1.headers,
        ),
        201,
    )
    assert second["version"] == 2
    link = await ok(await client.get(f"/api/v1/media/{media_id}", headers=t))
    async with httpx.AsyncClient() as http:
        assert (await http.get(link["url"])).content == PDF

    mine = status_of(await todo(client, s1), aid)
    assert mine["status"] == "submitted" and mine["version"] == 2 and mine["points_awarded"] is None
    # Students see only their own work and submissions.
    peer_view = await ok(await client.get(f"/api/v1/assignments/{aid}", headers=s2.headers))
    assert [w["student_id"] for w in peer_view["work"]] == [s2.user_id]
    assert (
        await ok(await client.get(f"/api/v1/assignments/{aid}/submissions", headers=s2.headers))
        == []
    )
    assert (
        s1.user_id not in (await client.get(f"/api/v1/assignments/{aid}", headers=s2.headers)).text
    )

    # The teacher sees everyone's status, grades and returns.
    board = await ok(await client.get(f"/api/v1/assignments/{aid}", headers=t))
    statuses = {w["student_id"]: w["status"] for w in board["work"]}
    assert statuses == {s1.user_id: "submitted", s2.user_id: "not_started"}
    versions = await ok(await client.get(f"/api/v1/assignments/{aid}/submissions", headers=t))
    assert [(v["student_id"], v["version"]) for v in versions] == [(s1.user_id, 1), (s1.user_id, 2)]
    too_many = await client.post(
        f"/api/v1/assignments/{aid}/students/{s1.user_id}/grade", json={"points": 21}, headers=t
    )
    assert too_many.status_code == 400 and "points" in too_many.json()["error"]["message"]
    early = await client.post(f"/api/v1/assignments/{aid}/students/{s1.user_id}/return", headers=t)
    assert early.status_code == 409
    await ok(
        await client.post(
            f"/api/v1/assignments/{aid}/students/{s1.user_id}/grade",
            json={"points": 17.5, "feedback": "Good argument."},
            headers=t,
        )
    )
    graded = status_of(await todo(client, s1), aid)
    assert graded["status"] == "graded" and graded["points_awarded"] is None
    await ok(
        await client.post(f"/api/v1/assignments/{aid}/students/{s1.user_id}/return", headers=t)
    )
    returned = status_of(await todo(client, s1), aid)
    assert returned["status"] == "returned" and returned["points_awarded"] == 17.5
    assert returned["feedback"] == "Good argument."
    assert (
        await client.post(
            f"/api/v1/assignments/{aid}/submissions", json={"body": "x"}, headers=s1.headers
        )
    ).status_code == 409
    # Students never grade.
    assert (
        await client.post(
            f"/api/v1/assignments/{aid}/students/{s2.user_id}/grade", json={"points": 1},
            headers=s1.headers,
        )
    ).status_code == 403  # fmt: skip
    assert outbox_types(settings, aid) == [
        "assignments.assignment.created.v1",
        "assignments.work.submitted.v1",
        "assignments.work.submitted.v1",
        "assignments.work.graded.v1",
        "assignments.work.returned.v1",
    ]


async def test_late_policies(client: AsyncTestClient) -> None:
    teacher = await make_account(client, "teacher")
    student = await make_account(client, "student")
    class_id = await make_class(client, teacher, student)
    past = {"open_at": when(-48), "due_at": when(-1)}
    ids = {
        policy: (
            await assign(client, teacher, class_id=class_id, kind="task", accepts_text=True,
                         late_policy=policy, **past)
        )["assignment_id"]
        for policy in ("accept", "flag", "refuse")
    }  # fmt: skip
    future = await assign(
        client, teacher, class_id=class_id, kind="task", accepts_text=True,
        open_at=when(1), due_at=when(2),
    )  # fmt: skip
    lines = await todo(client, student)
    assert {status_of(lines, a)["status"] for a in ids.values()} == {"late"}
    assert future["assignment_id"] not in str(lines)  # not open yet: not listed
    s = student.headers
    refused = await client.post(
        f"/api/v1/assignments/{ids['refuse']}/submissions", json={"body": "x"}, headers=s
    )
    assert refused.status_code == 409 and "late" in refused.json()["error"]["message"]
    for policy, flagged in (("accept", False), ("flag", True)):
        sub = await ok(
            await client.post(
                f"/api/v1/assignments/{ids[policy]}/submissions", json={"body": "x"}, headers=s
            ),
            201,
        )
        assert sub["is_late"]
        work = status_of(await todo(client, student), ids[policy])
        assert work["status"] == "submitted" and work["is_late"] and work["flagged"] is flagged
        again = await client.post(
            f"/api/v1/assignments/{ids[policy]}/submissions", json={"body": "y"}, headers=s
        )
        assert again.status_code == 409  # one late version, then it stands
    early = await client.post(
        f"/api/v1/assignments/{future['assignment_id']}/submissions", json={"body": "x"}, headers=s
    )
    assert early.status_code == 409
    bad = await client.post(
        "/api/v1/assignments",
        json={"class_id": class_id, "kind": "task", "title": "t", "accepts_text": True,
              "open_at": when(2), "due_at": when(1)},
        headers=teacher.headers,
    )  # fmt: skip
    assert bad.status_code == 400 and "due_at" in bad.json()["error"]["message"]
    no_exam = await client.post(
        "/api/v1/assignments",
        json={"class_id": class_id, "kind": "exam", "title": "t", "open_at": when(-1),
              "due_at": when(1)},
        headers=teacher.headers,
    )  # fmt: skip
    assert no_exam.status_code == 400 and "exam_id" in no_exam.json()["error"]["message"]


async def test_an_exam_assignment_completes_with_the_attempt(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    student, outsider = await make_account(client, "student"), await make_account(client, "student")
    class_id = await make_class(client, teacher, student)
    await make_class(client, await make_account(client, "teacher"), outsider)
    t, s = teacher.headers, student.headers
    items = [
        (
            await ok(
                await client.post(
                    "/api/v1/items",
                    json={"stem": f"{n}+1?", "options": ["1", "2"], "answer_key": 1},
                    headers=t,
                ),
                201,
            )
        )["item_id"]
        for n in range(2)
    ]
    exam = await ok(
        await client.post(
            "/api/v1/exams",
            json={"title": "Quiz", "item_ids": items, "class_id": class_id},
            headers=t,
        ),
        201,
    )
    # GET /exams: a class member's available exams, a teacher's own; nobody else's.
    assert [e["exam_id"] for e in await ok(await client.get("/api/v1/exams", headers=s))] == [
        exam["exam_id"]
    ]
    assert [e["exam_id"] for e in await ok(await client.get("/api/v1/exams", headers=t))] == [
        exam["exam_id"]
    ]
    assert await ok(await client.get("/api/v1/exams", headers=outsider.headers)) == []

    a = await assign(
        client, teacher, class_id=class_id, kind="exam", exam_id=exam["exam_id"], points=10
    )
    aid = a["assignment_id"]
    assert status_of(await todo(client, student), aid)["status"] == "not_started"
    attempt = await ok(
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=s), 201
    )
    assert status_of(await todo(client, student), aid)["status"] == "in_progress"
    await ok(
        await client.post(
            f"/api/v1/attempts/{attempt['attempt_id']}/responses",
            json={"item_id": items[0], "choice": 1},
            headers=s,
        ),
        201,
    )
    await ok(await client.post(f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=s))
    work = status_of(await todo(client, student), aid)
    assert work["status"] == "submitted" and work["attempt_id"] == attempt["attempt_id"]
    board = await ok(await client.get(f"/api/v1/assignments/{aid}", headers=t))
    assert board["work"][0]["points_awarded"] == pytest.approx(5.0)  # 1 of 2 correct, 10 points
    assert outbox_types(settings, aid)[-1] == "assignments.work.submitted.v1"
    refused = await client.post(f"/api/v1/assignments/{aid}/submissions", json={}, headers=s)
    assert refused.status_code == 409


async def test_class_management(client: AsyncTestClient, settings: Settings) -> None:
    teacher, other = await make_account(client, "teacher"), await make_account(client, "teacher")
    s1, s2 = await make_account(client, "student"), await make_account(client, "student")
    class_id = await make_class(client, teacher, s1, s2)
    t = teacher.headers
    roster = await ok(await client.get(f"/api/v1/classes/{class_id}/members", headers=t))
    assert {m["student_id"] for m in roster} == {s1.user_id, s2.user_id}
    assert all(m["email"] for m in roster)
    for who in (s1, other):
        assert (
            await client.get(f"/api/v1/classes/{class_id}/members", headers=who.headers)
        ).status_code == 403
    renamed = await ok(
        await client.patch(f"/api/v1/classes/{class_id}", json={"name": "5B"}, headers=t)
    )
    assert renamed["name"] == "5B"
    assert (
        await client.patch(f"/api/v1/classes/{class_id}", json={"name": "x"}, headers=other.headers)
    ).status_code == 403
    removed = await client.delete(f"/api/v1/classes/{class_id}/members/{s2.user_id}", headers=t)
    assert removed.status_code == 204
    assert (
        await client.delete(f"/api/v1/classes/{class_id}/members/{s2.user_id}", headers=t)
    ).status_code == 404
    roster = await ok(await client.get(f"/api/v1/classes/{class_id}/members", headers=t))
    assert [m["student_id"] for m in roster] == [s1.user_id]
    archived = await ok(
        await client.patch(f"/api/v1/classes/{class_id}", json={"archived": True}, headers=t)
    )
    assert archived["archived"] is True
    code = archived["join_code"]
    rejoin = await client.post("/api/v1/classes/join", json={"join_code": code}, headers=s2.headers)
    assert rejoin.status_code == 409
    assert outbox_types(settings, class_id)[-3:] == [
        "classes.class.updated.v1",
        "classes.membership.removed.v1",
        "classes.class.updated.v1",
    ]


async def test_assignment_event_lists_the_targeted_students(
    client: AsyncTestClient, settings: Settings
) -> None:
    """assignments.assignment.created.v1 carries the listed students' ids (None for the whole
    class); the lake keeps them only as pseudonyms (lake_silver.assignment_events.student_keys),
    which the assignment-completion mart reads."""
    teacher = await make_account(client, "teacher")
    s1, s2, s3 = [await make_account(client, "student") for _ in range(3)]
    class_id = await make_class(client, teacher, s1, s2, s3)
    listed = (
        await assign(client, teacher, class_id=class_id, kind="task", accepts_text=True,
                     student_ids=[s2.user_id, s1.user_id, s1.user_id])
    )["assignment_id"]  # fmt: skip
    whole = (await assign(client, teacher, class_id=class_id, kind="task", accepts_text=True))[
        "assignment_id"
    ]
    with psycopg.connect(settings.database_url) as conn:
        payloads = dict(
            conn.execute(
                "select aggregate_id, payload from events.outbox"
                " where aggregate_id = any(%s) and event_type = 'assignments.assignment.created.v1'",
                ([listed, whole],),
            ).fetchall()
        )
    assert sorted(payloads[listed]["student_ids"]) == sorted([s1.user_id, s2.user_id])
    assert payloads[listed]["targeted_students"] == 2
    assert payloads[whole]["student_ids"] is None
    assert payloads[whole]["targeted_students"] is None

    ship(settings, copies=True)
    with psycopg.connect(settings.database_url) as conn:
        keys = dict(
            conn.execute(
                "select assignment_id, student_keys from lake_silver.assignment_events"
                " where assignment_id = any(%s)",
                ([listed, whole],),
            ).fetchall()
        )
    key = settings.pseudonym_key
    assert sorted(keys[listed]) == sorted(pseudonymize(key, s.user_id) for s in (s1, s2))
    assert keys[whole] is None
    assert s1.user_id not in str(keys) and s2.user_id not in str(keys)
