"""The dbt marts on a small, hand-computed school, built in process through the lake as Dagster
runs them: outbox -> bronze -> silver -> lake_silver copies -> dbt marts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.events import ResponseRecordedV1
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from lake.pseudonym import pseudonymize
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from orchestration.analytics.sensors import marts_after_lake_sensor
from orchestration.lake.assets import lake_silver_copies, outbox_events, silver_tables
from orchestration.lake.resources import LakeResource
from tests.support.database import scratch_settings
from tests.support.lake import record_coursework_events, record_events, record_parameter_events

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the whole dbt project is built and every dbt test run over all its
    rows, and the session's database holds other tests' synthetic lake events (items created
    without a status, say, which fail not_null on stg_content__items in the full suite)."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


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
        # i2: version 2 was promoted on day 1, then version 1 again on day 2 (a rollback): the
        # live version is the latest promoted one, not the highest promoted version
        for version, a, b, live, promoted in (
            (1, 0.9, -0.2, True, START + timedelta(days=2)),
            (2, 1.6, 0.1, False, START + timedelta(days=1)),
        ):
            conn.execute(
                "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
                " model, a, b, c, d, is_live, created_at, promoted_at)"
                " values (%s, %s, %s, %s, '2pl', %s, %s, 0, %s, %s, %s, %s)",
                (
                    str(new_id()),
                    ids["i2"],
                    version,
                    f"cal-{version}",
                    a,
                    [b],
                    [-a * b],
                    live,
                    START - timedelta(days=3 - version),
                    promoted,
                ),
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
                answered = START + timedelta(minutes=2 * (k + 1))
                conn.execute(
                    "insert into exams.responses (attempt_id, item_id, choice, is_correct,"
                    " answered_at, position, score) values (%s, %s, %s, %s, %s, %s, %s)",
                    (attempt, item, 0 if correct else 1, correct, answered, k, int(correct)),
                )
                # ... and its event in the same transaction, as the exam service writes it:
                # the marts read responses from the lake
                append_sync(
                    conn,
                    ResponseRecordedV1(
                        attempt_id=attempt,
                        exam_id=ids["exam"],
                        student_id=ids[student],
                        item_id=item,
                        choice=0 if correct else 1,
                        is_correct=correct,
                        answered_at=answered,
                        position=k,
                        item_version=1,
                        score=int(correct),
                        pilot=False,
                    ),
                    answered,
                )
        # person fit as the exam service writes it, with an IRT result (θ, SE): s1 misfits, s2
        # fits, s3 not assessed
        for student, lz, misfit in (("s1", -2.1, True), ("s2", 0.4, False)):
            conn.execute(
                "update exams.attempts set person_fit_lz = %s, is_person_misfit = %s,"
                " person_fit_reason = %s, theta = 0.5, se = 0.6 where attempt_id = %s",
                (
                    lz,
                    misfit,
                    f"{'misfit' if misfit else 'fits'}: lz* = {lz}",
                    ids[f"attempt_{student}"],
                ),
            )
    seed_coursework(settings, ids)
    return ids


def _duration(seconds: float | None) -> dict[str, object]:
    return {} if seconds is None else {"result": {"duration": f"PT{seconds}S"}}


def seed_coursework(settings: Settings, ids: dict[str, str]) -> None:
    """A published lesson read by s1 (completed) and s2, a task all four students were given (s1
    on time, graded and returned; s2 late under the flag policy, graded; s3 started), and a lesson
    assignment for s1 and s2 only (s1 done; s3's stray work row is not counted)."""
    for key in ("course", "unit", "lesson", "task", "reading"):
        ids[key] = str(new_id())
    due = START + timedelta(days=1)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into learning.courses (course_id, owner_id, title) values (%s, %s, 'Marts')",
            (ids["course"], ids["teacher"]),
        )
        conn.execute(
            "insert into learning.units (unit_id, course_id, title, position)"
            " values (%s, %s, 'Unit', 0)",
            (ids["unit"], ids["course"]),
        )
        conn.execute(
            "insert into learning.lessons (lesson_id, unit_id, course_id, owner_id, position,"
            " title, body, published_version) values (%s, %s, %s, %s, 0, 'Lesson', 'b', 1)",
            (ids["lesson"], ids["unit"], ids["course"], ids["teacher"]),
        )
        for student, verb, seconds in (
            ("s1", "experienced", 60),
            ("s1", "completed", 30.5),
            ("s2", "experienced", 20),
            ("s2", "experienced", None),
        ):
            actor = f"account::http://dreamseed.invalid/accounts|{ids[student]}"
            conn.execute(
                "insert into lrs.statements (statement_id, statement, actor_ifi, agents, user_id,"
                " verb, verb_id, object_type, object_id, class_id, stored_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, 'lesson', %s, %s, %s)",
                (
                    str(new_id()),
                    Jsonb(_duration(seconds)),
                    actor,
                    [actor],
                    ids[student],
                    verb,
                    f"http://adlnet.gov/expapi/verbs/{verb}",
                    ids["lesson"],
                    ids["class"],
                    START,
                ),
            )
        for key, kind, lesson, students in (
            ("task", "task", None, None),
            ("reading", "lesson", ids["lesson"], [ids["s1"], ids["s2"]]),
        ):
            conn.execute(
                "insert into assignments.assignments (assignment_id, owner_id, class_id, kind,"
                " lesson_id, title, accepts_text, open_at, due_at, late_policy, points,"
                " student_ids) values (%s, %s, %s, %s, %s, 'Work', true, %s, %s, 'flag', 10,"
                " %s::uuid[])",
                (ids[key], ids["teacher"], ids["class"], kind, lesson, START, due, students),
            )
        returned = due - timedelta(hours=1)
        for key, student, state, late, points, returned_at in (
            ("task", "s1", "returned", False, 8, returned),
            ("task", "s2", "graded", True, 6, None),
            ("task", "s3", "in_progress", False, None, None),
            ("reading", "s1", "submitted", False, None, None),
            ("reading", "s3", "submitted", False, None, None),
        ):
            handed_in = state != "in_progress"
            graded = points is not None
            conn.execute(
                "insert into assignments.work (assignment_id, student_id, state, version,"
                " submitted_at, is_late, flagged, points_awarded, graded_by, graded_at,"
                " returned_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    ids[key],
                    ids[student],
                    state,
                    int(handed_in),
                    (due + timedelta(hours=2) if late else START) if handed_in else None,
                    late,
                    late,
                    points,
                    ids["teacher"] if graded else None,
                    returned if graded else None,
                    returned_at,
                ),
            )


