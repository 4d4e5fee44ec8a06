"""Fixed-form attempts over HTTP: pinned item versions, idempotency keys, bad input changing
nothing, and one event per recorded answer (real PostgreSQL and Redis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from psychometrics import ItemParameters, eap_scores
from psychometrics.personfit import person_fit
from tests.integration.exams.school import School, school


async def _fixed_exam(client: AsyncTestClient, sch: School, n_items: int = 4) -> dict[str, Any]:
    reply = await client.post(
        "/api/v1/exams/",
        json={"title": "Form A", "item_ids": list(sch.bank)[:n_items], "class_id": sch.class_id},
        headers=sch.teacher.headers,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def _stored(settings: Settings, attempt_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "select item_id::text, choice, is_correct, item_version, idempotency_key"
            " from exams.responses where attempt_id = %s order by answered_at",
            (attempt_id,),
        ).fetchall()


def _events(settings: Settings, attempt_id: str, event_type: str) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select count(*) from events.outbox where aggregate_id = %s and event_type = %s",
            (attempt_id, event_type),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_answers_are_scored_against_the_item_version_pinned_by_the_exam(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_items=4)
    exam = await _fixed_exam(client, sch)
    first = exam["item_ids"][0]
    old_key = sch.bank[first].key
    new_key = (old_key + 1) % 4
    # The teacher edits the item after setting the exam: a new version with another key and stem.
    edited = await client.patch(
        f"/api/v1/items/{first}",
        json={"answer_key": new_key, "stem": "Edited stem"},
        headers=sch.teacher.headers,
    )
    assert edited.status_code == 200, edited.text
    student = sch.students[0]
    started = await client.post(
        f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers
    )
    assert started.status_code == 201, started.text
    shown = {item["item_id"]: item for item in started.json()["items"]}
    assert shown[first]["stem"] != "Edited stem"
    url = f"/api/v1/attempts/{started.json()['attempt_id']}"
    answered = await client.post(
        f"{url}/responses", json={"item_id": first, "choice": old_key}, headers=student.headers
    )
    assert answered.status_code == 201, answered.text
    finished = await client.post(f"{url}/finish", headers=student.headers)
    assert finished.status_code == 200, finished.text
    assert (finished.json()["raw_score"], finished.json()["max_score"]) == (1, 4)
    ((item_id, choice, is_correct, version, _),) = _stored(settings, started.json()["attempt_id"])
    assert (item_id, choice, is_correct, version) == (first, old_key, True, 1)


async def test_an_idempotency_key_records_once_and_cannot_be_reused_for_another_answer(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_items=4)
    exam = await _fixed_exam(client, sch)
    student = sch.students[0]
    attempt = (
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers)
    ).json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}/responses"
    one, two = exam["item_ids"][:2]
    body = {"item_id": one, "choice": 2, "idempotency_key": "k-1"}
    first = await client.post(url, json=body, headers=student.headers)
    assert first.status_code == 201, first.text
    again = await client.post(url, json=body, headers=student.headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["answered_at"] == first.json()["answered_at"]
    for reused in (
        {"item_id": two, "choice": 1, "idempotency_key": "k-1"},  # the key, for another item
        {"item_id": one, "choice": 3, "idempotency_key": "k-1"},  # the key, another choice
        {"item_id": one, "choice": 3, "idempotency_key": "k-2"},  # the item, another choice
    ):
        refused = await client.post(url, json=reused, headers=student.headers)
        assert refused.status_code == 409, (reused, refused.text)
    assert _stored(settings, attempt["attempt_id"]) == [(one, 2, sch.bank[one].key == 2, 1, "k-1")]
    assert _events(settings, attempt["attempt_id"], "exams.response.recorded.v1") == 1


async def test_bad_answers_are_refused_with_a_4xx_and_change_nothing(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=2, n_items=6)
    exam = await _fixed_exam(client, sch, n_items=4)
    student, other = sch.students
    attempt = (
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers)
    ).json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    item = exam["item_ids"][0]
    not_in_exam = list(sch.bank)[5]
    cases = [
        ({"item_id": not_in_exam, "choice": 0}, student, 400, "not part of this exam"),
        ({"item_id": item, "choice": 4}, student, 400, "out of range"),
        ({"item_id": item, "choice": -1}, student, 400, "choice"),
        ({"item_id": "not-a-uuid", "choice": 0}, student, 400, "item_id"),
        ({"item_id": item, "choice": 0, "surprise": 1}, student, 400, "surprise"),
        ({"item_id": item, "choice": 0}, other, 403, ""),
    ]
    for body, who, status, message in cases:
        reply = await client.post(f"{url}/responses", json=body, headers=who.headers)
        assert reply.status_code == status, (body, reply.text)
        assert message in reply.text
    assert _stored(settings, attempt["attempt_id"]) == []
    finished = await client.post(f"{url}/finish", headers=student.headers)
    assert finished.status_code == 200 and finished.json()["raw_score"] == 0
    late = await client.post(
        f"{url}/responses", json={"item_id": item, "choice": 0}, headers=student.headers
    )
    assert late.status_code == 409 and "already completed" in late.text
    again = await client.post(f"{url}/finish", headers=student.headers)
    assert again.status_code == 409
    assert _stored(settings, attempt["attempt_id"]) == []
    assert _events(settings, attempt["attempt_id"], "exams.attempt.completed.v1") == 1


def _move_deadline_into_the_past(settings: Settings, attempt_id: str) -> None:
    """As if the student had been away for a while."""
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "update exams.attempts set started_at = now() - interval '70 seconds',"
            " deadline = now() - interval '10 seconds' where attempt_id = %s",
            (attempt_id,),
        )


async def test_a_time_limit_finishes_the_attempt_at_its_deadline(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=2, n_items=4)
    reply = await client.post(
        "/api/v1/exams/",
        json={"title": "Timed", "item_ids": list(sch.bank), "class_id": sch.class_id,
              "time_limit_seconds": 60},
        headers=sch.teacher.headers,
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    exam = reply.json()
    assert exam["config"] == {"time_limit_seconds": 60}
    answering, reading = sch.students
    attempts = {}
    for student in sch.students:
        started = await client.post(
            f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers
        )
        assert started.status_code == 201 and started.json()["deadline"] is not None
        attempts[student.user_id] = started.json()["attempt_id"]
    one, two = exam["item_ids"][:2]
    first = {"item_id": one, "choice": sch.bank[one].key, "idempotency_key": "in-time"}
    url = f"/api/v1/attempts/{attempts[answering.user_id]}"
    assert (
        await client.post(f"{url}/responses", json=first, headers=answering.headers)
    ).status_code == 201
    for attempt_id in attempts.values():
        _move_deadline_into_the_past(settings, attempt_id)

    # Found by an answer: refused, and the attempt is finished at its deadline.
    late = await client.post(
        f"{url}/responses", json={"item_id": two, "choice": 0}, headers=answering.headers
    )
    assert late.status_code == 409 and "time limit" in late.json()["error"]["message"]
    # A retry of the answer given in time still gets its stored outcome.
    retry = await client.post(f"{url}/responses", json=first, headers=answering.headers)
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    result = (await client.get(f"{url}/result", headers=answering.headers)).json()
    assert result["stop_reason"] == "time limit reached"
    assert (result["raw_score"], result["max_score"]) == (1, 4)
    assert [r[0] for r in _stored(settings, attempts[answering.user_id])] == [one]

    # Found by a read: the attempt is finished before it is shown.
    other = f"/api/v1/attempts/{attempts[reading.user_id]}"
    view = (await client.get(other, headers=reading.headers)).json()
    assert view["status"] == "completed" and view["raw_score"] == 0
    assert (await client.post(f"{other}/finish", headers=reading.headers)).status_code == 409
    for attempt_id in attempts.values():
        assert _events(settings, attempt_id, "exams.attempt.completed.v1") == 1
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "select completed_at = deadline from exams.attempts where attempt_id = %s",
                (attempt_id,),
            ).fetchone()
        assert row == (True,)
    # Starting again after the deadline opens a new attempt with a new deadline.
    again = await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=reading.headers)
    assert again.status_code == 201 and again.json()["attempt_id"] != attempts[reading.user_id]


async def test_a_time_limit_set_twice_must_agree(client: AsyncTestClient) -> None:
    sch = await school(client, n_items=10)
    base = {"title": "CAT", "item_ids": list(sch.bank), "kind": "adaptive"}
    both = {**base, "time_limit_seconds": 60, "adaptive": {"time_limit_seconds": 90}}
    refused = await client.post("/api/v1/exams/", json=both, headers=sch.teacher.headers)
    assert refused.status_code == 400 and "set it once" in refused.text
    top = await client.post(
        "/api/v1/exams/", json={**base, "time_limit_seconds": 60}, headers=sch.teacher.headers
    )
    assert top.status_code == 201, top.text
    assert top.json()["config"]["time_limit_seconds"] == 60
    too_short = await client.post(
        "/api/v1/exams/", json={**base, "time_limit_seconds": 5}, headers=sch.teacher.headers
    )
    assert too_short.status_code == 400 and "time_limit_seconds" in too_short.text


async def test_a_finished_attempt_on_calibrated_items_has_an_irt_result(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_items=6)
    exam = await _fixed_exam(client, sch, n_items=6)
    student = sch.students[0]
    attempt = (
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers)
    ).json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    answered = exam["item_ids"][:5]  # the sixth is left unanswered: missing, not wrong
    right = {answered[0], answered[2], answered[3]}
    for item_id in answered:
        key = sch.bank[item_id].key
        choice = key if item_id in right else (key + 1) % 4
        reply = await client.post(
            f"{url}/responses", json={"item_id": item_id, "choice": choice},
            headers=student.headers,
        )  # fmt: skip
        assert reply.status_code == 201, reply.text
    assert (await client.post(f"{url}/finish", headers=student.headers)).status_code == 200
    result = (await client.get(f"{url}/result", headers=student.headers)).json()

    # The same estimate computed here, from the bank's 2PL parameters (d = -a·b).
    bank = [sch.bank[i] for i in answered]
    a = np.array([b.a for b in bank])
    items = ItemParameters("2pl", a, -a * np.array([b.b for b in bank]), np.zeros(len(bank)))
    expected = eap_scores(np.array([1.0 if i in right else 0.0 for i in answered]), items)
    assert result["theta"] == pytest.approx(float(expected.theta[0]), abs=1e-9)
    assert result["se"] == pytest.approx(float(expected.se[0]), abs=1e-9)
    # Person fit: lz* at the MAP θ of the same answers, with its flag and reason.
    fit = person_fit(
        np.array([1.0 if i in right else 0.0 for i in answered]), items, estimator="map"
    )
    assert result["person_fit"]["lz_star"] == pytest.approx(float(fit.lz_star[0]), abs=1e-9)
    assert result["person_fit"]["is_misfit"] is bool(fit.flagged[0])
    assert result["person_fit"]["reason"] == fit.reasons[0]
    assert result["scale_score"] == round(500 + 100 * result["theta"], 1)
    assert 0 < result["percentile"] < 100
    assert (result["raw_score"], result["max_score"]) == (3, 6)
    profile = {s["skill"]: s for s in result["skills"]}
    assert sum(s["items"] for s in profile.values()) == 5
    assert sum(s["correct"] for s in profile.values()) == 3
    with psycopg.connect(settings.database_url) as conn:
        scored = conn.execute(
            "select payload from events.outbox where aggregate_id = %s"
            " and event_type = 'exams.attempt.scored.v1'",
            (attempt["attempt_id"],),
        ).fetchall()
        pinned = conn.execute(
            "select cardinality(param_ids), n_scored, n_correct from exams.attempts"
            " where attempt_id = %s",
            (attempt["attempt_id"],),
        ).fetchone()
    assert len(scored) == 1 and scored[0][0]["theta"] == result["theta"]
    assert scored[0][0]["items_administered"] == 5 and scored[0][0]["scored_items"] == 5
    assert scored[0][0]["person_fit_lz"] == result["person_fit"]["lz_star"]
    assert scored[0][0]["person_fit_reason"] == result["person_fit"]["reason"]
    assert pinned == (6, 5, 3)


async def test_an_attempt_on_uncalibrated_items_has_only_a_raw_score(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_items=0, n_pilot=3)  # pilot items: no parameters
    exam = await _fixed_exam(client, sch, n_items=3)
    student = sch.students[0]
    attempt = (
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers)
    ).json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    first = exam["item_ids"][0]
    await client.post(
        f"{url}/responses", json={"item_id": first, "choice": sch.bank[first].key},
        headers=student.headers,
    )  # fmt: skip
    assert (await client.post(f"{url}/finish", headers=student.headers)).status_code == 200
    result = (await client.get(f"{url}/result", headers=student.headers)).json()
    assert (result["raw_score"], result["theta"], result["skills"]) == (1, None, [])
    assert result["person_fit"] is None
    assert _events(settings, attempt["attempt_id"], "exams.attempt.scored.v1") == 0
