"""The IRT result of a fixed-form attempt: overall EAP, per-skill EAP from each skill's items
alone, and the counts (pure function, no services)."""

from __future__ import annotations

import numpy as np
import pytest

from apis.exams.adaptive import ParamRow
from apis.exams.fixed_delivery import irt_result
from apis.exams.model import PoolEntry
from psychometrics import ItemParameters, eap_scores


def _entry(n: int, skill: str, scoring: str = "keyed") -> PoolEntry:
    options = ("a", "b", "c") if scoring == "graded" else ("a", "b", "c", "d")
    return PoolEntry(f"i{n}", 1, "?", options, 1 if scoring == "keyed" else None, scoring,
                     (skill,), (), "operational")  # fmt: skip


def test_overall_and_per_skill_estimates_are_eap_on_the_right_items() -> None:
    entries = [_entry(0, "algebra"), _entry(1, "algebra"), _entry(2, "geometry")]
    params = [ParamRow(f"p{n}", "2pl", a, (d,), 0.0) for n, (a, d) in
              enumerate([(1.2, 0.3), (0.8, -0.5), (1.5, 1.0)])]  # fmt: skip
    choices = [1, 0, 1]  # right, wrong, right (key 1)
    result = irt_result(entries, params, choices, {"mean": 500.0, "sd": 100.0})
    assert result is not None
    a = np.array([1.2, 0.8, 1.5])
    d = np.array([0.3, -0.5, 1.0])
    every = eap_scores(np.array([1.0, 0.0, 1.0]), ItemParameters("2pl", a, d, np.zeros(3)))
    algebra = eap_scores(np.array([1.0, 0.0]), ItemParameters("2pl", a[:2], d[:2], np.zeros(2)))
    assert result.score.theta == pytest.approx(float(every.theta[0]), abs=1e-12)
    assert result.score.scale_score == round(500 + 100 * result.score.theta, 1)
    profile = {s["skill"]: s for s in result.score.skills}
    assert profile["algebra"]["theta"] == round(float(algebra.theta[0]), 4)
    assert (profile["algebra"]["items"], profile["algebra"]["correct"]) == (2, 1)
    assert (profile["geometry"]["items"], profile["geometry"]["correct"]) == (1, 1)
    assert (result.n_scored, result.n_correct) == (3, 2)


def test_graded_items_score_by_category_and_nothing_to_score_is_none() -> None:
    graded = _entry(0, "self", "graded")
    result = irt_result([graded], [ParamRow("p", "grm", 1.1, (0.6, -0.8), 0.0)], [2], {
        "mean": 0.0, "sd": 1.0})  # fmt: skip
    assert result is not None and result.n_correct == 1  # the top category is full credit
    assert result.score.theta > 0
    assert irt_result([], [], [], {"mean": 500.0, "sd": 100.0}) is None
