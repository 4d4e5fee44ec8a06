"""Bronze -> typed silver tables: routing, pseudonyms, exactly once across crashes, unknown types,
schema evolution without rewrites, rebuilds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

import psycopg
import pytest

from core import events as core_events
from core.events import Event, ResponseRecordedV1
from core.ids import new_id
from core.settings import Settings
from lake.audit import audit_silver
from lake.catalog import load_catalog
from lake.duck import connect, run_sql
from lake.ingest import ingest_outbox
from lake.pseudonym import pseudonymize
from lake.silver import (
    SILVER_HORIZON_PROPERTY,
    SILVER_TABLES,
    derive_silver,
    rebuild_silver,
    silver_watermarks,
)
from lake.tables import identifier

if TYPE_CHECKING:
    from tests.integration.lake.conftest import OutboxKit

pytestmark = pytest.mark.integration


def silver_ids(settings: Settings, table: str) -> list[str]:
    t = load_catalog(settings).load_table(identifier(settings, table))
    return list(t.scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist())


def test_every_event_type_lands_once_in_its_table_with_pseudonyms(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    events = kit.one_of_each()
    ids = kit.write_events(settings, events)
    ingest_outbox(settings)
    first = derive_silver(settings)
    assert first.total_rows >= len(events)
    again = derive_silver(settings)
    assert again.total_rows == 0 and again.commits == 0

    audit = audit_silver(settings)
    assert audit.exact, {n: (t.rows, t.expected) for n, t in audit.tables.items() if not t.exact}
    seen = {e: 0 for e in ids}
    for table in SILVER_TABLES:
        for event_id in silver_ids(settings, table):
            if event_id in seen:
                seen[event_id] += 1
    assert seen == dict.fromkeys(ids, 1)

    student = events[0].user_id  # type: ignore[attr-defined]
    key = pseudonymize(settings.pseudonym_key, student)
    _, rows = run_sql(
        settings,
        "select student_key, item_id, is_correct, event_version from responses"
        f" where event_id = '{ids[10]}'",
    )
    assert rows == [(key, events[10].item_id, True, 1)]  # type: ignore[attr-defined]
    _, rows = run_sql(settings, f"select user_key, role from user_events where event_id='{ids[0]}'")
    assert rows == [(key, "student")]
    # No clear student id anywhere in silver.
    con = connect(settings)
    try:
        for table in SILVER_TABLES:
            hits = con.execute(
                f"select count(*) from {table} t where strpos(cast(t as varchar), ?) > 0",
                [student],
            ).fetchone()
            assert hits == (0,), table
    finally:
        con.close()


def test_crash_between_table_commits_reruns_exactly_once(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    ingest_outbox(settings)
    derive_silver(settings, advance_idle=True)
    ids = kit.write_events(settings, kit.one_of_each() + kit.one_of_each())
    ingest_outbox(settings)
    committed: list[str] = []

    def crash_on_third(table: str) -> None:
        if len(committed) == 2:
            raise RuntimeError(f"simulated crash before committing {table}")
        committed.append(table)

    with pytest.raises(RuntimeError, match="simulated crash"):
        derive_silver(settings, before_commit=crash_on_third)
    marks = silver_watermarks(settings)
    assert len({marks[t] for t in committed}) == 1
    derive_silver(settings)
    audit = audit_silver(settings)
    assert audit.exact
    everywhere = [e for t in SILVER_TABLES for e in silver_ids(settings, t)]
    assert sorted(e for e in everywhere if e in set(ids)) == sorted(ids)


def test_unknown_types_and_versions_stay_in_bronze_and_are_counted(
    settings: Settings, kit: type[OutboxKit]
) -> None:
    with psycopg.connect(settings.database_url) as conn:
        for event_type in ("exams.response.recorded.v9", "garden.plant.watered.v1"):
            conn.execute(
                "insert into events.outbox (event_id, event_type, aggregate_id, occurred_at,"
                " payload) values (%s, %s, 'x', now(), '{\"a\": 1}')",
                (new_id(), event_type),
            )
        ids = [
            r[0]
            for r in conn.execute(
                "select event_id::text from events.outbox where txid = pg_current_xact_id()"
            ).fetchall()
        ]
    kit.wait_final(settings, ids)
    ingest_outbox(settings)
    result = derive_silver(settings)
    assert result.unknown.get("exams.response.recorded.v9") == 1
    assert result.unknown.get("garden.plant.watered.v1") == 1
    audit = audit_silver(settings)
    assert audit.unknown_by_type["exams.response.recorded.v9"] >= 1
    assert audit.unknown_by_type["garden.plant.watered.v1"] >= 1
    assert audit.exact
    assert set(ids) <= set(kit.lake_event_ids(settings))


class ResponseRecordedV2(Event, frozen=True, kw_only=True):
    """A new version defined by the test: v1 plus the time the student took."""

    event_type: ClassVar[str] = "exams.response.recorded.v2"
    attempt_id: str
    exam_id: str
    student_id: str
    item_id: str
    choice: int
    is_correct: bool
    answered_at: datetime
    response_ms: int | None = None

    @property
    def aggregate_id(self) -> str:
        return self.attempt_id


def test_new_event_version_adds_a_nullable_column_without_rewriting(
    settings: Settings, kit: type[OutboxKit], monkeypatch: pytest.MonkeyPatch
) -> None:
    common = {
        "attempt_id": str(new_id()),
        "exam_id": str(new_id()),
        "student_id": str(new_id()),
        "item_id": str(new_id()),
        "choice": 2,
        "is_correct": False,
        "answered_at": datetime.now(UTC),
    }
    (v1_id,) = kit.write_events(settings, [ResponseRecordedV1(**common)])  # type: ignore[arg-type]
    ingest_outbox(settings)
    derive_silver(settings)
    table = load_catalog(settings).load_table(identifier(settings, "responses"))
    assert "response_ms" not in table.schema().column_names
    files_before = {f["file_path"] for f in table.inspect.files().to_pylist()}
    schema_id_before = table.schema().schema_id

    # The new version is registered (as a producer deploy would) and written.
    monkeypatch.setitem(core_events.EVENT_TYPES, ResponseRecordedV2.event_type, ResponseRecordedV2)
    (v2_id,) = kit.write_events(settings, [ResponseRecordedV2(**common, response_ms=4200)])  # type: ignore[arg-type]
    ingest_outbox(settings)
    derive_silver(settings)

    table = load_catalog(settings).load_table(identifier(settings, "responses"))
    field = table.schema().find_field("response_ms")
    assert not field.required
    assert table.schema().schema_id > schema_id_before
    files_after = {f["file_path"] for f in table.inspect.files().to_pylist()}
    assert files_before < files_after, "earlier files must stay, untouched"
    _, rows = run_sql(
        settings,
        "select event_id, event_version, response_ms from responses"
        f" where event_id in ('{v1_id}', '{v2_id}') order by event_version",
    )
    assert rows == [(v1_id, 1, None), (v2_id, 2, 4200)]
    assert audit_silver(settings).exact


def test_rebuild_rederives_the_same_rows(settings: Settings, kit: type[OutboxKit]) -> None:
    kit.write_events(settings, kit.one_of_each())
    ingest_outbox(settings)
    derive_silver(settings)
    before = sorted(silver_ids(settings, "attempts"))
    rebuilt = rebuild_silver(settings, ["attempts"])
    assert rebuilt.rows["attempts"] == len(before)
    assert sorted(silver_ids(settings, "attempts")) == before
    table = load_catalog(settings).load_table(identifier(settings, "attempts"))
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert SILVER_HORIZON_PROPERTY in snapshot.summary.additional_properties
    assert audit_silver(settings).exact
