"""The data inventory (`governance/data/inventory.json`): every table, lake table, Redis key prefix,
stream and bucket prefix where DreamSeed keeps data; per column the class of personal data it
holds; per store the legal basis, the retention and what erasure does to it.

It is data beside the policy so that the privacy machinery (export, erasure, retention) and the
policies read one description. These functions keep it honest: `shape_problems` checks that it
uses only the classes, bases, retentions and erasure actions it defines, and `coverage_problems`
compares it with the columns a store really has (tests run it against a migrated database and the
lake's table contracts, so a new column nobody classified fails the build).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

INVENTORY_FILE: Final = Path(__file__).resolve().parent / "data" / "inventory.json"
#: The stores whose columns are classified one by one.
COLUMN_STORES: Final = ("postgres", "lake")
#: Classes that are not personal data.
NOT_PERSONAL: Final = "none"


def load(path: Path = INVENTORY_FILE) -> dict[str, Any]:
    inventory: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return inventory


def _table_problems(inventory: Mapping[str, Any], store: str, name: str, entry: Any) -> list[str]:
    where = f"{store} {name}"
    problems = [
        f"{where}: {field} {entry.get(field)!r} is not defined under {section!r}"
        for field, section in (
            ("basis", "bases"),
            ("retention", "retention"),
            ("on_erasure", "on_erasure"),
        )
        if entry.get(field) not in inventory[section]
    ]
    columns: Mapping[str, str] = entry.get("columns", {})
    problems += [
        f"{where}.{column}: class {kind!r} is not defined under 'classes'"
        for column, kind in columns.items()
        if kind not in inventory["classes"]
    ]
    subjects: Sequence[str] = entry.get("subject_columns", [])
    # "attempt_id -> exams.attempts.student_id": the subject is reached through another table.
    problems += [
        f"{where}: subject column {s!r} is not one of its columns"
        for s in subjects
        if s.split(" -> ")[0] not in columns
    ]
    personal = any(kind != NOT_PERSONAL for kind in columns.values())
    if personal and (not subjects or entry.get("on_erasure") == "keep"):
        problems.append(f"{where}: holds personal data, so it needs subject_columns and an erasure")
    if not personal and entry.get("on_erasure") != "keep":
        problems.append(f"{where}: holds no personal data; its on_erasure should be 'keep'")
    return problems


def shape_problems(inventory: Mapping[str, Any]) -> list[str]:
    """Everything the inventory uses is defined by it, and personal tables say how to erase."""
    problems: list[str] = []
    for store in COLUMN_STORES:
        for name, entry in inventory[store].items():
            problems += _table_problems(inventory, store, name, entry)
    for store in ("redis", "s3"):
        for prefix, entry in inventory[store].items():
            where = f"{store} {prefix}"
            problems += [
                f"{where}: class {kind!r} is not defined under 'classes'"
                for kind in entry.get("classes", [])
                if kind not in inventory["classes"]
            ]
            if entry.get("retention") not in inventory["retention"]:
                problems.append(f"{where}: retention {entry.get('retention')!r} is not defined")
    return problems


def coverage_problems(
    inventory: Mapping[str, Any], store: str, actual: Mapping[str, Iterable[str]]
) -> list[str]:
    """How the inventory of `store` differs from the tables and columns it really has."""
    declared: Mapping[str, Any] = inventory[store]
    problems = [
        f"{store} {name}: not in the inventory" for name in sorted(set(actual) - set(declared))
    ]
    problems += [
        f"{store} {name}: in the inventory but no longer exists"
        for name in sorted(set(declared) - set(actual))
    ]
    for name in sorted(set(actual) & set(declared)):
        have, listed = set(actual[name]), set(declared[name]["columns"])
        problems += [f"{store} {name}.{c}: not classified" for c in sorted(have - listed)]
        problems += [
            f"{store} {name}.{c}: classified but no longer exists" for c in sorted(listed - have)
        ]
    return problems


def personal_columns(inventory: Mapping[str, Any], store: str, name: str) -> dict[str, str]:
    """The personal columns of one table and their classes (what an export must carry)."""
    columns: Mapping[str, str] = inventory[store][name]["columns"]
    return {c: kind for c, kind in columns.items() if kind != NOT_PERSONAL}
