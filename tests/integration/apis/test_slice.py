"""The slice over the API: register → class → items → exam → attempt → answers → result + event."""

from __future__ import annotations

import psycopg
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.apis.conftest import Account, make_account


async def _school(client: AsyncTestClient) -> tuple[Account, Account, str, list[str], str]:
    teacher = await make_account(client, "teacher")
    student = await make_account(client, "student")
    klass = await client.post(
        "/api/v1/classes/", json={"name": "7B maths"}, headers=teacher.headers
    )
    assert klass.status_code == 201, klass.text
    joined = await client.post(
        "/api/v1/classes/join",
        json={"join_code": klass.json()["join_code"]},
        headers=student.headers,
    )
    assert joined.status_code == 200, joined.text
    item_ids = []
    for n in range(3):
        item = await client.post(
            "/api/v1/items/",
            json={
                "stem": f"{n} + 1 = ?",
                "options": [str(n), str(n + 1), str(n + 2)],
                "answer_key": 1,
                "skills": ["arithmetic"],
            },
            headers=teacher.headers,
        )
        assert item.status_code == 201, item.text
        item_ids.append(item.json()["item_id"])
    exam = await client.post(
        "/api/v1/exams/",
        json={"title": "Quiz 1", "item_ids": item_ids, "class_id": klass.json()["class_id"]},
        headers=teacher.headers,
    )
    assert exam.status_code == 201, exam.text
    return teacher, student, klass.json()["class_id"], item_ids, exam.json()["exam_id"]


async def test_student_takes_an_exam_and_the_completion_event_is_in_the_outbox(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher, student, _, item_ids, exam_id = await _school(client)
    started = await client.post(f"/api/v1/exams/{exam_id}/attempts", headers=student.headers)
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert all("answer_key" not in item for item in attempt["items"])
    # Resuming returns the same attempt instead of a second one.
    again = await client.post(f"/api/v1/exams/{exam_id}/attempts", headers=student.headers)
    assert again.status_code == 200 and again.json()["attempt_id"] == attempt["attempt_id"]

    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    for item_id, choice in zip(item_ids, [1, 1, 0], strict=True):
        answered = await client.post(
            f"{url}/responses", json={"item_id": item_id, "choice": choice}, headers=student.headers
        )
        assert answered.status_code == 201, answered.text
    # The same answer again is idempotent; a different one is a conflict.
    same = await client.post(
        f"{url}/responses", json={"item_id": item_ids[0], "choice": 1}, headers=student.headers
    )
    assert same.status_code == 200
    changed = await client.post(
        f"{url}/responses", json={"item_id": item_ids[0], "choice": 2}, headers=student.headers
    )
    assert changed.status_code == 409 and "already answered" in changed.json()["error"]["message"]

    finished = await client.post(f"{url}/finish", headers=student.headers)
    assert finished.status_code == 200, finished.text
    assert (finished.json()["raw_score"], finished.json()["max_score"]) == (2, 3)
    late = await client.post(
        f"{url}/responses", json={"item_id": item_ids[2], "choice": 1}, headers=student.headers
    )
    assert late.status_code == 409

    teacher_view = await client.get(url, headers=teacher.headers)
    assert teacher_view.status_code == 200 and teacher_view.json()["raw_score"] == 2

    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select payload from events.outbox where event_type = 'exams.attempt.completed.v1'"
            " and aggregate_id = %s",
            (attempt["attempt_id"],),
        ).fetchall()
    assert len(rows) == 1
    assert rows[0][0]["raw_score"] == 2 and rows[0][0]["student_id"] == student.user_id


async def test_a_student_cannot_read_or_answer_another_students_attempt(
    client: AsyncTestClient,
) -> None:
    _, student, _, item_ids, exam_id = await _school(client)
    intruder = await make_account(client, "student")
    attempt = (
        await client.post(f"/api/v1/exams/{exam_id}/attempts", headers=student.headers)
    ).json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    assert (await client.get(url, headers=intruder.headers)).status_code == 403
    answer = await client.post(
        f"{url}/responses", json={"item_id": item_ids[0], "choice": 1}, headers=intruder.headers
    )
    assert answer.status_code == 403
    # The intruder is not in the class, so she cannot start the exam either.
    assert (
        await client.post(f"/api/v1/exams/{exam_id}/attempts", headers=intruder.headers)
    ).status_code == 403
    mine = await client.get(url, headers=student.headers)
    assert mine.status_code == 200 and mine.json()["responses"] == []


async def test_students_cannot_author_items_or_exams(client: AsyncTestClient) -> None:
    student = await make_account(client, "student")
    item = await client.post(
        "/api/v1/items/",
        json={"stem": "?", "options": ["a", "b"], "answer_key": 0},
        headers=student.headers,
    )
    assert item.status_code == 403 and "content.item.create" in item.json()["error"]["message"]


async def test_policy_decisions_are_logged(client: AsyncTestClient, settings: Settings) -> None:
    student = await make_account(client, "student")
    await client.post(
        "/api/v1/items/",
        json={"stem": "?", "options": ["a", "b"], "answer_key": 0},
        headers=student.headers,
    )
    await client.get("/api/v1/users/me", headers=student.headers)
    import asyncio

    for _ in range(50):  # the log is written asynchronously, off the request path
        with psycopg.connect(settings.database_url) as conn:
            found = conn.execute(
                "select action, allowed from governance.decisions where subject_id = %s",
                (student.user_id,),
            ).fetchall()
        if len(found) >= 2:
            break
        await asyncio.sleep(0.1)
    assert ("content.item.create", False) in found
    assert ("users.me.read", True) in found