def wait_until_final(settings: Settings) -> None:
    """Until every outbox row written so far is below the horizon (ingest can take it)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "select count(*) from events.outbox"
                " where txid >= pg_snapshot_xmin(pg_current_snapshot())"
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            assert time.monotonic() < deadline, "outbox rows never became final"
            time.sleep(0.05)


def test_marts_match_hand_computed_values(settings: Settings) -> None:
    ids = seed_school(settings)
    with psycopg.connect(settings.database_url) as conn:  # the lake's attempts, members, work
        record_events(conn, [ids["class"]])
        # ... and its assignments (with the listed students), lesson and learning records
        record_coursework_events(conn, [ids["class"]])
        record_parameter_events(conn, [ids["i1"], ids["i2"], ids["i3"]])
    wait_until_final(settings)
    project = dbt_project()
    lake = LakeResource(settings)
    resources = {"lake": lake, "dbt": build_dbt_resource(settings, project)}
    instance = dg.DagsterInstance.ephemeral()
    ingest = dg.materialize([outbox_events, silver_tables], resources=resources, instance=instance)
    assert ingest.success
    # silver has a snapshot its PostgreSQL copy has not reached: the sensor asks for copies + dbt
    assert "responses" in lake.copy_lag()
    with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as context:
        requested = marts_after_lake_sensor(context)
    assert isinstance(requested, dg.SensorResult) and len(requested.run_requests or []) == 1
    result = dg.materialize(
        [lake_silver_copies, build_dbt_assets(project)], resources=resources, instance=instance
    )
    assert result.success
    assert lake.copy_lag() == {}
    with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as context:
        assert isinstance(marts_after_lake_sensor(context), dg.SkipReason)
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
        "agg_assignment_completion",
        "agg_content_engagement",
    }
    assert marts <= materialized
    assert "lake_silver/responses" in materialized
    with psycopg.connect(settings.database_url) as conn:
        copied = conn.execute(
            "select count(*) from lake_silver.responses where exam_id = %s", (ids["exam"],)
        ).fetchone()
    assert copied == (10,)
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
            "select a, b from analytics.agg_item_statistics where item_id = %s", ids["i2"]
        ) == pytest.approx((0.9, -0.2), abs=1e-12)
        history = conn.execute(
            "select param_version, is_live, promoted_at from analytics.agg_item_calibration_history"
            " where item_id = %s order by param_version",
            (ids["i2"],),
        ).fetchall()
        assert history == [
            (1, True, START + timedelta(days=2)),
            (2, False, START + timedelta(days=1)),
        ]
        assert one(
            "select attempts_started, attempts_completed, completion_rate, mean_score_pct,"
            " median_score_pct, mean_duration_seconds, class_id::text"
            " from analytics.agg_exam_summaries where exam_id = %s",
            ids["exam"],
        ) == (4, 3, 0.75, 0.6667, 0.6667, 1800.0, ids["class"])
        assert one(
            "select enrolled_students, active_students, participation_rate, exam_count,"
            " attempts_completed, person_fit_assessed_count, person_misfit_count,"
            " person_misfit_rate from analytics.agg_class_performance where class_id = %s",
            ids["class"],
        ) == (4, 3, 0.75, 1, 3, 2, 1, 0.5)
        assert one(
            "select person_fit_lz, is_person_misfit, person_fit_reason"
            " from analytics.fct_exam_attempts where attempt_id = %s",
            ids["attempt_s1"],
        ) == (-2.1, True, "misfit: lz* = -2.1")
        assert one(
            "select response_count, correct_count, pct_correct, mastery_estimate, is_mastered,"
            " class_id::text from analytics.fct_student_skill_mastery"
            " where student_key = %s and skill = 'algebra'",
            pseudonymize(settings.pseudonym_key, ids["s1"]),
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
        # coursework: the task reached 4 students, 2 handed in (1 late and flagged), 2 graded
        # (8 and 6 points), 1 returned; the lesson assignment targets s1 and s2 only
        assert one(
            "select students_targeted, handed_in, handed_in_on_time, handed_in_late, flagged,"
            " graded, returned, completion_rate, late_rate, mean_points"
            " from analytics.agg_assignment_completion where assignment_id = %s",
            ids["task"],
        ) == (4, 2, 1, 1, 1, 2, 1, 0.5, 0.5, 7.0)
        assert one(
            "select students_targeted, handed_in, completion_rate, late_rate, mean_points"
            " from analytics.agg_assignment_completion where assignment_id = %s",
            ids["reading"],
        ) == (2, 1, 0.5, 0.0, None)
        # 3 views (experienced), 2 learners, 60 + 30.5 + 20 s reported, s1 completed
        assert one(
            "select views, learners, seconds_reported, completers, completion_rate,"
            " class_id::text from analytics.agg_content_engagement where lesson_id = %s",
            ids["lesson"],
        ) == (3, 2, 110.5, 1, 0.5, ids["class"])
