"""The data inventory classifies every column of every lake table, and uses only what it defines."""

from __future__ import annotations

import copy

from pyiceberg.schema import Schema

from governance.inventory import coverage_problems, load, personal_columns, shape_problems
from lake import decisions, dims, silver, tables


def lake_columns() -> dict[str, list[str]]:
    """Top-level columns of every table the lake writes (silver, dimensions, decisions, bronze)."""
    schemas: dict[str, Schema] = {t: silver.silver_schema(t) for t in silver.SILVER_TABLES}
    schemas.update({d.name: d.table_def().schema for d in dims.DIMENSIONS})
    schemas[decisions.POLICY_DECISIONS] = decisions.POLICY_DECISIONS_SCHEMA
    schemas[tables.OUTBOX_EVENTS] = tables.OUTBOX_EVENTS_SCHEMA
    return {name: [f.name for f in schema.fields] for name, schema in schemas.items()}


def test_the_inventory_uses_only_the_classes_bases_and_retentions_it_defines() -> None:
    assert shape_problems(load()) == []


def test_every_lake_column_is_classified() -> None:
    assert coverage_problems(load(), "lake", lake_columns()) == []


def test_a_new_lake_column_or_table_nobody_classified_is_reported() -> None:
    actual = lake_columns()
    actual["responses"] = [*actual["responses"], "student_email"]
    actual["chat_logs"] = ["student_key", "message"]
    del actual["attempts"]
    assert coverage_problems(load(), "lake", actual) == [
        "lake chat_logs: not in the inventory",
        "lake attempts: in the inventory but no longer exists",
        "lake responses.student_email: not classified",
    ]


def test_bad_entries_are_named() -> None:
    inventory = copy.deepcopy(load())
    accounts = inventory["postgres"]["users.accounts"]
    accounts["columns"]["email"] = "contactish"
    accounts["retention"] = "forever"
    inventory["postgres"]["exams.item_exposure"]["columns"]["selections"] = "learning"
    assert shape_problems(inventory) == [
        "postgres users.accounts: retention 'forever' is not defined under 'retention'",
        "postgres users.accounts.email: class 'contactish' is not defined under 'classes'",
        "postgres exams.item_exposure: holds personal data, so it needs subject_columns and an"
        " erasure",
    ]


def test_pseudonymous_keys_and_raw_ids_count_as_identity() -> None:
    inventory = load()
    assert personal_columns(inventory, "lake", "responses")["student_key"] == "identity"
    assert personal_columns(inventory, "postgres", "users.accounts") == {
        "user_id": "identity",
        "email": "contact",
        "display_name": "identity",
        "password_hash": "credential",
    }
    for name, entry in inventory["lake"].items():
        for column in entry["columns"]:
            if column.endswith("_key"):
                assert entry["columns"][column] == "identity", (name, column)
