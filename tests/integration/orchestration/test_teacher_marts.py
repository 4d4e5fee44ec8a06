"""The class-report, item-bank-health and student-report marts on a small, hand-computed class,
built as Dagster dbt assets in process (real PostgreSQL, real dbt)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.ids import new_id
from core.settings import Settings
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOL = 1e-4

# E1 (fixed form, items i1 i2 i3; i3 is a pilot): student -> (theta, se, choices); choice 0 is
# the key of every item. Ranked by theta: b lower, a middle, c upper.
E1 = {"a": (0.5, 0.3, (0, 0, 0)), "b": (-1.0, 0.4, (1, 0, 1)), "c": (0.8, 0.35, (2, 1, 0))}


def seed_class(settings: Settings) -> dict[str, str]:
    keys = ("teacher", "class", "e1", "e2", "i1", "i2", "i3", "a", "b", "c", "d", "lesson")
    ids = {k: str(new_id()) for k in keys}
    now = datetime.now(UTC)
    with psycopg.connect(settings.database_url) as conn:

        def run(query: str, *params: Any) -> None:
            conn.execute(query, params)

        for user in ("teacher", "a", "b", "c", "d"):
            run(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, 'x')",
                ids[user],
                f"{ids[user]}@example.org",
                user,
                "teacher" if user == "teacher" else "student",
            )
        run(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Report class', %s, %s)",
            ids["class"],
            ids["teacher"],
            ids["class"][-8:],
        )
        for student in ("a", "b", "c"):
            run(
                "insert into classes.memberships (class_id, student_id, joined_at)"
                " values (%s, %s, %s)",
                ids["class"],
                ids[student],
                START - timedelta(days=7),
            )
        run(  # d joined 30 days ago and never did anything
            "insert into classes.memberships (class_id, student_id, joined_at)"
            " values (%s, %s, now() - interval '30 days')",
            ids["class"],
            ids["d"],
        )
        for item, skill, status in (
            ("i1", "algebra", "operational"),
            ("i2", "algebra", "operational"),
            ("i3", "geometry", "pilot"),
        ):
            run(
                "insert into content.items (item_id, owner_id, stem, options, answer_key, skills,"
                ' status) values (%s, %s, \'q\', \'["A", "B", "C"]\', 0, %s, %s)',
                ids[item],
                ids["teacher"],
                [skill],
                status,
            )
        # i1: a manual version 1, then a calibrated live version 2 that misfits (p = 0.004)
        for item, version, cal, a, b, prov, live in (
            ("i1", 1, "manual", 1.0, 0.0, {}, False),
            (
                "i1",
                2,
                "cal-2",
                1.25,
                0.4,
                {
                    "role": "operational",
                    "n_responses": 240,
                    "se": {"a": 0.1, "b": 0.05},
                    "fit": {"statistic": "S-X2", "value": 12.5, "df": 4, "p": 0.004},
                },
                True,
            ),
            (
                "i2",
                1,
                "cal-2",
                0.8,
                -0.5,
                {"se": {"a": 0.2, "b": 0.15}, "fit": {"value": 3.1, "df": 4, "p": 0.3}},
                True,
            ),
        ):
            run(
                "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
                " model, a, b, c, d, provenance, is_live, promoted_at)"
                " values (%s, %s, %s, %s, '2pl', %s, %s, 0, %s, %s, %s, %s)",
                str(new_id()),
                ids[item],
                version,
                cal,
                a,
                [b],
                [-a * b],
                Jsonb(prov),
                live,
                START if live else None,
            )
        items = [ids["i1"], ids["i2"], ids["i3"]]
        run(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Unit 1', %s::uuid[])",
            ids["e1"],
            ids["teacher"],
            ids["class"],
            items,
        )
        run(
            "insert into exams.exams (exam_id, owner_id, class_id, title, kind, item_ids, config)"
            " values (%s, %s, %s, 'Adaptive', 'adaptive', %s::uuid[], %s)",
            ids["e2"],
            ids["teacher"],
            ids["class"],
            items[:2],
            Jsonb({"exposure": {"method": "sympson-hetter", "max_rate": 0.5}}),
        )

        def attempt(
            exam: str,
            student: str,
            at: datetime,
            theta: float,
            se: float,
            answers: list[tuple[str, int]],
        ) -> str:
            attempt_id = str(new_id())
            raw = sum(1 for item, choice in answers if choice == 0 and item != "i3")
            run(
                "insert into exams.attempts (attempt_id, exam_id, student_id, status, started_at,"
                " completed_at, raw_score, max_score, theta, se)"
                " values (%s, %s, %s, 'completed', %s, %s, %s, %s, %s, %s)",
                attempt_id,
                ids[exam],
                ids[student],
                at,
                at + timedelta(minutes=20),
                raw,
                sum(1 for item, _ in answers if item != "i3"),
                theta,
                se,
            )
            for position, (item, choice) in enumerate(answers):
                run(
                    "insert into exams.responses (attempt_id, item_id, choice, is_correct,"
                    " answered_at, position, score, pilot) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                    attempt_id,
                    ids[item],
                    choice,
                    choice == 0,
                    at + timedelta(minutes=position + 1),
                    position,
                    int(choice == 0),
                    item == "i3",
                )
            return attempt_id

        for student, (theta, se, choices) in E1.items():
            ids[f"e1_{student}"] = attempt(
                "e1", student, START, theta, se, list(zip(("i1", "i2", "i3"), choices, strict=True))
            )
        # a falls over three estimated attempts (0.5, 0.2, -0.1); b answers again yesterday, low
        attempt("e2", "a", START + timedelta(days=1), 0.2, 0.3, [("i1", 0)])
        attempt("e2", "a", START + timedelta(days=2), -0.1, 0.25, [("i2", 1)])
        attempt("e2", "b", now - timedelta(days=1), -1.4, 0.4, [("i1", 1)])

        # a published lesson naming algebra; the tutor cited it while discussing a geometry item
        course, unit = str(new_id()), str(new_id())
        run(
            "insert into learning.courses (course_id, owner_id, title) values (%s, %s, 'C')",
            course,
            ids["teacher"],
        )
        run(
            "insert into learning.units (unit_id, course_id, title, position)"
            " values (%s, %s, 'U', 0)",
            unit,
            course,
        )
        run(
            "insert into learning.lessons (lesson_id, unit_id, course_id, owner_id, position,"
            " title, body, published_version) values (%s, %s, %s, %s, 0, 'Equations',"
            " 'Algebra: solve for x.', 1)",
            ids["lesson"],
            unit,
            course,
            ids["teacher"],
        )
        run(
            "insert into lake_silver.tutor_turns (event_id, occurred_at, conversation_id,"
            " turn_id, student_key, class_id, kind, lesson_ids, skills, completed_at)"
            " values (%s, %s, %s, %s, 'k', %s, 'model', %s, %s, %s)",
            str(new_id()),
            START,
            str(new_id()),
            str(new_id()),
            ids["class"],
            [ids["lesson"]],
            ["geometry"],
            START,
        )
    return ids


def _num(x: object) -> object:
    return float(x) if hasattr(x, "as_integer_ratio") and not isinstance(x, bool) else x


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
            " from analytics.fct_student_ability where student_id = %s order by attempt_ordinal",
            ids["a"],
        )
        want = [(1, 0.5, -0.088, 1.088), (2, 0.2, -0.388, 0.788), (3, -0.1, -0.59, 0.39)]
        assert all(_close(g, w) for g, w in zip(got, want, strict=True)), got

        as_of = one("select distinct as_of from analytics.agg_student_risk")[0]
        assert isinstance(as_of, date)
        risk = {
            student: one(
                "select estimated_attempts, latest_theta, trend_attempts, theta_slope, is_low,"
                " is_falling, is_inactive, is_at_risk, days_inactive, risk_reasons"
                " from analytics.agg_student_risk where class_id = %s and student_id = %s",
                ids["class"],
                ids[student],
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
