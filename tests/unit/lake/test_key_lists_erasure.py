"""A pseudonym inside a list of keys (assignment_events.student_keys) is found and rewritten by the
lake part of an erasure, and nobody else's key is touched."""

from __future__ import annotations

import pyarrow as pa

from privacy.lake_rows import rewrite_rows, subject_mask
from privacy.postgres import Subject

ENTRY = {
    "subject_columns": ["owner_key", "student_keys"],
    "columns": {"event_id": "none", "owner_key": "identity", "student_keys": "identity"},
}
HER, OTHER, TEACHER, TOMB = "a" * 64, "b" * 64, "c" * 64, "d" * 64


def _rows() -> pa.Table:
    return pa.table(
        {
            "event_id": ["e1", "e2", "e3"],
            "owner_key": [TEACHER, TEACHER, TEACHER],
            "student_keys": pa.array([[OTHER, HER], None, [OTHER]], pa.list_(pa.string())),
        }
    )


def test_a_key_inside_a_list_marks_the_row() -> None:
    subject = Subject("her-id", None, None, "student")
    mask = subject_mask(_rows(), "assignment_events", ENTRY, subject, HER)
    assert mask.to_pylist() == [True, False, False]


def test_the_key_inside_the_list_becomes_the_tombstones() -> None:
    subject = Subject("her-id", None, None, "student")
    rows = _rows()
    mask = subject_mask(rows, "assignment_events", ENTRY, subject, HER)
    out = rewrite_rows(rows, mask, "assignment_events", ENTRY, subject, HER, "tomb-id", TOMB)
    assert out.column("student_keys").to_pylist() == [[OTHER, TOMB], None, [OTHER]]
    assert out.column("owner_key").to_pylist() == [TEACHER] * 3
    assert out.schema == rows.schema
