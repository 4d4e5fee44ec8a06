"""The lake's decision log never holds a raw person id in `resource_id` (lake.decisions)."""

from __future__ import annotations

from datetime import UTC, datetime

from lake.decisions import _rows_to_arrow, resource_id_of
from lake.pseudonym import Pseudonymizer

STUDENT = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
TEACHER = "0190a1b2-c3d4-7e5f-8a9b-00000000beef"
ASSIGNMENT = "0190a1b2-c3d4-7e5f-8a9b-0000000a551a"


def test_person_resources_and_embedded_ids_become_pseudonyms() -> None:
    pseudo = Pseudonymizer("unit-test-key")
    key = pseudo(STUDENT)
    assert key is not None
    # a submission: <assignment>/<student>, owned by her, read by her teacher
    submission = resource_id_of(pseudo, "submission", f"{ASSIGNMENT}/{STUDENT}", STUDENT, TEACHER)
    assert submission == f"{ASSIGNMENT}/{key}"
    # the tutor's consent decision: the resource is the student
    assert resource_id_of(pseudo, "consent", STUDENT, STUDENT, STUDENT) == key
    assert resource_id_of(pseudo, "user", STUDENT, STUDENT, TEACHER) == key
    # ids that name no person are kept, so the log stays useful
    assert resource_id_of(pseudo, "attempt", ASSIGNMENT, STUDENT, STUDENT) == ASSIGNMENT
    assert resource_id_of(pseudo, "privacy_request", ASSIGNMENT, None, TEACHER) == ASSIGNMENT
    assert resource_id_of(pseudo, "class", None, TEACHER, TEACHER) is None


def test_shipped_rows_hold_no_raw_person_id() -> None:
    pseudo = Pseudonymizer("unit-test-key")
    now = datetime.now(UTC)
    rows = [
        ("d1", now, "authz", TEACHER, "teacher", "assignments.submission.grade", "submission",
         f"{ASSIGNMENT}/{STUDENT}", STUDENT, "c1", True, "allowed", "rev", 10, "r1"),
        ("d2", now, "consent", STUDENT, "student", "tutor.model.send", "consent",
         STUDENT, STUDENT, None, False, "student_opted_out", "rev", 10, "r2"),
    ]  # fmt: skip
    table = _rows_to_arrow(rows, pseudo, now)
    text = str(table.to_pylist())
    assert STUDENT not in text and TEACHER not in text
    assert table.column("resource_id").to_pylist() == [
        f"{ASSIGNMENT}/{pseudo(STUDENT)}",
        pseudo(STUDENT),
    ]
