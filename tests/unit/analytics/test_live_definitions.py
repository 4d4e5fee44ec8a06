"""The live figures mean what the dbt marts mean: the mastery thresholds are the dbt project's
vars, and mastery is the mart's Laplace-smoothed proportion."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from apis.analytics.services import (
    MASTERY_MIN_RESPONSES,
    MASTERY_THRESHOLD,
    is_mastered,
    mastery,
)

DBT = Path(__file__).resolve().parents[3] / "transforms" / "dbt"


def test_thresholds_are_the_dbt_vars() -> None:
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert project["vars"]["mastery_min_responses"] == MASTERY_MIN_RESPONSES
    assert math.isclose(project["vars"]["mastery_threshold"], MASTERY_THRESHOLD)
    mart = (DBT / "models" / "marts" / "fct_student_skill_mastery.sql").read_text()
    assert "(correct_count + 1)::numeric / (response_count + 2)" in mart


def test_mastery_is_smoothed_and_needs_evidence() -> None:
    assert math.isclose(mastery(0, 0), 0.5)
    assert math.isclose(mastery(9, 10), 10 / 12)
    assert not is_mastered(4, 4)  # 5/6 but only 4 responses
    assert is_mastered(5, 5)  # 6/7 >= 0.8 with 5 responses
    assert not is_mastered(7, 9)  # 8/11 < 0.8
