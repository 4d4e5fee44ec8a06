"""Adaptive exams over the API on real PostgreSQL and Redis: lifecycle, idempotency, resume,
replay, result, reads and bad input."""

from __future__ import annotations

import random
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.exams import adaptive
from core.settings import Settings
from psychometrics import ItemParameters, eap_scores, normal_grid
from psychometrics.personfit import person_fit
from tests.integration.exams.school import School, adaptive_exam, choose, school, user


async def take(
    api: Any, sch: School, student_index: int, exam_id: str, theta: float, seed: int = 0
) -> dict[str, Any]:
    """Start (or resume) and answer until the stopping rule fires; return the final reply."""
    student = sch.students[student_index]
    rng = random.Random(seed)
    started = await api.post(f"/api/v1/exams/{exam_id}/attempts", headers=student.headers)
    assert started.status_code in (200, 201), started.text
    attempt = started.json()
    item = attempt["next_item"]
    reply: dict[str, Any] = {}
    while item is not None:
        body = {
            "item_id": item["item_id"],
            "choice": choose(sch.bank[item["item_id"]], theta, rng),
            "idempotency_key": str(uuid.uuid4()),
        }
        answered = await api.post(
            f"/api/v1/attempts/{attempt['attempt_id']}/responses",
            json=body,
            headers=student.headers,
        )
        assert answered.status_code == 201, answered.text
        reply = answered.json()
        item = reply["next_item"]
    reply["attempt_id"] = attempt["attempt_id"]
    return reply


def independent_eap(settings: Settings, attempt_id: str, sch: School) -> tuple[float, float, int]:
    """θ recomputed from the stored responses with psychometrics.eap_scores (not the CAT code)."""
    codes, items = scored_answers(settings, attempt_id)
    est = eap_scores(codes, items, grid=normal_grid(61, 6.0, 0.0, 1.0))
    return float(est.theta[0]), float(est.se[0]), items.n_items


def scored_answers(settings: Settings, attempt_id: str) -> tuple[np.ndarray, ItemParameters]:
    """The stored scored (non-pilot) answers of an attempt and the parameters it used."""
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select r.item_id::text, r.score, p.a, p.d from exams.responses r"
            " join exams.attempts t using (attempt_id)"
            " join content.item_parameters p on p.param_id = t.param_ids[("
            "   select array_position(e.item_ids, r.item_id) from exams.exams e"
            "   where e.exam_id = t.exam_id)]"
            " where r.attempt_id = %s and not r.pilot order by r.position",
            (attempt_id,),
        ).fetchall()
    items = ItemParameters(
        "2pl", [r[2] for r in rows], [[r[3][0]] for r in rows], [0.0] * len(rows)
    )
    return np.array([float(r[1]) for r in rows]), items


