"""The creation events carry what the marts need to read exams, items and classes from the lake
(issue 18, migration 0031): the adaptive exam's exposure target, the item's version, status,
scoring and option count, the class's name."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.exams.school import adaptive_exam, school, user


def _payload(settings: Settings, event_type: str, aggregate_id: str) -> dict[str, Any]:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select payload from events.outbox where event_type = %s and aggregate_id = %s",
            (event_type, aggregate_id),
        ).fetchone()
    assert row is not None, (event_type, aggregate_id)
    return dict(row[0])


async def test_creation_events_carry_the_marts_fields(
    client: AsyncTestClient, settings: Settings
) -> None:
    sch = await school(client, n_students=1, n_items=20)
    exam = await adaptive_exam(client, sch, exposure={"method": "randomesque", "max_rate": 0.4})
    created = _payload(settings, "exams.exam.created.v1", exam["exam_id"])
    assert created["kind"] == "adaptive" and created["title"] == "Adaptive maths"
    with psycopg.connect(settings.database_url) as conn:
        stored = conn.execute(
            "select (config -> 'exposure' ->> 'max_rate')::float8 from exams.exams"
            " where exam_id = %s",
            (exam["exam_id"],),
        ).fetchone()
    assert stored == (0.4,) and created["exposure_max_rate"] == 0.4  # the target the mart uses
    item_id = next(iter(sch.bank))
    item = _payload(settings, "content.item.created.v1", item_id)
    assert item["version"] == 1 and item["status"] and item["scoring"]
    assert isinstance(item["option_count"], int) and item["option_count"] >= 2
    klass = _payload(settings, "classes.class.created.v1", sch.class_id)
    assert isinstance(klass["name"], str) and klass["name"]


async def test_the_parameters_added_event_carries_the_provenance(
    client: AsyncTestClient, settings: Settings
) -> None:
    """Issue 18: stg_content__item_parameters reads SEs, S-X2 fit, responses used and role from
    the lake, so the content API's added event carries them from the version's provenance."""
    teacher = await user(client, "teacher")
    created = await client.post(
        "/api/v1/items/",
        json={"stem": "2+2?", "options": ["3", "4"], "answer_key": 1, "skills": ["arith"]},
        headers=teacher.headers,
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["item_id"]
    url = f"/api/v1/items/{item_id}/parameters"
    provenance = {
        "source_snapshot_id": "77",
        "role": "pilot",
        "n_responses": 640,
        "se": {"a": 0.12, "b": 0.08},
        "fit": {"statistic": "S-X2", "value": 6.5, "df": 5, "p": 0.26},
    }
    body = {"model": "2pl", "a": 1.1, "b": 0.2, "calibration_id": "ext-1"}
    added = await client.post(url, json={**body, "provenance": provenance}, headers=teacher.headers)
    assert added.status_code == 201, added.text
    payload = _payload(settings, "content.item_parameters.added.v1", item_id)
    assert (payload["source_snapshot_id"], payload["role"], payload["n_responses"]) == (
        "77",
        "pilot",
        640,
    )
    fields = [payload[k] for k in ("se_a", "se_b", "sx2", "sx2_df", "sx2_p")]
    assert fields == pytest.approx([0.12, 0.08, 6.5, 5.0, 0.26], rel=1e-12)
