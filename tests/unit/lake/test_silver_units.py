"""Pure parts of the silver step: routing covers every contract, schemas, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import events as core_events
from core.events import AssignmentCreatedV1, ResponseRecordedV1
from lake.contracts import EXPECTED_EVENT_TYPES, contract_columns, decode, family, version
from lake.pseudonym import PERSON_FIELDS, MissingPseudonymKey, Pseudonymizer, pseudonymize
from lake.silver import (
    ENVELOPE_NAMES,
    SILVER_ROUTES,
    SILVER_TABLES,
    contracts_for,
    route,
    silver_row,
    silver_schema,
)

TABLES_JSON = Path(__file__).resolve().parents[3] / "governance" / "data" / "tables.json"


def test_every_core_event_type_is_routed_to_a_silver_table() -> None:
    # When a new family lands in core.events this fails: add it to SILVER_ROUTES (a new or an
    # existing table) -- unknown families would otherwise only be counted, never typed.
    unrouted = sorted(t for t in core_events.EVENT_TYPES if route(t) is None)
    assert unrouted == []
    assert all(route(t) is not None for t in EXPECTED_EVENT_TYPES)


def test_every_silver_table_has_contracts_and_a_consistent_schema() -> None:
    for table in SILVER_TABLES:
        assert contracts_for(table), table
        schema = silver_schema(table)  # raises on a type conflict between contracts
        names = schema.column_names
        assert len(names) == len(set(names))
        assert set(ENVELOPE_NAMES) <= set(names)
        assert not set(PERSON_FIELDS) & set(names), "clear person ids must never be columns"
        assert all(not f.required for f in schema.fields if f.name not in ENVELOPE_NAMES)


def test_silver_tables_are_classified_for_governance() -> None:
    tables = json.loads(TABLES_JSON.read_text())
    keys = set(PERSON_FIELDS.values())
    for table in SILVER_TABLES:
        entry = tables[f"lake.{table}"]
        for name in silver_schema(table).column_names:
            # a list of keys (assignment_events.student_keys) is an identifier, its elements
            # are listed as the schema names them
            want = "identifier" if name in keys else "none"
            assert entry["columns"].get(name) == want, (table, name)


def test_family_and_version() -> None:
    assert family("exams.response.recorded.v12") == "exams.response"
    assert version("exams.response.recorded.v12") == 12
    assert version("odd") == 0
    assert set(SILVER_ROUTES.values()) == set(SILVER_TABLES)


def test_contract_columns_rename_person_ids() -> None:
    columns = {c.name: c.kind for c in contract_columns(ResponseRecordedV1)}
    assert columns["student_key"] == "string"
    assert columns["answered_at"] == "timestamptz"
    assert columns["is_correct"] == "boolean"
    assert "student_id" not in columns


def test_pseudonyms_are_keyed_hmac_sha256_hex() -> None:
    want = hmac.new(b"k", b"abc", hashlib.sha256).hexdigest()
    assert pseudonymize("k", "abc") == want
    assert pseudonymize("other", "abc") != want
    p = Pseudonymizer("k")
    assert p(None) is None and p("abc") == want
    with pytest.raises(MissingPseudonymKey):
        Pseudonymizer("")


def test_silver_row_never_keeps_the_clear_student_id() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    event = ResponseRecordedV1(
        attempt_id="a",
        exam_id="e",
        student_id="s-1",
        item_id="i",
        choice=0,
        is_correct=False,
        answered_at=at,
    )
    row = silver_row(event, Pseudonymizer("k"), {"event_id": "x"})
    assert row["student_key"] == pseudonymize("k", "s-1")
    assert "s-1" not in row.values() and "student_id" not in row
    assert row["event_id"] == "x" and row["answered_at"] == at


def test_decisions_and_dimensions_are_classified_for_governance() -> None:
    from lake.decisions import POLICY_DECISIONS_SCHEMA
    from lake.dims import DIMENSIONS

    tables = json.loads(TABLES_JSON.read_text())
    schemas = {"policy_decisions": POLICY_DECISIONS_SCHEMA}
    schemas.update({d.name: d.table_def().schema for d in DIMENSIONS})
    for name, schema in schemas.items():
        entry = tables[f"lake.{name}"]["columns"]
        assert set(entry) == set(schema.column_names), name
        assert not set(PERSON_FIELDS) & set(schema.column_names), name
        for column in schema.column_names:
            if column.endswith("_key"):
                assert entry[column] == "identifier", (name, column)


_ASSIGNMENT = {
    "assignment_id": "as-1",
    "owner_id": "t-1",
    "class_id": "c-1",
    "kind": "task",
    "exam_id": None,
    "lesson_id": None,
    "open_at": "2026-01-02T09:00:00Z",
    "due_at": "2026-01-03T09:00:00Z",
    "late_policy": "flag",
    "points": 10,
    "targeted_students": None,
    "created_at": "2026-01-02T08:00:00Z",
}


def test_assignment_created_decodes_without_the_targeted_students() -> None:
    # events recorded before issue 18 carry no student_ids: still valid, the field is None
    event = decode("assignments.assignment.created.v1", json.dumps(_ASSIGNMENT))
    assert isinstance(event, AssignmentCreatedV1) and event.student_ids is None
    row = silver_row(event, Pseudonymizer("k"), {"event_id": "x"})
    assert row["student_keys"] is None and row["owner_key"] == pseudonymize("k", "t-1")


def test_assignment_created_targeted_students_become_a_list_of_keys() -> None:
    payload = {**_ASSIGNMENT, "targeted_students": 2, "student_ids": ["s-1", "s-2"]}
    event = decode("assignments.assignment.created.v1", json.dumps(payload))
    assert isinstance(event, AssignmentCreatedV1) and event.student_ids == ["s-1", "s-2"]
    row = silver_row(event, Pseudonymizer("k"), {"event_id": "x"})
    assert row["student_keys"] == [pseudonymize("k", "s-1"), pseudonymize("k", "s-2")]
    assert "student_ids" not in row
    assert not {"s-1", "s-2"} & set(json.dumps(row, default=str).split('"'))
    columns = {c.name: c.kind for c in contract_columns(AssignmentCreatedV1)}
    assert columns["student_keys"] == "list<string>" and "student_ids" not in columns
    field = silver_schema("assignment_events").find_field("student_keys")
    assert str(field.field_type) == "list<string>" and not field.required