async def test_adaptive_exam_lifecycle_result_events_and_replay(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=1, n_items=60, n_pilot=4)
    exam = await adaptive_exam(
        client, sch, blueprint={"algebra": 0.4, "geometry": 0.3, "numbers": 0.3}, pilot_share=0.1
    )
    assert exam["kind"] == "adaptive" and exam["config"]["cat"]["pilot_positions"]
    final = await take(client, sch, 0, exam["exam_id"], theta=0.8, seed=3)
    assert final["status"] == "completed"
    result = final["result"]
    assert result["stop_reason"].startswith("stop:")
    attempt_id = final["attempt_id"]
    student = sch.students[0]

    # θ is the EAP of the stored scored responses, recomputed independently.
    theta, se, n_scored = independent_eap(settings, attempt_id, sch)
    assert abs(result["theta"] - theta) < 1e-9 and abs(result["se"] - se) < 1e-9
    assert result["max_score"] == n_scored and 0 <= result["raw_score"] <= n_scored
    assert result["scale_score"] == round(500 + 100 * theta, 1)
    assert 0 < result["percentile"] < 100
    assert {s["skill"] for s in result["skills"]} <= {"algebra", "geometry", "numbers"}
    assert sum(s["items"] for s in result["skills"]) == n_scored
    # Person fit: lz* at the MAP θ of the same scored answers (the CAT's N(0, 1) prior).
    codes, items = scored_answers(settings, attempt_id)
    fit = person_fit(codes, items, estimator="map")
    assert result["person_fit"]["lz_star"] == pytest.approx(float(fit.lz_star[0]), abs=1e-9)
    assert result["person_fit"]["is_misfit"] is bool(fit.flagged[0])
    assert result["person_fit"]["reason"] == fit.reasons[0]

    with psycopg.connect(settings.database_url) as conn:
        counts = dict(
            conn.execute(
                "select event_type, count(*) from events.outbox where aggregate_id = %s"
                " group by event_type",
                (attempt_id,),
            ).fetchall()
        )
        n_resp, n_sel, pilots = conn.execute(
            "select (select count(*) from exams.responses where attempt_id = %s),"
            " (select count(*) from exams.selections where attempt_id = %s),"
            " (select count(*) from exams.responses where attempt_id = %s and pilot)",
            (attempt_id, attempt_id, attempt_id),
        ).fetchone()
        mart = conn.execute(
            "select status, raw_score, max_score, completed_at is not null from exams.attempts"
            " where attempt_id = %s",
            (attempt_id,),
        ).fetchone()
        stored_fit = conn.execute(
            "select person_fit_lz, is_person_misfit, person_fit_reason from exams.attempts"
            " where attempt_id = %s",
            (attempt_id,),
        ).fetchone()
        exam_id, bank_key, param_ids = conn.execute(
            "select exam_id::text, bank_key, param_ids::text[] from exams.attempts"
            " where attempt_id = %s",
            (attempt_id,),
        ).fetchone() or (None, None, None)
    # The bank key PostgreSQL computed at the start is the one the replay's loader computes.
    assert bank_key == adaptive.bank_key(exam_id, param_ids) and len(param_ids) > 0
    assert n_resp == n_sel == result["items_administered"] == n_scored + pilots
    assert pilots >= 1
    assert counts["exams.attempt.started.v1"] == 1
    assert counts["exams.item.selected.v1"] == n_sel
    assert counts["exams.response.recorded.v1"] == n_resp
    assert counts["exams.attempt.completed.v1"] == 1 and counts["exams.attempt.scored.v1"] == 1
    assert stored_fit == (result["person_fit"]["lz_star"], result["person_fit"]["is_misfit"],
                          result["person_fit"]["reason"])  # fmt: skip
    assert mart == ("completed", result["raw_score"], result["max_score"], True)

    # The replay reproduces the exact item sequence.
    replay = await client.get(f"/api/v1/attempts/{attempt_id}/replay", headers=sch.teacher.headers)
    assert replay.status_code == 200, replay.text
    body = replay.json()
    assert body["matches"] is True, body["detail"]
    assert body["replayed_item_ids"] == body["stored_item_ids"] and len(body["selections"]) == n_sel
    assert abs(body["theta"] - theta) < 1e-9
    # Students cannot replay; they read their own result.
    denied = await client.get(f"/api/v1/attempts/{attempt_id}/replay", headers=student.headers)
    assert denied.status_code == 403
    mine = await client.get(f"/api/v1/attempts/{attempt_id}/result", headers=student.headers)
    assert mine.status_code == 200 and mine.json()["theta"] == result["theta"]
    listed = await client.get("/api/v1/results/", headers=student.headers)
    assert [r["attempt_id"] for r in listed.json()] == [attempt_id]
    teacher_list = await client.get(
        f"/api/v1/results/?exam_id={exam['exam_id']}", headers=sch.teacher.headers
    )
    assert [r["attempt_id"] for r in teacher_list.json()] == [attempt_id]
    report = await client.get(
        f"/api/v1/exams/{exam['exam_id']}/item-report", headers=sch.teacher.headers
    )
    assert report.status_code == 200, report.text
    rows = report.json()["items"]
    assert sum(r["selections"] for r in rows) == n_sel and report.json()["completed"] == 1
    assert (
        await client.get(f"/api/v1/exams/{exam['exam_id']}/item-report", headers=student.headers)
    ).status_code == 403


