"""The dbt marts on a small, hand-computed school, built as Dagster dbt assets in process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from core.ids import new_id
from core.settings import Settings
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
# student -> answers to (i1, i2, i3); None = not answered; the last attempt stays in progress
ANSWERS = {
    "s1": (True, True, True),
    "s2": (True, False, False),
    "s3": (False, True, True),
    "s4": (True, None, None),
}


def seed_school(settings: Settings) -> dict[str, str]:
    ids = {k: str(new_id()) for k in ("teacher", "class", "exam", "i1", "i2", "i3", *ANSWERS)}
    with psycopg.connect(settings.database_url) as conn:
        for user in ("teacher", *ANSWERS):
            role = "teacher" if user == "teacher" else "student"
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, 'x')",
                (ids[user], f"{ids[user]}@example.org", user, role),
            )
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'Marts 1', %s, %s)",
            (ids["class"], ids["teacher"], ids["class"][-8:]),
        )
        for item, skill, status in (
            ("i1", "algebra", "operational"),
            ("i2", "algebra", "operational"),
            ("i3", "geometry", "pilot"),
        ):
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key, skills,"
                " status) values (%s, %s, 'q', '[\"A\", \"B\"]', 0, %s, %s)",
                (ids[item], ids["teacher"], [skill], status),
            )
        conn.execute(
            "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
            " model, a, b, c, d, is_live, promoted_at)"
            " values (%s, %s, 1, 'manual', '2pl', 1.25, '{0.4}', 0, '{-0.5}', true, now())",
            (str(new_id()), ids["i1"]),
        )
        items = [ids["i1"], ids["i2"], ids["i3"]]
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Marts exam', %s::uuid[])",
            (ids["exam"], ids["teacher"], ids["class"], items),
        )
        for student, answers in ANSWERS.items():
            conn.execute(
                "insert into classes.memberships (class_id, student_id) values (%s, %s)",
                (ids["class"], ids[student]),
            )
            attempt = str(new_id())
            ids[f"attempt_{student}"] = attempt
            done = None not in answers
            raw = sum(bool(x) for x in answers)
            conn.execute(
                "insert into exams.attempts (attempt_id, exam_id, student_id, status, started_at,"
                " completed_at, raw_score, max_score) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    attempt,
                    ids["exam"],
                    ids[student],
                    "completed" if done else "in_progress",
                    START,
                    START + timedelta(minutes=30) if done else None,
                    raw if done else None,
                    3 if done else None,
                ),
            )
            for k, (item, correct) in enumerate(zip(items, answers, strict=True)):
                if correct is None:
                    continue
                conn.execute(
                    "insert into exams.responses (attempt_id, item_id, choice, is_correct,"
                    " answered_at, position, score) values (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        attempt,
                        item,
                        0 if correct else 1,
                        correct,
                        START + timedelta(minutes=2 * (k + 1)),
                        k,
                        int(correct),
                    ),
                )
    return ids


def test_marts_match_hand_computed_values(settings: Settings) -> None:
    ids = seed_school(settings)
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
    marts = {
        "fct_exam_attempts",
        "agg_attempts_per_day",
        "agg_item_statistics",
        "agg_exam_summaries",
        "agg_class_performance",
        "fct_student_skill_mastery",
        "agg_engagement_daily",
        "agg_engagement_weekly",
    }
    assert marts <= materialized
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert len(checks) > 100
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}

    with psycopg.connect(settings.database_url) as conn:

        def one(sql: str, *params: object) -> tuple[object, ...]:
            row = conn.execute(sql, params).fetchone()
            assert row is not None, sql
            return tuple(float(x) if hasattr(x, "as_integer_ratio") else x for x in row)

        # item statistics: facility over all responses, item-rest point-biserial over completed
        # attempts (i1: items (1,1,0), rest (2,0,2) -> r = -0.5), exposure over 4 attempts
        assert one(
            "select response_count, facility, point_biserial, exposure_rate, a, b, is_pilot,"
            " class_id::text from analytics.agg_item_statistics where item_id = %s",
            ids["i1"],
        ) == (4, 0.75, -0.5, 1.0, 1.25, 0.4, False, ids["class"])
        assert one(
            "select response_count, facility, exposure_rate, a, is_pilot"
            " from analytics.agg_item_statistics where item_id = %s",
            ids["i3"],
        ) == (3, 0.6667, 0.75, None, True)
        assert one(
            "select attempts_started, attempts_completed, completion_rate, mean_score_pct,"
            " median_score_pct, mean_duration_seconds, class_id::text"
            " from analytics.agg_exam_summaries where exam_id = %s",
            ids["exam"],
        ) == (4, 3, 0.75, 0.6667, 0.6667, 1800.0, ids["class"])
        assert one(
            "select enrolled_students, active_students, participation_rate, exam_count,"
            " attempts_completed from analytics.agg_class_performance where class_id = %s",
            ids["class"],
        ) == (4, 3, 0.75, 1, 3)
        assert one(
            "select response_count, correct_count, pct_correct, mastery_estimate, is_mastered,"
            " class_id::text from analytics.fct_student_skill_mastery"
            " where student_id = %s and skill = 'algebra'",
            ids["s1"],
        ) == (2, 2, 1.0, 0.75, False, ids["class"])
        # 10 responses, each 2 minutes after the previous one (or the start)
        assert one(
            "select active_students, response_count, attempts_started, attempts_completed,"
            " minutes_on_task from analytics.agg_engagement_daily"
            " where class_id = %s and activity_on = %s",
            ids["class"],
            START.date(),
        ) == (4, 10, 4, 3, 20.0)
        assert one(
            "select active_students, mean_active_days, response_count"
            " from analytics.agg_engagement_weekly where class_id = %s and week_start = %s",
            ids["class"],
            START.date(),
        ) == (4, 1.0, 10)
        assert one(
            "select response_count, duration_seconds, score_pct from analytics.fct_exam_attempts"
            " where attempt_id = %s",
            ids["attempt_s3"],
        ) == (3, 1800.0, 0.6667)
