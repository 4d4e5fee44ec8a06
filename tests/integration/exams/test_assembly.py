"""Automated test assembly over HTTP (real PostgreSQL, Redis and the policy): the form meets
every constraint (length, blueprint, enemies, exposure cap, no uncalibrated item), its
information is recomputed here, the exam and its provenance are stored with their event, an
infeasible blueprint is a 400 naming the constraint and writes nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.exams.school import SKILLS, School, school

THETA = [-1.0, 0.0, 1.0]


def _skill(sch: School, item_id: str) -> str:
    return SKILLS[list(sch.bank).index(item_id) % len(SKILLS)]


def _information(sch: School, item_ids: list[str]) -> list[float]:
    a = np.array([sch.bank[i].a for i in item_ids])
    b = np.array([sch.bank[i].b for i in item_ids])
    out = []
    for t in THETA:
        p = 1 / (1 + np.exp(-a * (t - b)))
        out.append(float(np.sum(a * a * p * (1 - p))))
    return out


def _count(settings: Settings, sql: str, *params: object) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


async def _assemble(client: AsyncTestClient, sch: School, **body: Any) -> Any:
    base = {"title": "Assembled", "length": 9, "theta": THETA}
    return await client.post(
        "/api/v1/exams/assemble", json={**base, **body}, headers=sch.teacher.headers
    )


async def test_an_assembled_form_meets_every_constraint_and_is_stored(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=1, n_items=60, n_pilot=4)
    ids = list(sch.bank)
    enemies = [[ids[0], ids[3], ids[6], ids[9]], [ids[1], ids[4]]]
    reply = await _assemble(
        client, sch,
        target=[3.0, 3.5, 3.0],
        blueprint={"algebra": {"min": 3, "max": 3}, "geometry": {"min": 2, "max": 4},
                   "numbers": {"min": 2, "max": 4}},
        enemies=enemies, class_id=sch.class_id,
    )  # fmt: skip
    assert reply.status_code == 201, reply.text
    body = reply.json()
    exam, report = body["exam"], body["assembly"]
    form = exam["item_ids"]
    assert exam["kind"] == "fixed" and exam["class_id"] == sch.class_id
    assert len(form) == len(set(form)) == 9
    assert not any(sch.bank[i].pilot for i in form)  # only calibrated items
    counts = {s: sum(1 for i in form if _skill(sch, i) == s) for s in SKILLS}
    assert counts["algebra"] == 3 and 2 <= counts["geometry"] <= 4 and 2 <= counts["numbers"] <= 4
    assert report["skill_counts"] == counts
    for group in enemies:
        assert len(set(group) & set(form)) <= 1
    assert report["information"] == pytest.approx(_information(sch, form), abs=1e-6)
    worst = max(abs(i - t) for i, t in zip(report["information"], [3.0, 3.5, 3.0], strict=True))
    assert report["objective"] == "minimax" and report["value"] == pytest.approx(worst, abs=1e-6)
    assert report["candidates"] == 60  # the pilots have no parameters
    b = [sch.bank[i].b for i in form]
    assert b == sorted(b)  # easiest first
    stored = _count(
        settings,
        "select count(*) from exams.exams where exam_id = %s and assembly->>'length' = '9'"
        " and (assembly->'report'->>'value')::float8 >= 0",
        exam["exam_id"],
    )
    events = _count(
        settings,
        "select count(*) from events.outbox where aggregate_id = %s"
        " and event_type = 'exams.exam.created.v1'",
        exam["exam_id"],
    )
    assert (stored, events) == (1, 1)
    # The student can take it like any fixed form.
    started = await client.post(
        f"/api/v1/exams/{exam['exam_id']}/attempts", headers=sch.students[0].headers
    )
    assert started.status_code == 201, started.text


async def test_exposure_cap_keeps_used_items_off_the_next_form(
    client: AsyncTestClient,
) -> None:
    sch = await school(client, n_students=1, n_items=30)
    first = (await _assemble(client, sch, class_id=sch.class_id)).json()["exam"]
    student = sch.students[0]
    attempt = (
        await client.post(f"/api/v1/exams/{first['exam_id']}/attempts", headers=student.headers)
    ).json()
    for item_id in first["item_ids"]:
        answered = await client.post(
            f"/api/v1/attempts/{attempt['attempt_id']}/responses",
            json={"item_id": item_id, "choice": 0}, headers=student.headers,
        )  # fmt: skip
        assert answered.status_code == 201, answered.text
    second = await _assemble(client, sch, max_exposure=0.5)  # maximin: no target
    assert second.status_code == 201, second.text
    body = second.json()
    assert not set(body["exam"]["item_ids"]) & set(first["item_ids"])
    assert body["assembly"]["over_exposure_cap"] == 9 and body["assembly"]["objective"] == "maximin"
    assert body["assembly"]["value"] == pytest.approx(min(body["assembly"]["information"]))


async def test_infeasible_or_bad_specifications_are_4xx_and_write_nothing(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=1, n_items=30)
    before = _count(
        settings, "select count(*) from exams.exams where owner_id = %s", sch.teacher.user_id
    )
    too_many = await _assemble(client, sch, blueprint={"algebra": {"min": 12, "max": 12}})
    assert too_many.status_code == 400
    message = too_many.json()["error"]["message"]
    assert message.startswith("blueprint.algebra: cannot be met") and "needs 12 items" in message
    long = await _assemble(client, sch, length=31)
    assert long.status_code == 400 and long.json()["error"]["message"].startswith("length:")
    mismatch = await _assemble(client, sch, target=[1.0])
    assert mismatch.status_code == 400 and "target" in mismatch.json()["error"]["message"]
    inverted = await _assemble(client, sch, blueprint={"numbers": {"min": 3, "max": 1}})
    assert (
        inverted.status_code == 400 and "blueprint.numbers" in inverted.json()["error"]["message"]
    )
    student = await client.post(
        "/api/v1/exams/assemble",
        json={"title": "x", "length": 2, "theta": [0.0]},
        headers=sch.students[0].headers,
    )
    assert student.status_code == 403
    after = _count(
        settings, "select count(*) from exams.exams where owner_id = %s", sch.teacher.user_id
    )
    assert after == before
