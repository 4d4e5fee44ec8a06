"""Helpers for the lake's integration tests: write outbox events the way services do."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from core.events import (
    AttemptCompletedV1,
    AttemptScoredV1,
    AttemptStartedV1,
    ClassCreatedV1,
    ClassJoinedV1,
    Event,
    ExamCreatedV1,
    ItemCreatedV1,
    ItemParametersAddedV1,
    ItemParametersPromotedV1,
    ItemSelectedV1,
    ItemUpdatedV1,
    ResponseRecordedV1,
    UserRegisteredV1,
)
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from lake.catalog import load_catalog
from lake.tables import OUTBOX_EVENTS, identifier

pytestmark = pytest.mark.integration


def completed_event(when: datetime | None = None) -> AttemptCompletedV1:
    at = when or datetime.now(UTC)
    return AttemptCompletedV1(
        attempt_id=str(new_id()),
        exam_id=str(new_id()),
        student_id=str(new_id()),
        class_id=None,
        raw_score=7,
        max_score=10,
        started_at=at - timedelta(minutes=20),
        completed_at=at,
    )


def one_of_each(when: datetime | None = None) -> list[Event]:
    """One event of every contract in core.events (a unit test keeps this list complete)."""
    at = when or datetime.now(UTC)
    student, teacher, klass, exam, attempt, item = (str(new_id()) for _ in range(6))
    return [
        UserRegisteredV1(user_id=student, role="student", registered_at=at),
        ClassCreatedV1(class_id=klass, teacher_id=teacher, created_at=at),
        ClassJoinedV1(class_id=klass, student_id=student, joined_at=at),
        ItemCreatedV1(item_id=item, owner_id=teacher, skills=["algebra"], created_at=at),
        ItemUpdatedV1(
            item_id=item,
            owner_id=teacher,
            version=2,
            status="operational",
            skills=[],
            updated_at=at,
        ),
        ItemParametersAddedV1(
            param_id=str(new_id()),
            item_id=item,
            version=1,
            calibration_id="c1",
            model="2pl",
            a=1.2,
            b=[0.3],
            c=0.0,
            created_at=at,
        ),
        ItemParametersPromotedV1(
            param_id=str(new_id()),
            item_id=item,
            version=1,
            calibration_id="c1",
            previous_param_id=None,
            promoted_at=at,
        ),
        ExamCreatedV1(exam_id=exam, owner_id=teacher, class_id=klass, item_count=1, created_at=at),
        AttemptStartedV1(attempt_id=attempt, exam_id=exam, student_id=student, started_at=at),
        ItemSelectedV1(
            attempt_id=attempt,
            exam_id=exam,
            student_id=student,
            position=0,
            item_id=item,
            pilot=False,
            rule="mfi",
            reason="max info",
            criterion=0.4,
            candidates=10,
            seed=7,
            theta_before=0.0,
            se_before=1.0,
            selected_at=at,
        ),
        ResponseRecordedV1(
            attempt_id=attempt,
            exam_id=exam,
            student_id=student,
            item_id=item,
            choice=1,
            is_correct=True,
            answered_at=at,
        ),
        AttemptCompletedV1(
            attempt_id=attempt,
            exam_id=exam,
            student_id=student,
            class_id=klass,
            raw_score=1,
            max_score=1,
            started_at=at - timedelta(minutes=5),
            completed_at=at,
        ),
        AttemptScoredV1(
            attempt_id=attempt,
            exam_id=exam,
            student_id=student,
            class_id=klass,
            theta=0.5,
            se=0.4,
            scale_score=512.0,
            percentile=61.0,
            items_administered=1,
            scored_items=1,
            stop_reason="max_items",
            completed_at=at,
        ),
    ]


def wait_final(settings: Settings, event_ids: list[str], timeout: float = 60.0) -> None:
    """Wait until every transaction that wrote `event_ids` is below the cluster's snapshot xmin.

    The horizon is cluster-wide: a transaction open in any database of the server (other test
    sessions share it) holds it back for a moment. Ingest is then late, never wrong; tests wait
    here so they can assert exact row counts.
    """
    deadline = time.monotonic() + timeout
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from events.outbox where event_id = any(%s::uuid[])"
                " and txid < pg_snapshot_xmin(pg_current_snapshot())",
                (event_ids,),
            ).fetchone()
            if row is not None and row[0] == len(event_ids):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"outbox rows not final after {timeout}s: a transaction is stuck open")
            time.sleep(0.05)


def write_events(
    settings: Settings,
    events: list[Event],
    occurred_at: datetime | None = None,
    *,
    wait: bool = True,
) -> list[str]:
    """Append events in one committed transaction; return their event_ids once final."""
    with psycopg.connect(settings.database_url) as conn:
        for event in events:
            append_sync(conn, event, occurred_at)
        rows = conn.execute(
            "select event_id::text from events.outbox where txid = pg_current_xact_id()"
        ).fetchall()
    ids = [r[0] for r in rows]
    if wait:
        wait_final(settings, ids)
    return ids


def lake_event_ids(settings: Settings) -> Counter[str]:
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    ids = table.scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist()
    return Counter(ids)


def assert_exactly_once(settings: Settings, event_ids: list[str]) -> None:
    seen = lake_event_ids(settings)
    assert {e: seen[e] for e in event_ids} == dict.fromkeys(event_ids, 1)
    # The global invariant too: no event id twice anywhere in the table.
    assert not [e for e, n in seen.items() if n > 1]


class OutboxKit:
    """What the tests need, handed out as a fixture (test modules cannot import conftest)."""

    completed_event = staticmethod(completed_event)
    one_of_each = staticmethod(one_of_each)
    write_events = staticmethod(write_events)
    lake_event_ids = staticmethod(lake_event_ids)
    assert_exactly_once = staticmethod(assert_exactly_once)
    wait_final = staticmethod(wait_final)


@pytest.fixture
def kit() -> type[OutboxKit]:
    return OutboxKit
