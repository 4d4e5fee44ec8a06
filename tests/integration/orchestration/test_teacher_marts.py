"""The class-report, item-bank-health and student-report marts on a small, hand-computed class,
built as Dagster dbt assets in process (real PostgreSQL, real dbt)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import psycopg
import pytest

from core.settings import Settings
from lake.pseudonym import Pseudonymizer
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from tests.support.database import scratch_settings
from tests.support.teacher_class import START, seed_class

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the marts are compared with hand-computed values over all their rows."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


TOL = 1e-4


def _num(x: object) -> object:
    return float(x) if isinstance(x, Decimal | float) else x


def _close(got: tuple[object, ...], want: tuple[object, ...]) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if isinstance(w, float) and not isinstance(w, bool):
            if not isinstance(g, float) or abs(g - w) > TOL:
                return False
        elif g != w:
            return False
    return True


def test_teacher_marts_match_hand_computed_values(settings: Settings) -> None:
    ids = seed_class(settings)
    key = Pseudonymizer(settings.pseudonym_key)  # the marts know students by key only
    project = dbt_project()
    result = dg.materialize(
        [build_dbt_assets(project)],
        resources={"dbt": build_dbt_resource(settings, project)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    materialized = {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key
    }
    assert {
        "fct_student_ability",
        "agg_student_risk",
        "agg_item_distractors",
        "agg_item_calibration_history",
        "agg_item_bank_health",
        "agg_lesson_skills",
    } <= materialized
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}

    with psycopg.connect(settings.database_url) as conn:

        def rows(query: str, *params: object) -> list[tuple[object, ...]]:
            return [tuple(_num(x) for x in r) for r in conn.execute(query, params).fetchall()]

        def one(query: str, *params: object) -> tuple[object, ...]:
            found = rows(query, *params)
            assert len(found) == 1, (query, found)
            return found[0]

        # θ over time with 95 % intervals, numbered per student and class
        got = rows(
            "select attempt_ordinal, theta, theta_lower_95, theta_upper_95"
            " from analytics.fct_student_ability where student_key = %s order by attempt_ordinal",
            key(ids["a"]),
        )
        want = [(1, 0.5, -0.088, 1.088), (2, 0.2, -0.388, 0.788), (3, -0.1, -0.59, 0.39)]
        assert all(_close(g, w) for g, w in zip(got, want, strict=True)), got

        as_of = one("select distinct as_of from analytics.agg_student_risk")[0]
        assert isinstance(as_of, date)
        risk = {
            student: one(
                "select estimated_attempts, latest_theta, trend_attempts, theta_slope, is_low,"
                " is_falling, is_inactive, is_at_risk, days_inactive, risk_reasons"
                " from analytics.agg_student_risk where class_id = %s and student_key = %s",
                ids["class"],
                key(ids[student]),
            )
            for student in ("a", "b", "c", "d")
        }
        a_idle = (as_of - (START + timedelta(days=2)).date()).days
        assert _close(risk["a"][:9], (3, -0.1, 3, -0.3, False, True, True, True, a_idle))
        assert risk["a"][9] == (
            "falling: θ changed by -0.30 per attempt over the last 3 attempts; "
            f"inactive: no activity for {a_idle} days (last on 2026-03-04)"
        )
        # b: low (−1.4 ± 1.96·0.4), active yesterday, two attempts are no full trend window
        assert _close(risk["b"][:8], (2, -1.4, 2, -0.4, True, False, False, True))
        assert risk["b"][9] == "low: latest θ -1.40 (95 % interval -2.18 to -0.62) is below -1.0"
        assert _close(risk["c"][:8], (1, 0.8, 1, None, False, False, True, True))
        assert risk["d"][:8] == (0, None, 0, None, False, False, True, True)
        assert risk["d"][9] == "inactive: no activity in the 30 days since joining"

        # distractors of i1 in Unit 1: b (lower) chose 1, a (middle) the key 0, c (upper) 2
        assert rows(
            "select score_group, choice, is_key, chosen_count, share"
            " from analytics.agg_item_distractors where exam_id = %s and item_id = %s"
            " order by score_group",
            ids["e1"],
            ids["i1"],
        ) == [("lower", 1, False, 1, 1.0), ("middle", 0, True, 1, 1.0), ("upper", 2, False, 1, 1.0)]

        # calibration history: i1 drifted from v1 to v2 and misfits (S-X2 p = 0.004 < 0.01)
        assert _close(
            one(
                "select a, b, se_a, se_b, sx2, sx2_p, is_sx2_misfit, drift_a, drift_b,"
                " calibration_response_count, calibration_role, is_live"
                " from analytics.agg_item_calibration_history where item_id = %s"
                " and param_version = 2",
                ids["i1"],
            ),
            (1.25, 0.4, 0.1, 0.05, 12.5, 0.004, True, 0.25, 0.4, 240, "operational", True),
        )
        assert one(
            "select drift_a, drift_b, is_sx2_misfit from analytics.agg_item_calibration_history"
            " where item_id = %s",
            ids["i2"],
        ) == (None, None, False)

        # bank health: i1 has 3 + 2 responses (2 correct), point-biserial 0.5 in Unit 1 (the
        # adaptive exam's is undefined), shown in 2 of the adaptive exam's 3 attempts > 0.5
        assert _close(
            one(
                "select exam_count, response_count, facility, point_biserial, max_exposure_rate,"
                " exposure_target, is_over_exposed, calibration_versions, live_version, a, se_b,"
                " is_sx2_misfit, drift_b, calibration_progress"
                " from analytics.agg_item_bank_health where item_id = %s",
                ids["i1"],
            ),
            (2, 5, 0.4, 0.5, 0.6667, 0.5, True, 2, 2, 1.25, 0.05, True, 0.4, None),
        )
        assert _close(
            one(
                "select is_over_exposed, max_exposure_rate, is_sx2_misfit"
                " from analytics.agg_item_bank_health where item_id = %s",
                ids["i2"],
            ),
            (False, 0.3333, False),
        )
        # the pilot: 3 of the 200 responses calibration needs
        assert _close(
            one(
                "select is_pilot, response_count, live_version, calibration_progress"
                " from analytics.agg_item_bank_health where item_id = %s",
                ids["i3"],
            ),
            (True, 3, None, 0.015),
        )

        # lessons for skills: the text names algebra; the tutor cited it about geometry
        assert rows(
            "select skill, mentions_skill, tutor_citations from analytics.agg_lesson_skills"
            " where lesson_id = %s order by skill",
            ids["lesson"],
        ) == [("algebra", True, 0), ("geometry", False, 1)]
