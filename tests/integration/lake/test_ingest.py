"""Outbox -> Iceberg ingest: exactly once across reruns, crashes and out-of-order commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
import pytest

from core.outbox import append_sync
from core.settings import Settings
from lake.audit import audit_outbox_events
from lake.catalog import load_catalog
from lake.ingest import (
    HORIZON_PROPERTY,
    current_horizon,
    ingest_outbox,
    pending_events,
    read_horizon,
)
from lake.tables import OUTBOX_EVENTS, identifier

pytestmark = pytest.mark.integration

if TYPE_CHECKING:
    from tests.integration.lake.conftest import OutboxKit


def test_ingest_twice_copies_each_event_once(settings: Settings, kit: type[OutboxKit]) -> None:
    ids = kit.write_events(settings, [kit.completed_event() for _ in range(25)])
    assert pending_events(settings) >= 25
    first = ingest_outbox(settings)
    assert first.committed and first.rows >= 25
    assert first.horizon > first.previous_horizon
    second = ingest_outbox(settings)
    assert second.rows == 0 and not second.committed
    assert second.horizon == first.horizon
    kit.assert_exactly_once(settings, ids)
    assert pending_events(settings) == 0
    audit = audit_outbox_events(settings)
    assert audit.duplicates == 0 and audit.missing == 0 and audit.lake_rows > 0


def test_crash_before_commit_leaves_watermark_and_rerun_is_exactly_once(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    ingest_outbox(settings)
    before = current_horizon(settings)
    ids = kit.write_events(settings, [kit.completed_event() for _ in range(10)])

    def crash() -> None:
        raise RuntimeError("simulated crash after the Parquet files were written")

    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_outbox(settings, before_commit=crash)
    assert current_horizon(settings) == before
    assert not set(ids) & set(kit.lake_event_ids(settings))

    rerun = ingest_outbox(settings)
    assert rerun.previous_horizon == before and rerun.rows >= 10
    kit.assert_exactly_once(settings, ids)


def test_out_of_order_commits_lose_nothing(settings: Settings, kit: type[OutboxKit]) -> None:
    ingest_outbox(settings)
    # Writer A takes the smaller event_seq but commits last.
    slow = psycopg.connect(settings.database_url)
    try:
        append_sync(slow, kit.completed_event())
        slow_id = slow.execute(
            "select event_id::text, event_seq from events.outbox where txid = pg_current_xact_id()"
        ).fetchone()
        assert slow_id is not None
        fast_ids = kit.write_events(settings, [kit.completed_event() for _ in range(3)], wait=False)
        with psycopg.connect(settings.database_url) as c:
            seqs = c.execute(
                "select max(event_seq) from events.outbox where event_id = any(%s::uuid[])",
                (fast_ids,),
            ).fetchone()
        assert seqs is not None and seqs[0] > slow_id[1]

        held = ingest_outbox(settings)  # A is still open: its txid bounds the horizon
        seen = kit.lake_event_ids(settings)
        assert slow_id[0] not in seen
        assert not set(fast_ids) & set(seen), "rows above the open transaction must wait"
        assert held.rows == 0
        slow.commit()
    finally:
        slow.close()
    kit.wait_final(settings, [slow_id[0], *fast_ids])
    after = ingest_outbox(settings)
    assert after.rows >= 4
    kit.assert_exactly_once(settings, [slow_id[0], *fast_ids])


def test_rolled_back_events_never_arrive(settings: Settings, kit: type[OutboxKit]) -> None:
    with psycopg.connect(settings.database_url) as conn:
        append_sync(conn, kit.completed_event())
        gone = conn.execute(
            "select event_id::text from events.outbox where txid = pg_current_xact_id()"
        ).fetchone()
        conn.rollback()
    kept = kit.write_events(settings, [kit.completed_event()])
    ingest_outbox(settings)
    seen = kit.lake_event_ids(settings)
    assert gone is not None and gone[0] not in seen
    kit.assert_exactly_once(settings, kept)


def test_small_batches_across_days_are_partitioned_and_exact(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    base = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    ids: list[str] = []
    for day in range(3):
        when = base + timedelta(days=day)
        ids += kit.write_events(
            settings, [kit.completed_event(when) for _ in range(9)], occurred_at=when
        )
    result = ingest_outbox(settings, batch_size=7)
    assert result.rows >= 27
    assert result.data_files >= 3
    kit.assert_exactly_once(settings, ids)
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    partitions = {str(p["partition"]) for p in table.inspect.partitions().to_pylist()}
    assert len(partitions) >= 3


def test_horizon_survives_snapshots_without_it(settings: Settings, kit: type[OutboxKit]) -> None:
    ingest_outbox(settings)
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    horizon = read_horizon(table)
    # A maintenance-style snapshot (no horizon in its summary) on top of the ingest's snapshot.
    table.append(table.schema().as_arrow().empty_table())
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    current = table.current_snapshot()
    assert current is not None and current.summary is not None
    assert HORIZON_PROPERTY not in current.summary.additional_properties
    assert read_horizon(table) == horizon
    ids = kit.write_events(settings, [kit.completed_event()])
    ingest_outbox(settings)
    kit.assert_exactly_once(settings, ids)
