"""`live_analytics_match_marts`: on history written straight to the tables (which the analytics
consumer's new group rebuilds the live figures from) and an exam students then take through the
API (the live path), the dbt marts built in Dagster agree with the live figures and the check
passes; corrupting one side — a live skill count, or a mart's class figure — fails it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import httpx
import psycopg
import pytest

from apis.app import create_app
from core.events import ResponseRecordedV1
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from lake.warehouse import copy_tables
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.checks import LiveAnalyticsResource, live_analytics_match_marts
from orchestration.analytics.live import compare
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from orchestration.lake.resources import LakeResource
from tests.integration.analytics.test_live_analytics import running_analytics, until
from tests.integration.exams.school import adaptive_exam, school
from tests.integration.exams.test_adaptive import take
from tests.integration.notifications.test_notifications_e2e import realtime_settings
from tests.integration.orchestration.test_marts import seed_school
from tests.support.database import scratch_settings
from tests.support.lake import RECORDED_COPIES, fill_lake_silver, ship
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the check compares every class the live side knows with the marts, and other tests write live rows (synthetic events) that no mart holds."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


def _evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [found] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "live_analytics_match_marts"
    ]
    return found


async def test_the_check_passes_on_agreeing_data_and_fails_on_corruption(
    settings: Settings,
) -> None:
    s = realtime_settings(settings)
    # History written straight to the tables (skills, a pilot item, an attempt in progress, work
    # returned): the consumer's new group rebuilds it from them; then an exam taken live.
    history = seed_school(s)
    with serve_in_thread(create_app(s)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as api, running_analytics(s):
            sch = await school(api, n_students=3, n_items=30)
            exam = await adaptive_exam(api, sch)
            for n in range(3):
                await take(api, sch, n, exam["exam_id"], theta=0.8 * n - 0.8, seed=n)

            def caught_up() -> int:
                with psycopg.connect(s.database_url) as conn:
                    row = conn.execute(
                        "select count(*) from live.theta_history where exam_id = %s",
                        (exam["exam_id"],),
                    ).fetchone()
                return int(row[0]) if row else 0

            async def probe() -> int:
                return caught_up()

            await until(probe, lambda n: n == 3)

    # the marts read responses from the lake: outbox -> bronze -> silver -> lake_silver.responses
    # ... and attempts, memberships and work too: the API's through the lake, the history's
    # (written straight to the OLTP tables, without events) straight into the lake's copies
    ship(s, copies=RECORDED_COPIES)  # dimensions (classes, exams, items) included
    with psycopg.connect(s.database_url) as conn:
        fill_lake_silver(conn, s, [history["class"]])
    project = dbt_project()
    resources = {
        "dbt": build_dbt_resource(s, project),
        "live_analytics": LiveAnalyticsResource(s),
    }
    defs = [build_dbt_assets(project), live_analytics_match_marts]
    built = dg.materialize(defs, resources=resources, instance=dg.DagsterInstance.ephemeral())
    assert built.success
    agreed = _evaluation(built)
    assert agreed.passed, agreed.metadata
    assert agreed.metadata["classes_compared"].value >= 2
    assert agreed.metadata["skill_rows_compared"].value >= 3

    with psycopg.connect(s.database_url, autocommit=True) as conn:
        # One correct answer too many on the live side.
        conn.execute(
            "update live.skill_mastery set correct_count = correct_count + 1"
            " where class_id = %s and student_id = %s and skill = 'algebra'",
            (sch.class_id, sch.students[0].user_id),
        )
        try:
            checked = dg.materialize(
                defs,
                resources=resources,
                instance=dg.DagsterInstance.ephemeral(),
                selection=dg.AssetSelection.checks(live_analytics_match_marts),
            )
            failed = _evaluation(checked)
            assert not failed.passed
            [wrong] = failed.metadata["first_disagreements"].value
            assert wrong["why"] == "skill figures differ"
            assert wrong["student_id"] == sch.students[0].user_id
            assert wrong["live_correct"] == wrong["mart_correct"] + 1
        finally:
            conn.execute(
                "update live.skill_mastery set correct_count = correct_count - 1"
                " where class_id = %s and student_id = %s and skill = 'algebra'",
                (sch.class_id, sch.students[0].user_id),
            )
        assert compare(s.database_url, s.pseudonym_key).passed
        with psycopg.connect(s.database_url) as read:
            rebuilt = read.execute(
                "select attempts_completed, works_returned from live.class_summaries"
                " where class_id = %s",
                (history["class"],),
            ).fetchone()
        assert rebuilt == (3, 1)  # s1-s3 completed, s4 in progress; s1's task returned

        # A mart that lost a completed attempt.
        conn.execute(
            "update analytics.agg_class_performance set attempts_completed ="
            " attempts_completed - 1 where class_id = %s",
            (sch.class_id,),
        )
        try:
            outcome = compare(s.database_url, s.pseudonym_key)
            assert not outcome.passed
            assert [d["class_id"] for d in outcome.disagreements] == [sch.class_id]
            assert outcome.disagreements[0]["live_attempts"] == 3
        finally:
            conn.execute(
                "update analytics.agg_class_performance set attempts_completed ="
                " attempts_completed + 1 where class_id = %s",
                (sch.class_id,),
            )
        assert compare(s.database_url, s.pseudonym_key).passed


def test_the_marts_follow_the_lake(settings: Settings) -> None:
    """A lake table with a snapshot its PostgreSQL copy lacks starts one copy + marts run."""
    from orchestration.analytics.sensors import marts_after_lake_sensor

    lake = LakeResource(settings)

    def answer() -> None:
        with psycopg.connect(settings.database_url) as conn:
            append_sync(
                conn,
                ResponseRecordedV1(
                    attempt_id=str(new_id()),
                    exam_id=str(new_id()),
                    student_id=str(new_id()),
                    item_id=str(new_id()),
                    choice=0,
                    is_correct=True,
                    answered_at=datetime.now(UTC),
                ),
            )
        ship(settings)

    with dg.instance_for_test() as instance:

        def evaluate(cursor: str | None = None) -> dg.SensorResult | dg.SkipReason:
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"lake": lake}
            )
            result = marts_after_lake_sensor(context)
            assert isinstance(result, dg.SensorResult | dg.SkipReason)
            return result

        copy_tables(settings)
        assert isinstance(evaluate(), dg.SkipReason)  # every copy at its lake snapshot
        answer()
        assert "responses" in lake.copy_lag()
        first = evaluate()
        assert isinstance(first, dg.SensorResult) and len(first.run_requests or []) == 1
        assert isinstance(evaluate(first.cursor), dg.SkipReason)  # asked once per lake state
        copy_tables(settings)
        assert isinstance(evaluate(first.cursor), dg.SkipReason)  # caught up
        answer()
        later = evaluate(first.cursor)
        assert isinstance(later, dg.SensorResult) and later.run_requests
        [request] = later.run_requests
        assert request.run_key != first.run_requests[0].run_key  # type: ignore[index]
