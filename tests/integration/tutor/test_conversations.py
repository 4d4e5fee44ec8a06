"""Tutor conversations without a model: grounded fallback over SSE with citations (English and
Korean), transcripts and who may read them, the per-class mode, the exam lock by policy, the
outbox event of every turn, bad input, rate limits and retention."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from apis.tutor.answers import FALLBACK_LABEL, FALLBACK_LABEL_KO, refusal
from core.settings import Settings
from orchestration.learning.jobs import MediaResource, tutor_transcript_retention
from tests.integration.learning.helpers import ok, outbox_types
from tests.integration.tutor.conftest import tutor_settings
from tests.integration.tutor.helpers import (
    ITEM_OPTIONS,
    ask,
    build_world,
    open_conversation,
    take_exam,
)

pytestmark = pytest.mark.integration


async def test_fallback_answer_is_streamed_cited_and_stored(
    client: AsyncTestClient, settings: Settings
) -> None:
    world = await build_world(client)
    conv = await open_conversation(
        client, world.student, class_id=world.class_id, lesson_id=world.lessons["Loops"]
    )
    answer = await ask(client, world.student, conv, "How does a while loop know when to stop?")
    assert answer.done["kind"] == "fallback" and answer.done["reason"] == "no_model"
    assert answer.text.startswith(FALLBACK_LABEL)
    assert answer.tokens > 3  # streamed in pieces, not one blob
    assert answer.citations[0] == {
        "lesson_id": world.lessons["Loops"],
        "lesson_title": "Loops",
        "section": "The while loop",
    }
    assert "[Loops › The while loop]" in answer.text
    assert "?" in answer.text.rsplit("\n\n", 1)[-1]  # ends with a guiding question

    korean = await ask(client, world.student, conv, "변수 이름은 어떻게 만들어요?")
    assert korean.text.startswith(FALLBACK_LABEL_KO)
    assert korean.citations[0]["lesson_title"] == "변수"
    assert korean.citations[0]["section"] == "변수 만들기"

    mine = await ok(
        await client.get(f"/api/v1/tutor/conversations/{conv}", headers=world.student.headers)
    )
    assert [m["turn_index"] for m in mine["messages"]] == [0, 1]
    assert mine["messages"][0]["answer"] == answer.text
    assert mine["messages"][0]["citations"] == answer.citations
    assert outbox_types(settings, conv) == ["tutor.turn.completed.v1"] * 2

    # Her teacher reads the class's transcripts; a classmate and another teacher do not.
    teacher_view = await ok(
        await client.get(f"/api/v1/tutor/conversations/{conv}", headers=world.teacher.headers)
    )
    assert len(teacher_view["messages"]) == 2
    listed = await ok(
        await client.get(
            f"/api/v1/tutor/conversations?class_id={world.class_id}",
            headers=world.teacher.headers,
        )
    )
    assert [c["conversation_id"] for c in listed] == [conv]
    every_class = await ok(
        await client.get("/api/v1/tutor/conversations", headers=world.teacher.headers)
    )
    assert [c["conversation_id"] for c in every_class] == [conv]
    assert (
        await ok(
            await client.get("/api/v1/tutor/conversations", headers=world.outsider_teacher.headers)
        )
        == []
    )
    for other in (world.classmate, world.outsider_teacher):
        reply = await client.get(f"/api/v1/tutor/conversations/{conv}", headers=other.headers)
        assert reply.status_code == 403, reply.text
    assert (
        await ok(await client.get("/api/v1/tutor/conversations", headers=world.classmate.headers))
        == []
    )
    stolen = await client.post(
        f"/api/v1/tutor/conversations/{conv}/messages",
        json={"text": "hi"},
        headers=world.classmate.headers,
    )
    assert stolen.status_code == 403


async def test_exam_lock_by_policy_and_item_explanation_after_the_exam(
    client: AsyncTestClient,
) -> None:
    world = await build_world(client)  # default mode: off during exams
    conv = await open_conversation(client, world.student, class_id=world.class_id)
    attempt_open = await take_exam(client, world.student, world, [0], finish=False)
    refused = await ask(client, world.student, conv, "What is the answer to my current question?")
    assert refused.done == {
        **refused.done,
        "kind": "refusal",
        "reason": "tutor_off_during_exam",
        "citations": [],
    }
    assert refused.text == refusal("tutor_off_during_exam")

    # An item conversation is refused while the exam is unfinished.
    early = await client.post(
        "/api/v1/tutor/conversations",
        json={"class_id": world.class_id, "exam_id": world.exam_id, "item_id": world.item_ids[0]},
        headers=world.student.headers,
    )
    assert early.status_code == 409, early.text
    assert "exam_id" in early.json()["error"]["message"]

    await ok(
        await client.post(f"/api/v1/attempts/{attempt_open}/finish", headers=world.student.headers)
    )
    item_conv = await open_conversation(
        client,
        world.student,
        class_id=world.class_id,
        exam_id=world.exam_id,
        item_id=world.item_ids[0],
    )
    explained = await ask(client, world.student, item_conv, "Why was my answer wrong?")
    assert explained.done["kind"] == "fallback"
    assert f"the correct answer is “{ITEM_OPTIONS[1]}”" in explained.text
    assert f"you chose “{ITEM_OPTIONS[0]}”" in explained.text


async def test_open_mode_answers_during_an_exam_but_refuses_quoting_an_active_item(
    client: AsyncTestClient,
) -> None:
    world = await build_world(client, mode="open")
    conv = await open_conversation(client, world.student, class_id=world.class_id)
    await take_exam(client, world.student, world, [], finish=False)
    allowed = await ask(client, world.student, conv, "How do I write a for loop with range?")
    assert allowed.done["kind"] == "fallback"
    quoting = await ask(
        client,
        world.student,
        conv,
        "Answer this: which keyword starts a loop that repeats while a condition holds true?",
    )
    assert quoting.done["kind"] == "refusal" and quoting.done["reason"] == "quotes_active_item"
    settings_seen = await ok(
        await client.get(f"/api/v1/tutor/classes/{world.class_id}", headers=world.student.headers)
    )
    assert settings_seen["mode"] == "open"
    denied = await client.put(
        f"/api/v1/tutor/classes/{world.class_id}",
        json={"mode": "hints_only"},
        headers=world.outsider_teacher.headers,
    )
    assert denied.status_code == 403


async def test_bad_input_names_the_field(client: AsyncTestClient) -> None:
    world = await build_world(client)
    s = world.student.headers
    cases = [
        ({"class_id": "nope"}, "class_id"),
        ({"class_id": world.class_id, "item_id": world.item_ids[0]}, "item_id"),
        ({"class_id": world.class_id, "lesson_id": world.item_ids[0]}, "lesson_id"),
    ]
    for body, field in cases:
        reply = await client.post("/api/v1/tutor/conversations", json=body, headers=s)
        assert 400 <= reply.status_code < 500, reply.text
        assert field in reply.json()["error"]["message"], reply.text
    conv = await open_conversation(client, world.student, class_id=world.class_id)
    for text in ("", "x" * 4001):
        reply = await client.post(
            f"/api/v1/tutor/conversations/{conv}/messages", json={"text": text}, headers=s
        )
        assert reply.status_code == 400 and "text" in reply.json()["error"]["message"]
    bad_mode = await client.put(
        f"/api/v1/tutor/classes/{world.class_id}",
        json={"mode": "anything"},
        headers=world.teacher.headers,
    )
    assert bad_mode.status_code == 400 and "mode" in bad_mode.json()["error"]["message"]


async def test_rate_limit_per_student_and_retention(settings: Settings) -> None:
    app = create_app(tutor_settings(settings, questions_per_minute=2), relay=False)
    async with AsyncTestClient(app) as client:
        world = await build_world(client)
        conv = await open_conversation(client, world.student, class_id=world.class_id)
        for _ in range(2):
            await ask(client, world.student, conv, "What is a loop?")
        limited = await client.post(
            f"/api/v1/tutor/conversations/{conv}/messages",
            json={"text": "again"},
            headers=world.student.headers,
        )
        assert limited.status_code == 429 and "Retry-After" in limited.headers
        other = await open_conversation(client, world.classmate, class_id=world.class_id)
        await ask(client, world.classmate, other, "What is a loop?")  # her own budget

    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "update tutor.conversations set last_turn_at = now() - interval '400 days'"
            " where conversation_id = %s",
            (conv,),
        )
    # The daily Dagster job deletes it (default retention: 365 days) with its turns.
    job = tutor_transcript_retention.execute_in_process(
        resources={"media": MediaResource(settings)}
    )
    assert job.success
    with psycopg.connect(settings.database_url) as conn:
        left = conn.execute(
            "select count(*) from tutor.turns where conversation_id = %s", (conv,)
        ).fetchone()
    assert left == (0,)
