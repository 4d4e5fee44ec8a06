"""The live learner analytics and presence are reachable by the subject export and erasure: her
rows in `live.*` are exported and deleted (a classmate's stay), and her Redis presence and cached
analytics answers are found and erased."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
import redis

from core.settings import Settings
from governance.inventory import load as load_inventory
from privacy import redis_keys
from privacy.postgres import Subject, erase_rows, export_rows, personal_tables, remaining_rows

pytestmark = pytest.mark.integration
LIVE = ("live.skill_mastery", "live.theta_history", "live.class_students", "live.cache_versions")


def _live_rows(conn: psycopg.Connection[object], student: str, class_id: str) -> None:
    now = datetime.now(UTC)
    conn.execute(
        "insert into live.skill_mastery (student_id, class_id, skill, response_count,"
        " correct_count, first_answered_at, last_answered_at) values (%s, %s, 'algebra', 3, 2,"
        " %s, %s)",
        (student, class_id, now, now),
    )
    conn.execute(
        "insert into live.theta_history (attempt_id, student_id, exam_id, class_id, theta, se,"
        " scored_at) values (%s, %s, %s, %s, 0.4, 0.3, %s)",
        (str(uuid.uuid4()), student, str(uuid.uuid4()), class_id, now),
    )
    conn.execute(
        "insert into live.class_students (class_id, student_id, attempts_completed)"
        " values (%s, %s, 1)",
        (class_id, student),
    )
    conn.execute("insert into live.cache_versions (scope, id) values ('student', %s)", (student,))


def test_her_live_figures_and_presence_are_exported_and_erased(settings: Settings) -> None:
    inventory = load_inventory()
    her, peer, class_id = (str(uuid.uuid4()) for _ in range(3))
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    presence, cached = f"presence:class:{class_id}", f"analytics:student:{her}:1"
    try:
        with psycopg.connect(settings.database_url) as conn:
            for student in (her, peer):
                _live_rows(conn, student, class_id)
            exported = export_rows(conn, inventory, her)
            for table in LIVE:
                assert len(exported[table]) == 1, table
            assert all(
                row.get("student_id", row.get("id")) == uuid.UUID(her)
                for table in LIVE
                for row in exported[table]
            )
            client.zadd(presence, {her: 1.0, peer: 2.0})
            client.set(cached, '{"student_id": "' + her + '"}')
            found = redis_keys.find(client, inventory, Subject(her, None, None, None))
            assert {presence, cached} <= set(found.keys)

            others = [t for t in personal_tables(inventory) if not t.startswith("live.")]
            erased = erase_rows(conn, inventory, Subject(her, None, None, None), "", skip=others)
            assert {e.table for e in erased if e.rows} == set(LIVE)
            assert not any(t.startswith("live.") for t in remaining_rows(conn, inventory, her))
            assert set(remaining_rows(conn, inventory, peer)) >= set(LIVE)  # hers only
            redis_keys.erase(client, found)
            assert not client.exists(presence, cached)
            conn.rollback()
    finally:
        client.delete(presence, cached)
        client.close()
