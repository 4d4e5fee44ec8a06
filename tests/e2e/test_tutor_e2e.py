"""The tutor end to end over real HTTP (uvicorn on a socket), real PostgreSQL, Redis, S3, the
lake and dbt, with a real local model server speaking the OpenAI streaming protocol:

a student asks about a lesson and gets a streamed, cited answer; mid-exam she asks for the answer
to her current question and is refused, and the model server's request log shows it never
received the item; after the exam she asks about the item she got wrong and gets an explanation;
her teacher reads the transcript; the turn events reach the lake's tutor_turns exactly once
(pseudonymised) and the tutor-usage marts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest

from apis.app import create_app
from cli.demo_courses import seed_course
from cli.demo_tutor import seed_tutor_lessons
from core.settings import Settings
from lake.catalog import load_catalog
from lake.ingest import ingest_outbox
from lake.silver import derive_silver
from lake.tables import identifier
from lake.warehouse import copy_to_postgres
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from privacy.consent import set_school_setting
from tests.support.fake_llm import ECHO_PREFIX, FakeModel, fake_model
from tests.support.lake import ship
from tests.support.school import account, ok
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.e2e

STEM = "Which fraction is larger than 3/4: 2/3 or 7/8?"
OPTIONS = ["2/3", "7/8"]


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with fake_model() as server:
        yield server


@pytest.fixture
def api_url(settings: Settings, model: FakeModel) -> Iterator[str]:
    tutor = replace(settings.tutor, model_url=model.url, model="e2e", breaker_shared=False)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, True)  # the school allows external models (default: it does not)
    # Out of reach of the per-address rate limit: 127.0.0.1 is shared by every test on the machine.
    limits = {"rate_limit_per_ip": 1_000_000, "rate_limit_per_user": 1_000_000}
    with serve_in_thread(create_app(replace(settings, tutor=tutor, **limits))) as url:
        yield url


def _ask(api: httpx.Client, who: dict[str, str], conversation: str, text: str) -> dict[str, Any]:
    """Stream one answer; returns its text, citations, done event and how many token events."""
    events: list[tuple[str, Any]] = []
    with api.stream(
        "POST",
        f"/api/v1/tutor/conversations/{conversation}/messages",
        json={"text": text},
        headers=who,
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in reply.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:].strip())))
    tokens = [data["text"] for name, data in events if name == "token"]
    return {
        "text": "".join(tokens),
        "tokens": len(tokens),
        "citations": events[0][1],
        "done": events[-1][1],
    }


def test_tutor_end_to_end(settings: Settings, api_url: str, model: FakeModel) -> None:
    with httpx.Client(base_url=api_url, timeout=60) as api:
        t = account(api, "teacher", "Teacher Han").headers
        student_id, _, s = account(api, "student", "Yuna Choi")
        klass = ok(api.post("/api/v1/classes", json={"name": "6B"}, headers=t), 201)
        class_id = klass["class_id"]
        ok(api.post("/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=s))
        items = [
            ok(
                api.post(
                    "/api/v1/items",
                    json={"stem": stem, "options": OPTIONS, "answer_key": 1, "skills": [skill]},
                    headers=t,
                ),
                201,
            )["item_id"]
            for stem, skill in ((STEM, "comparing-fractions"), ("Is 1/2 equal to 2/4?", "eq"))
        ]
        exam = ok(
            api.post(
                "/api/v1/exams",
                json={"title": "Fractions quiz", "item_ids": items, "class_id": class_id},
                headers=t,
            ),
            201,
        )
        course = seed_course(api, t, class_id, exam["exam_id"], 1)
        seed_tutor_lessons(api, t, course.course_id)

        # 1. A question about a lesson: streamed, cited, from the model.
        lesson_chat = ok(
            api.post("/api/v1/tutor/conversations", json={"class_id": class_id}, headers=s), 201
        )["conversation_id"]
        first = _ask(api, s, lesson_chat, "How do I compare 2/3 and 3/4?")
        assert first["done"]["kind"] == "model" and first["tokens"] > 10
        assert first["text"].startswith(ECHO_PREFIX)
        assert {"lesson_title": "Comparing fractions", "section": "Common denominator"}.items() <= (
            first["citations"][0].items()
        )
        calls = len(model.chat_requests())

        # 2. Mid-exam: she asks for the answer to her current question and is refused.
        attempt = ok(api.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=s), 201)
        refused = _ask(api, s, lesson_chat, "What is the answer to my current exam question?")
        assert refused["done"]["kind"] == "refusal"
        assert refused["done"]["reason"] == "tutor_off_during_exam"
        assert len(model.chat_requests()) == calls  # the model was not even asked
        received = model.everything_received()
        assert STEM not in received and "7/8" not in received  # never received the item

        # 3. After the exam: the item she got wrong, explained.
        ok(
            api.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                json={"item_id": items[0], "choice": 0},
                headers=s,
            ),
            201,
        )
        ok(api.post(f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=s))
        item_chat = ok(
            api.post(
                "/api/v1/tutor/conversations",
                json={"class_id": class_id, "exam_id": exam["exam_id"], "item_id": items[0]},
                headers=s,
            ),
            201,
        )["conversation_id"]
        explained = _ask(api, s, item_chat, "Why was my answer wrong?")
        assert explained["done"]["kind"] == "model"
        assert "Correct option: 1 (7/8)" in explained["text"]  # the item reached the model now
        assert "The student chose option 0." in explained["text"]

        # 4. Her teacher reads the transcripts.
        transcript = ok(api.get(f"/api/v1/tutor/conversations/{lesson_chat}", headers=t))
        assert [m["kind"] for m in transcript["messages"]] == ["model", "refusal"]
        assert transcript["messages"][0]["answer"] == first["text"]
        listed = ok(api.get(f"/api/v1/tutor/conversations?class_id={class_id}", headers=t))
        assert {c["conversation_id"] for c in listed} == {lesson_chat, item_chat}

    # 5. The turn events: in the lake exactly once (pseudonymised), then in the marts.
    with psycopg.connect(settings.database_url) as conn:
        event_ids = {
            str(r[0])
            for r in conn.execute(
                "select event_id from events.outbox where event_type = 'tutor.turn.completed.v1'"
                " and aggregate_id in (%s, %s)",
                (lesson_chat, item_chat),
            ).fetchall()
        }
    assert len(event_ids) == 3
    ship(settings)
    copy_to_postgres(settings)
    ingest_outbox(settings)  # a rerun adds nothing
    derive_silver(settings)
    copy_to_postgres(settings)
    turns = load_catalog(settings).load_table(identifier(settings, "tutor_turns")).scan().to_arrow()
    mine = [r for r in turns.to_pylist() if r["event_id"] in event_ids]
    assert sorted(r["event_id"] for r in mine) == sorted(event_ids)  # exactly once
    assert "student_id" not in turns.column_names
    assert all(r["student_key"] and r["student_key"] != student_id for r in mine)
    assert sorted(r["kind"] for r in mine) == ["model", "model", "refusal"]

    project = dbt_project()
    result = dg.materialize(
        [build_dbt_assets(project)],
        resources={"dbt": build_dbt_resource(settings, project)},
        instance=dg.DagsterInstance.ephemeral(),
        selection=[
            dg.AssetKey(name)
            for name in ("stg_lake__tutor_turns", "agg_tutor_usage", "agg_tutor_topics")
        ],
    )
    assert result.success
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    with psycopg.connect(settings.database_url) as conn:
        usage = conn.execute(
            "select sessions, students, turns, model_turns, fallback_turns, refusal_turns"
            " from analytics.agg_tutor_usage where class_id = %s",
            (class_id,),
        ).fetchall()
        topics = dict(
            conn.execute(
                "select topic_type || ':' || topic, turns from analytics.agg_tutor_topics"
                " where class_id = %s",
                (class_id,),
            ).fetchall()
        )
    assert usage == [(2, 1, 3, 2, 0, 1)]
    assert topics["skill:comparing-fractions"] == 1
    assert any(key.startswith("lesson:") for key in topics)
