"""Retention: decisions older than the decision-log class's days leave PostgreSQL and the lake
(no readable snapshot keeps them), shipped outbox rows older than the outbox class's days leave
the outbox, and what is younger (or not yet shipped) stays. The report says what went."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.settings import Settings
from governance.decision import Decision
from governance.decision_log import write_now
from lake.catalog import load_catalog
from lake.tables import identifier
from privacy.retention import apply_retention
from tests.integration.privacy.story import ship

pytestmark = pytest.mark.integration


def _decision(at: datetime) -> Decision:
    return Decision(
        decision_id=str(uuid.uuid4()),
        decided_at=at,
        decision="data.dreamseed.api.authz.decision",
        subject_id=str(uuid.uuid4()),
        subject_role="student",
        action="exams.attempt.read",
        resource=None,
        allowed=True,
        reason="allowed",
        policy_revision="retention-test",
        latency_us=1,
        request_id=None,
    )


def _outbox(conn: psycopg.Connection[object], at: datetime) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        "insert into events.outbox (event_id, event_type, aggregate_id, occurred_at, payload)"
        " values (%s, 'users.user.registered.v1', %s, %s, '{}'::jsonb)",
        (event_id, str(uuid.uuid4()), at),
    )
    return event_id


def test_retention_removes_what_outlived_its_class(settings: Settings) -> None:
    now = datetime.now(UTC)
    old, young = _decision(now - timedelta(days=1900)), _decision(now - timedelta(days=10))
    write_now(settings.database_url, [old, young])
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        shipped_old = _outbox(conn, now - timedelta(days=30))
        shipped_young = _outbox(conn, now - timedelta(days=1))
    ship(settings)  # both decisions and both events reach the lake
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        unshipped_old = _outbox(conn, now - timedelta(days=30))  # not in the lake yet: stays

    report = apply_retention(settings, now)
    assert report["postgres"]["governance.decisions"] >= 1
    assert report["postgres"]["events.outbox"] >= 1
    assert report["lake"]["policy_decisions"] >= 1

    with psycopg.connect(settings.database_url) as conn:
        decisions = {
            r[0]
            for r in conn.execute(
                "select decision_id::text from governance.decisions where decision_id in (%s, %s)",
                (old.decision_id, young.decision_id),
            ).fetchall()
        }
        events = {
            r[0]
            for r in conn.execute(
                "select event_id::text from events.outbox where event_id in (%s, %s, %s)",
                (shipped_old, shipped_young, unshipped_old),
            ).fetchall()
        }
    assert decisions == {young.decision_id}
    assert events == {shipped_young, unshipped_old}

    table = load_catalog(settings).load_table(identifier(settings, "policy_decisions"))
    for snapshot in table.metadata.snapshots:  # no readable snapshot keeps the old decision
        ids = table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().column("decision_id")
        assert old.decision_id not in ids.to_pylist()
    current = table.scan().to_arrow().column("decision_id").to_pylist()
    assert young.decision_id in current

    again = apply_retention(settings, now)  # nothing left to remove
    assert again["lake"]["policy_decisions"] == 0
