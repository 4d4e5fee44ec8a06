"""The creation events carry what the marts need to read exams, items and classes from the lake
(issue 18, migration 0031): the adaptive exam's exposure target, the item's version, status,
scoring and option count, the class's name."""

from __future__ import annotations

from typing import Any

import psycopg
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.exams.school import adaptive_exam, school


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