async def test_idempotent_answers_resume_and_bad_input(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=2, n_items=40)
    exam = await adaptive_exam(client, sch, stopping={"min_items": 3, "max_items": 3})
    student, other = sch.students
    started = await client.post(
        f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers
    )
    assert started.status_code == 201, started.text
    attempt = started.json()
    url = f"/api/v1/attempts/{attempt['attempt_id']}"
    first = attempt["next_item"]
    assert first is not None and "answer_key" not in first
    assert attempt["items"] == [] and attempt["deadline"] is None

    def count() -> int:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                "select count(*) from exams.responses where attempt_id = %s",
                (attempt["attempt_id"],),
            ).fetchone()
        assert row is not None
        return int(row[0])

    # Bad input: every case a clear 4xx, nothing recorded.
    bad: list[tuple[dict[str, Any] | str, dict[str, str], int, str]] = [
        (
            {"item_id": str(uuid.uuid4()), "choice": 0},
            student.headers,
            400,
            "not part of this exam",
        ),
        ({"item_id": first["item_id"], "choice": 9}, student.headers, 400, "out of range"),
        ({"item_id": first["item_id"]}, student.headers, 400, "choice"),
        ({"item_id": first["item_id"], "choice": 0, "x": 1}, student.headers, 400, "x"),
        ("{not json", student.headers, 400, ""),
        ({"item_id": "nope", "choice": 0}, student.headers, 400, ""),
        ({"item_id": first["item_id"], "choice": 0}, other.headers, 403, "not permitted"),
        ({"item_id": first["item_id"], "choice": 0}, sch.teacher.headers, 403, "not permitted"),
    ]
    others = [i for i in sch.bank if i != first["item_id"]]
    bad.append(({"item_id": others[0], "choice": 0}, student.headers, 409, "not the item"))
    for body, headers, status, text in bad:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
        reply = await client.post(f"{url}/responses", headers=headers, **kwargs)
        assert reply.status_code == status, (body, reply.text)
        assert text in reply.json()["error"]["message"], reply.text
    assert (
        await client.post(
            f"/api/v1/attempts/{uuid.uuid4()}/responses",
            json={"item_id": first["item_id"], "choice": 0},
            headers=student.headers,
        )
    ).status_code == 404
    assert (await client.get(url, headers=other.headers)).status_code == 403
    assert count() == 0

    # The same key twice: one response; the retry returns the same next item.
    body = {"item_id": first["item_id"], "choice": 1, "idempotency_key": "k-1"}
    one = await client.post(f"{url}/responses", json=body, headers=student.headers)
    two = await client.post(f"{url}/responses", json=body, headers=student.headers)
    assert (one.status_code, two.status_code) == (201, 200), two.text
    assert two.json()["replayed"] and two.json()["next_item"] == one.json()["next_item"]
    reused = await client.post(
        f"{url}/responses",
        json={"item_id": one.json()["next_item"]["item_id"], "choice": 0, "idempotency_key": "k-1"},
        headers=student.headers,
    )
    assert reused.status_code == 409 and "k-1" in reused.json()["error"]["message"]
    changed = await client.post(
        f"{url}/responses",
        json={**body, "choice": 2, "idempotency_key": "k-2"},
        headers=student.headers,
    )
    assert changed.status_code == 409
    assert count() == 1

    # A disconnected student resumes where she was.
    resumed = await client.post(
        f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers
    )
    assert resumed.status_code == 200
    assert resumed.json()["attempt_id"] == attempt["attempt_id"]
    assert resumed.json()["next_item"] == one.json()["next_item"]
    assert [i["item_id"] for i in resumed.json()["items"]] == [first["item_id"]]

    # Finish the exam (max 3 items), then answers are refused.
    item = one.json()["next_item"]
    while item is not None:
        r = await client.post(
            f"{url}/responses",
            json={"item_id": item["item_id"], "choice": 0},
            headers=student.headers,
        )
        assert r.status_code == 201, r.text
        item = r.json()["next_item"]
    assert r.json()["status"] == "completed"
    assert r.json()["result"]["stop_reason"] == "stop: maximum test length reached"
    # The last answer retried after completion is still recognised (200), not a new response.
    retry = await client.post(
        f"{url}/responses",
        json={"item_id": r.json()["item_id"], "choice": 0},
        headers=student.headers,
    )
    assert retry.status_code == 200 and retry.json()["status"] == "completed"
    late = await client.post(
        f"{url}/responses", json={"item_id": others[5], "choice": 0}, headers=student.headers
    )
    assert late.status_code == 409 and "completed" in late.json()["error"]["message"]
    assert count() == 3
    assert (await client.post(f"{url}/finish", headers=student.headers)).status_code == 409


