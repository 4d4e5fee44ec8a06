"""DecisionLog and write_now against a real PostgreSQL scratch database."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import psycopg
import pytest

from governance import LocalEngine, Resource, Subject
from governance.decision import Decision
from governance.decision_log import DecisionLog, write_now
from tests.support.policy import Blocking

pytestmark = pytest.mark.integration


def _decision(i: int, *, allowed: bool = True) -> Decision:
    return Decision.new(
        decision="data.dreamseed.api.authz.decision",
        subject_id=f"user-{i}",
        subject_role="student",
        action="exams.attempt.read",
        resource={"type": "attempt", "id": f"a{i}", "owner_id": f"user-{i}", "class_id": None},
        allowed=allowed,
        reason="allowed" if allowed else "resource_out_of_scope",
        policy_revision="abc123",
        latency_us=42,
        request_id=f"req-{i}",
    )


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from governance.decisions").fetchone()
    assert row is not None
    return int(row[0])


def test_engine_decisions_round_trip(clean_dsn: str) -> None:
    engine = Blocking(LocalEngine())
    student = Subject("s1", "student", ("c1",))
    decisions = [
        engine.authorize(student, "exams.attempt.read", Resource("attempt", "a1", "s1", "c1")),
        engine.authorize(student, "exams.attempt.read", Resource("attempt", "a2", "s2", "c1")),
        engine.authorize(student, "content.item.create", request_id="r-3"),
    ]

    async def run() -> None:
        log = DecisionLog(clean_dsn)
        await log.start()
        for d in decisions:
            assert log.record(d)
        await log.stop()
        assert log.written == 3 and log.dropped == 0 and log.pending == 0

    asyncio.run(run())
    with psycopg.connect(clean_dsn) as conn:
        rows = conn.execute(
            "select decision_id::text, decided_at, decision, subject_id, subject_role, action,"
            " resource, allowed, reason, policy_revision, latency_us, request_id"
            " from governance.decisions order by decided_at"
        ).fetchall()
    assert len(rows) == 3
    by_id = {r[0]: r for r in rows}
    for d in decisions:
        row = by_id[d.decision_id]
        assert row[1] == d.decided_at
        assert row[2:6] == (d.decision, "s1", "student", d.action)
        assert row[6] == d.resource
        assert row[7:12] == (d.allowed, d.reason, engine.revision, d.latency_us, d.request_id)
    assert [by_id[d.decision_id][7] for d in decisions] == [True, False, False]


def test_many_decisions_are_batched(clean_dsn: str) -> None:
    async def run() -> DecisionLog:
        log = DecisionLog(clean_dsn, batch_size=250)
        await log.start()
        for i in range(5000):
            assert log.record(_decision(i))
        await log.flush()
        assert log.pending == 0
        await log.stop()
        return log

    log = asyncio.run(run())
    assert log.written == 5000
    assert _count(clean_dsn) == 5000


def test_record_before_start_is_kept_and_context_manager(clean_dsn: str) -> None:
    async def run() -> None:
        log = DecisionLog(clean_dsn)
        log.record(_decision(1))
        async with log:
            log.record(_decision(2))
        assert log.written == 2

    asyncio.run(run())
    assert _count(clean_dsn) == 2


def test_overflow_refuses_new_counts_and_logs_never_drops_oldest(
    clean_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = [_decision(i) for i in range(3)]
    extra = _decision(99)

    async def run() -> DecisionLog:
        log = DecisionLog(clean_dsn, max_pending=3)
        for d in first:
            assert log.record(d)
        with caplog.at_level(logging.ERROR, logger="governance.decision_log"):
            assert log.record(extra) is False
        assert log.dropped == 1 and not log.healthy
        await log.start()
        await log.stop()
        return log

    log = asyncio.run(run())
    assert "AUDIT GAP" in caplog.text and extra.decision_id in caplog.text
    with psycopg.connect(clean_dsn) as conn:
        ids = {r[0] for r in conn.execute("select decision_id::text from governance.decisions")}
    assert ids == {d.decision_id for d in first}  # the oldest are all there
    assert log.written == 3


def test_record_wait_applies_backpressure(clean_dsn: str) -> None:
    async def run() -> None:
        log = DecisionLog(clean_dsn, max_pending=2, batch_size=2)
        await log.start()
        for i in range(50):
            await log.record_wait(_decision(i))
        await log.stop()
        assert log.written == 50 and log.dropped == 0

    asyncio.run(run())
    assert _count(clean_dsn) == 50


def test_record_after_stop_is_refused(clean_dsn: str) -> None:
    async def run() -> None:
        log = DecisionLog(clean_dsn)
        await log.start()
        await log.stop()
        assert log.record(_decision(1)) is False
        assert log.dropped == 1
        with pytest.raises(RuntimeError):
            await log.record_wait(_decision(2))

    asyncio.run(run())
    assert _count(clean_dsn) == 0


def test_unreachable_database_retries_then_reports_on_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> DecisionLog:
        log = DecisionLog(
            "postgresql://postgres@127.0.0.1:1/nowhere", retry_initial=0.05, retry_max=0.1
        )
        await log.start()
        log.record(_decision(1))
        log.record(_decision(2))
        await asyncio.sleep(0.3)
        assert log.failed_writes >= 2 and log.last_error
        assert log.pending == 2
        with caplog.at_level(logging.ERROR, logger="governance.decision_log"):
            await log.stop(drain_seconds=0.2)
        return log

    log = asyncio.run(run())
    assert log.written == 0 and log.dropped == 2
    assert "stopped with 2 decisions unwritten" in caplog.text


def test_retry_keeps_the_batch_until_the_table_is_writable(clean_dsn: str) -> None:
    with psycopg.connect(clean_dsn, autocommit=True) as conn:
        conn.execute("alter table governance.decisions rename to decisions_away")

    async def run() -> DecisionLog:
        log = DecisionLog(clean_dsn, retry_initial=0.05, retry_max=0.1)
        await log.start()
        log.record(_decision(1))
        await asyncio.sleep(0.3)
        assert log.failed_writes >= 1 and log.written == 0
        with psycopg.connect(clean_dsn, autocommit=True) as conn:
            conn.execute("alter table governance.decisions_away rename to decisions")
        await log.flush()
        await log.stop()
        return log

    log = asyncio.run(run())
    assert log.written == 1
    assert _count(clean_dsn) == 1


def test_write_now_sync(clean_dsn: str) -> None:
    decisions = [_decision(i, allowed=i % 2 == 0) for i in range(10)]
    assert write_now(clean_dsn, decisions) == 10
    assert write_now(clean_dsn, decisions[:3]) == 3  # idempotent on decision_id
    assert write_now(clean_dsn, []) == 0
    assert _count(clean_dsn) == 10
    with psycopg.connect(clean_dsn) as conn:
        row = conn.execute(
            "select decided_at from governance.decisions where decision_id = %s",
            (decisions[0].decision_id,),
        ).fetchone()
    assert row is not None and row[0] == decisions[0].decided_at
    assert row[0].tzinfo is not None and row[0] <= datetime.now(UTC)


def test_write_now_raises_when_unreachable() -> None:
    with pytest.raises(psycopg.OperationalError):
        write_now("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2", [_decision(1)])
