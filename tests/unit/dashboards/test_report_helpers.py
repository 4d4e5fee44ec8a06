"""The report pages' pure helpers: the row filter carried to other marts (never wider), the
distractor pivot, and the curves computed from live parameters."""

from __future__ import annotations

import math

import numpy as np
from psycopg import sql

from dashboards.pages.class_report import flags_text
from dashboards.pages.item_bank_health import (
    THETA,
    bank_parameters,
    distractor_rows,
    expected_scores,
)
from dashboards.pages.scope import scoped_sql, short_id
from governance import RowCondition, RowFilter

MAPPING = {"class_id": "class_id", "student_id": "student_id"}


def as_text(predicate: sql.Composable) -> str:
    # psycopg renders Identifiers only against a connection; the structure is enough here
    return repr(predicate)


def test_all_and_none_pass_through() -> None:
    assert scoped_sql(RowFilter("all"), MAPPING, alias="m") == (sql.SQL("true"), [])
    assert scoped_sql(RowFilter("none"), MAPPING, alias="m") == (sql.SQL("false"), [])


def test_conditions_are_renamed_and_unmapped_ones_dropped() -> None:
    teacher = RowFilter(
        "any",
        (RowCondition("student_id", ("t1",)), RowCondition("class_id", ("c1", "c2"))),
    )
    predicate, params = scoped_sql(teacher, {"class_id": "class_id"}, alias="g")
    assert params == [["c1", "c2"]]  # only the class condition: narrower, never wider
    assert "'g', 'class_id'" in as_text(predicate)
    predicate, params = scoped_sql(teacher, {"student_id": "owner_id"}, alias="x")
    assert params == [["t1"]] and "'owner_id'" in as_text(predicate)


def test_nothing_mapped_is_nothing_shown() -> None:
    own = RowFilter("any", (RowCondition("owner_id", ("t1",)),))
    assert scoped_sql(own, MAPPING, alias="m") == (sql.SQL("false"), [])


def test_short_id_is_the_tail() -> None:
    assert short_id("0193a2b4-0000-7000-8000-00000000abcd") == "…0000abcd"
    assert short_id(None) == "—"


def test_flags_text() -> None:
    assert flags_text({"is_low": True, "is_falling": False, "is_inactive": True}) == "low, inactive"
    assert flags_text({"is_low": False, "is_falling": False, "is_inactive": False}) == "—"


def test_distractor_rows_pivot_score_groups() -> None:
    rows = [
        {"item_id": "i1", "choice": 0, "is_key": True, "score_group": "upper", "share": 0.75,
         "chosen_count": 3},
        {"item_id": "i1", "choice": 0, "is_key": True, "score_group": "lower", "share": 0.25,
         "chosen_count": 1},
        {"item_id": "i1", "choice": 2, "is_key": False, "score_group": "lower", "share": 0.75,
         "chosen_count": 3},
    ]  # fmt: skip
    out = distractor_rows(rows)
    assert [r["option"] for r in out] == ["A (key)", "C"]
    assert out[0]["upper"] == 0.75 and out[0]["lower"] == 0.25 and out[0]["chosen"] == 4
    assert "upper" not in out[1] and out[1]["lower"] == 0.75


def test_curves_of_a_2pl_item() -> None:
    a, b = 1.5, 0.5
    items = bank_parameters([{"item_id": "i1", "model": "2pl", "a": a, "c": 0.0, "d": [-a * b]}])
    assert items is not None
    icc = expected_scores(items)[0]
    at_b = int(np.argmin(np.abs(THETA - b)))
    assert math.isclose(icc[at_b], 0.5, abs_tol=1e-9)  # P(θ = b) = 1/2
    assert bank_parameters([]) is None
