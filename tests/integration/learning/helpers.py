"""Small HTTP helpers shared by the learning and assignments tests."""

from __future__ import annotations

from typing import Any

import psycopg
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.apis.conftest import Account


async def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


async def make_class(client: AsyncTestClient, teacher: Account, *students: Account) -> str:
    klass = await ok(
        await client.post("/api/v1/classes", json={"name": "class"}, headers=teacher.headers), 201
    )
    for student in students:
        await ok(
            await client.post(
                "/api/v1/classes/join",
                json={"join_code": klass["join_code"]},
                headers=student.headers,
            )
        )
    return str(klass["class_id"])


def outbox_types(settings: Settings, aggregate_id: str) -> list[str]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select event_type from events.outbox where aggregate_id = %s order by event_seq",
            (aggregate_id,),
        ).fetchall()
    return [r[0] for r in rows]
