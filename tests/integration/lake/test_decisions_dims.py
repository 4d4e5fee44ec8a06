"""Policy decisions shipped to the lake exactly once; daily dimension snapshots once per day."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from core.ids import new_id
from core.settings import Settings
from governance.decision import Decision
from governance.decision_log import write_now
from lake.catalog import load_catalog
from lake.decisions import POLICY_DECISIONS, pending_decisions, ship_decisions
from lake.dims import DIM_TABLES, snapshot_dimensions
from lake.duck import run_sql
from lake.pseudonym import pseudonymize
from lake.tables import identifier

pytestmark = pytest.mark.integration


def decision(subject: str, at: datetime, resource: dict[str, str] | None = None) -> Decision:
    return Decision(
        decision_id=str(uuid.uuid4()),
        decided_at=at,
        decision="data.dreamseed.api.authz.decision",
        subject_id=subject,
        subject_role="student",
        action="exams.attempt.read",
        resource=resource,
        allowed=True,
        reason="allowed",
        policy_revision="abc123",
        latency_us=90,
        request_id="r-1",
    )


def lake_decision_ids(settings: Settings) -> list[str]:
    table = load_catalog(settings).load_table(identifier(settings, POLICY_DECISIONS))
    return list(table.scan(selected_fields=("decision_id",)).to_arrow()["decision_id"].to_pylist())


def wait_decisions_final(settings: Settings, ids: list[str]) -> None:
    deadline = time.monotonic() + 60
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from governance.decisions where decision_id = any(%s::uuid[])"
                " and txid < pg_snapshot_xmin(pg_current_snapshot())",
                (ids,),
            ).fetchone()
            if row is not None and row[0] == len(ids):
                return
            assert time.monotonic() < deadline, "decisions never became final"
            time.sleep(0.05)


def test_decisions_are_shipped_once_pseudonymised_even_when_committed_late(
    settings: Settings,
) -> None:
    student = str(new_id())
    now = datetime.now(UTC)
    first = [
        decision(student, now, {"type": "attempt", "id": "a1", "owner_id": student}),
        decision(student, now, {"type": "user", "id": student}),
    ]
    write_now(settings.database_url, first)
    wait_decisions_final(settings, [d.decision_id for d in first])
    shipped = ship_decisions(settings)
    assert shipped.committed and shipped.rows >= 2

    # A decision stamped earlier but committed later (a retried batch) is still shipped.
    late = decision(student, now - timedelta(minutes=10))
    with psycopg.connect(settings.database_url) as slow:
        slow.execute(
            "insert into governance.decisions (decision_id, decided_at, decision, subject_id,"
            " subject_role, action, allowed, reason, policy_revision, latency_us)"
            " values (%s, %s, 'd', %s, 'student', 'x', true, 'allowed', 'r', 1)",
            (late.decision_id, late.decided_at, student),
        )
        held = ship_decisions(settings)
        assert late.decision_id not in lake_decision_ids(settings)
        assert held.rows == 0 or late.decision_id not in lake_decision_ids(settings)
    wait_decisions_final(settings, [late.decision_id])
    assert pending_decisions(settings) >= 1
    ship_decisions(settings)
    assert ship_decisions(settings).rows == 0
    ids = lake_decision_ids(settings)
    wanted = [d.decision_id for d in first] + [late.decision_id]
    assert sorted(i for i in ids if i in wanted) == sorted(wanted)
    assert len(ids) == len(set(ids))

    key = pseudonymize(settings.pseudonym_key, student)
    _, rows = run_sql(
        settings,
        "select resource_type, resource_id, resource_owner_key, subject_key from policy_decisions"
        f" where decision_id in ('{first[0].decision_id}', '{first[1].decision_id}')"
        " order by resource_type",
    )
    assert rows == [("attempt", "a1", key, key), ("user", key, None, key)]


def seed_dimensions(settings: Settings) -> tuple[str, str]:
    teacher, student, klass = (str(new_id()) for _ in range(3))
    with psycopg.connect(settings.database_url) as conn:
        for user_id, role in ((teacher, "teacher"), (student, "student")):
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, 'Someone', %s, 'x')",
                (user_id, f"{user_id}@example.org", role),
            )
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Algebra', %s, %s)",
            (klass, teacher, klass[-8:]),  # the random tail: UUIDv7 heads are timestamps
        )
        conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)",
            (klass, student),
        )
        conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key, skills)"
            " values (gen_random_uuid(), %s, 'stem', '[\"a\",\"b\"]', 1, '{algebra}')",
            (teacher,),
        )
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (gen_random_uuid(), %s, %s, 'Unit 1', array[gen_random_uuid()])",
            (teacher, klass),
        )
    return student, klass


def test_dimension_snapshots_once_per_day_without_pii(settings: Settings) -> None:
    student, klass = seed_dimensions(settings)
    day = date(2026, 1, 15)

    def crash(table: str) -> None:
        if table == "dim_items_snapshots":
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        snapshot_dimensions(settings, day, before_commit=crash)
    first = snapshot_dimensions(settings, day)
    assert "dim_items_snapshots" in first.rows
    assert "dim_accounts_snapshots" in first.skipped  # committed before the crash
    again = snapshot_dimensions(settings, day)
    assert again.rows == {} and set(again.skipped) == set(DIM_TABLES)
    nextday = snapshot_dimensions(settings, day + timedelta(days=1))
    assert set(nextday.rows) == set(DIM_TABLES)

    key = pseudonymize(settings.pseudonym_key, student)
    _, rows = run_sql(
        settings,
        "select snapshot_date, count(*) from dim_memberships_snapshots"
        f" where student_key = '{key}' and class_id = '{klass}' group by 1 order by 1",
    )
    assert rows == [(day, 1), (day + timedelta(days=1), 1)]
    columns, _ = run_sql(settings, "select * from dim_accounts_snapshots limit 0")
    assert not {"email", "display_name", "password_hash", "user_id"} & set(columns)
    _, rows = run_sql(
        settings,
        "select count(*) from dim_accounts_snapshots a"
        f" where strpos(cast(a as varchar), '{student}') > 0",
    )
    assert rows == [(0,)]