async def test_time_limit_is_enforced_server_side(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=1, n_items=20)
    exam = await adaptive_exam(client, sch, time_limit_seconds=10)
    student = sch.students[0]
    attempt = (
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=student.headers)
    ).json()
    assert attempt["deadline"] is not None
    # Move the deadline into the past (as if the student had been away for a while).
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "update exams.attempts set started_at = now() - interval '70 seconds',"
            " deadline = now() - interval '60 seconds' where attempt_id = %s",
            (attempt["attempt_id"],),
        )
    late = await client.post(
        f"/api/v1/attempts/{attempt['attempt_id']}/responses",
        json={"item_id": attempt["next_item"]["item_id"], "choice": 0},
        headers=student.headers,
    )
    assert late.status_code == 409 and "time limit" in late.json()["error"]["message"]
    view = await client.get(f"/api/v1/attempts/{attempt['attempt_id']}", headers=student.headers)
    assert view.json()["status"] == "completed"
    assert view.json()["result"]["stop_reason"] == "time limit reached"
    assert view.json()["responses"] == []


async def test_item_bank_versions_parameters_import_export(client: AsyncTestClient) -> None:
    teacher = await user(client, "teacher")
    other = await user(client, "teacher")
    h = teacher.headers
    created = await client.post(
        "/api/v1/items/",
        json={
            "stem": "Rate your confidence",
            "options": ["low", "mid", "high"],
            "scoring": "graded",
            "skills": ["self"],
            "media": [{"uri": "https://cdn.example.org/img.png", "alt": "scale"}],
            "parameters": {"model": "grm", "a": 1.2, "b": [-0.5, 0.7]},
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["parameters"]["is_live"] and item["parameters"]["d"] == [0.6, -0.84]
    url = f"/api/v1/items/{item['item_id']}"
    patched = await client.patch(url, json={"stem": "Rate it", "expected_version": 1}, headers=h)
    assert patched.status_code == 200 and patched.json()["version"] == 2
    stale = await client.patch(url, json={"stem": "x", "expected_version": 1}, headers=h)
    assert stale.status_code == 409
    versions = (await client.get(f"{url}/versions", headers=h)).json()
    assert [v["stem"] for v in versions] == ["Rate your confidence", "Rate it"]
    second = await client.post(
        f"{url}/parameters",
        json={
            "model": "grm",
            "a": 1.4,
            "b": [-0.4, 0.9],
            "calibration_id": "cal-2",
            "promote": False,
        },
        headers=h,
    )
    assert second.status_code == 201 and not second.json()["is_live"]
    promoted = await client.post(f"{url}/parameters/2/promote", headers=h)
    assert promoted.status_code == 200 and promoted.json()["is_live"]
    params = (await client.get(f"{url}/parameters", headers=h)).json()
    assert [p["is_live"] for p in params] == [False, True]
    assert (await client.get(url, headers=other.headers)).status_code == 403
    assert (
        await client.patch(url, json={"stem": "mine"}, headers=other.headers)
    ).status_code == 403
    bad_params = await client.post(f"{url}/parameters", json={"model": "2pl", "b": 0.1}, headers=h)
    assert bad_params.status_code == 400 and "grm" in bad_params.json()["error"]["message"]

    csv_text = (
        "stem,options,answer_key,skills,model,a,b\n"
        '"2+2?","[""3"",""4""]",1,arith;mental,2pl,1.1,-0.3\n'
        '"3+3?","[""6"",""7""]",0,arith,,,\n'
    )
    imported = await client.post(
        "/api/v1/items/import", content=csv_text, headers={**h, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 201, imported.text
    bad_csv = await client.post(
        "/api/v1/items/import",
        content='stem,options,answer_key\n"q","[""a"",""b""]",7\n',
        headers={**h, "Content-Type": "text/csv"},
    )
    assert bad_csv.status_code == 400 and "item 1" in bad_csv.json()["error"]["message"]
    exported = await client.get("/api/v1/items/export?format=csv", headers=h)
    assert exported.status_code == 200 and exported.text.count("\n") == 4
    as_json = (await client.get("/api/v1/items/export", headers=h)).json()["items"]
    assert len(as_json) == 3
    # An export re-imports into another teacher's bank (new ids) …
    fresh = [{k: v for k, v in r.items() if k != "item_id"} for r in as_json]
    again = await client.post("/api/v1/items/import", json={"items": fresh}, headers=other.headers)
    assert again.status_code == 201, again.text
    # … but ids that exist already are refused, all or nothing.
    dup = await client.post("/api/v1/items/import", json={"items": as_json}, headers=other.headers)
    assert dup.status_code == 409
    page = (await client.get("/api/v1/items/?limit=2", headers=other.headers)).json()
    assert len(page["items"]) == 2 and page["next_after"]
