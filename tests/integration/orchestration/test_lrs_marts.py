"""The LRS marts (agg_learning_activity_daily, agg_activity_outcomes) on hand-computed learning
records: events in the outbox -> the lake (bronze, silver learning_records, pseudonymised) ->
lake_silver.learning_records -> dbt, all real (PostgreSQL, S3/Iceberg, dbt run by Dagster)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from core.events import LearningRecordedV1
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from lake.catalog import load_catalog
from lake.ingest import ingest_outbox
from lake.silver import derive_silver
from lake.tables import identifier
from lake.warehouse import copy_to_postgres
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from tests.support.database import scratch_settings
from tests.support.lake import record_events, ship

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
VERBS = "http://adlnet.gov/expapi/verbs/"


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the whole dbt project is built and tested over all its rows (the
    session's database holds other tests' rows, without the lake events the marts read)."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


MODELS = (
    "stg_lake__learning_records",
    "stg_lrs__activities",
    "stg_classes__classes",
    "stg_content__items",
    "int_item_skills",
    "int_activity_skills",
    "agg_learning_activity_daily",
    "agg_activity_outcomes",
)


def seed(settings: Settings) -> dict[str, str]:
    """A class, a student with an account (A), an actor without one (B), a quiz declaring two
    skills and a platform item; seven statements, one of them voided by another."""
    ids = {k: str(new_id()) for k in ("teacher", "a", "class", "item")}
    ids["quiz"] = f"http://marts.test/{ids['class']}/quiz"
    ids["item_activity"] = f"urn:dreamseed:item:{ids['item']}"
    ids["b"] = f"mbox:mailto:b-{ids['class']}@marts.test"
    with psycopg.connect(settings.database_url) as conn:
        for user, role in (("teacher", "teacher"), ("a", "student")):
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, 'x')",
                (ids[user], f"{ids[user]}@marts.test", user, role),
            )
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'LRS marts', %s, %s)",
            (ids["class"], ids["teacher"], ids["class"][-8:]),
        )
        conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key, skills)"
            " values (%s, %s, 'q', '[\"A\", \"B\"]', 0, %s)",
            (ids["item"], ids["teacher"], ["geometry"]),
        )
        definition = {
            "name": {"en-US": "Quiz"},
            "type": "http://adlnet.gov/expapi/activities/assessment",
            "extensions": {"urn:dreamseed:skills": ["ratios", "fractions"]},
        }
        conn.execute(
            "insert into lrs.activities (activity_id, definition) values (%s, %s::jsonb)",
            (ids["quiz"], json.dumps(definition)),
        )

        def record(key: str, learner: str, verb: str, at: datetime, **result: object) -> None:
            ids[key] = str(new_id())
            object_id = result.pop("object_id", ids["quiz"])
            is_statement_ref = verb == "voided"
            event = LearningRecordedV1(
                record_id=ids[key],
                student_id=ids["a"] if learner == "a" else None,
                actor_id=ids["a"] if learner == "a" else ids["b"],
                verb=verb,
                verb_id=VERBS + verb,
                object_type="statementref" if is_statement_ref else "activity",
                object_id=str(object_id),
                activity_id=None if is_statement_ref else str(object_id),
                class_id=ids["class"],
                recorded_at=at,
                **result,  # type: ignore[arg-type]
            )
            append_sync(conn, event, occurred_at=at)

        record("e1", "a", "attempted", DAY1)
        record("e2", "a", "completed", DAY1, success=True, score=0.8, completion=True,
               duration_seconds=120.0)  # fmt: skip
        record("e3", "b", "completed", DAY1 + timedelta(hours=1), success=False, score=0.4,
               completion=True, duration_seconds=60.0)  # fmt: skip
        record("e5", "b", "passed", DAY2, score=0.9, duration_seconds=30.0)
        record("e6", "a", "completed", DAY2, success=False, score=-0.5, completion=True)
        record("e7", "a", "voided", DAY2, object_id=ids["e6"], voids_record_id=ids["e6"])
        record("e8", "a", "answered", DAY2, success=True, score=1.0,
               object_id=ids["item_activity"])  # fmt: skip
        record_events(conn, [ids["class"]])  # the class and the item, as the services record them
    return ids


def test_lrs_marts_match_hand_computed_values(settings: Settings) -> None:
    ids = seed(settings)
    mine = {ids[k] for k in ("e1", "e2", "e3", "e5", "e6", "e7", "e8")}
    # The outbox rows ship once they are final (no older transaction open in the cluster).
    deadline = time.monotonic() + 180
    copied: list[tuple[str, str | None, str | None]] = []
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while len(copied) < len(mine):
            assert time.monotonic() < deadline, f"only {len(copied)} of {len(mine)} copied"
            ingest_outbox(settings)
            derive_silver(settings)
            copy_to_postgres(settings, "learning_records")
            copied = conn.execute(
                "select record_id, student_key, actor_key from lake_silver.learning_records"
                " where record_id = any(%s)",
                (list(mine),),
            ).fetchall()
        ingest_outbox(settings)  # a rerun adds nothing
        derive_silver(settings)
        assert copy_to_postgres(settings, "learning_records") == 0
        copied = conn.execute(
            "select record_id, student_key, actor_key from lake_silver.learning_records"
            " where record_id = any(%s)",
            (list(mine),),
        ).fetchall()
    assert sorted(r[0] for r in copied) == sorted(mine)  # every statement, exactly once
    silver = load_catalog(settings).load_table(identifier(settings, "learning_records"))
    assert "student_id" not in silver.schema().column_names
    by_record = {r[0]: r for r in copied}
    a_key = by_record[ids["e1"]][1]
    assert a_key and a_key != ids["a"] and by_record[ids["e1"]][2] == a_key  # pseudonymised
    assert by_record[ids["e3"]][1] is None and by_record[ids["e3"]][2] not in (None, ids["b"])

    ship(settings, copies=True)  # the class and the bank's copies too
    project = dbt_project()
    result = dg.materialize(
        [build_dbt_assets(project)],
        resources={"dbt": build_dbt_resource(settings, project)},
        instance=dg.DagsterInstance.ephemeral(),
    )  # the whole project: a subset would run other models' relationship tests half-built
    assert result.success
    materialized = {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key
    }
    assert set(MODELS) <= materialized
    checks = {ev.check_name: ev.passed for ev in result.get_asset_check_evaluations()}
    assert len(checks) > 100
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}

    with psycopg.connect(settings.database_url) as conn:
        daily = {
            (row[0], row[1]): row[2:]
            for row in conn.execute(
                "select activity_on, verb, statements, learners, platform_learners,"
                " seconds_reported::float, class_name, activity_name"
                " from analytics.agg_learning_activity_daily where activity_id = %s",
                (ids["quiz"],),
            ).fetchall()
        }
        outcomes = conn.execute(
            "select class_name, activity_name, skills, statements, learners, completions,"
            " completers, completion_rate::float, passed, failed, scored,"
            " mean_scaled_score::float, min_scaled_score::float, max_scaled_score::float"
            " from analytics.agg_activity_outcomes where activity_id = %s and class_id = %s",
            (ids["quiz"], ids["class"]),
        ).fetchall()
        item = conn.execute(
            "select skills, statements, completions, completion_rate::float, passed, failed,"
            " mean_scaled_score::float from analytics.agg_activity_outcomes"
            " where activity_id = %s",
            (ids["item_activity"],),
        ).fetchall()

    # e6 (completed, day 2) is voided by e7: neither counts anywhere.
    d1, d2 = DAY1.date(), DAY2.date()
    assert set(daily) == {(d1, "attempted"), (d1, "completed"), (d2, "passed")}
    assert daily[(d1, "attempted")] == (1, 1, 1, 0.0, "LRS marts", "Quiz")
    assert daily[(d1, "completed")][:3] == (2, 2, 1)  # A (an account) and B (no account)
    assert daily[(d1, "completed")][3] == pytest.approx(180.0)
    assert daily[(d2, "passed")][:3] == (1, 1, 0)
    assert daily[(d2, "passed")][3] == pytest.approx(30.0)

    # quiz: e1, e2, e3, e5 count; completions e2, e3 (both learners); passed e2 (success) and e5
    # (verb passed), failed e3; scores 0.8, 0.4, 0.9 -> mean 0.7; skills from its definition.
    assert len(outcomes) == 1
    row = outcomes[0]
    assert row[:7] == ("LRS marts", "Quiz", ["fractions", "ratios"], 4, 2, 2, 2)
    assert row[7] == pytest.approx(1.0)
    assert row[8:11] == (2, 1, 3)
    assert row[11:] == pytest.approx((0.7, 0.4, 0.9))
    # the platform item's activity: its skills come from the item bank
    assert len(item) == 1
    assert item[0][:3] == (["geometry"], 1, 0)
    assert item[0][3] == pytest.approx(0.0)
    assert item[0][4:6] == (1, 0)
    assert item[0][6] == pytest.approx(1.0)
