"""The DIF pipeline over the real lake: responses and attempt events written to the outbox,
ingested into Iceberg, read pinned through DuckDB; the item_dif asset and its WARN check run
in process against PostgreSQL, then the dbt mart agg_item_dif_flags.

Two classes of 700 students answer a 12-item 2PL form; items 0 and 1 are 1.2 logits harder for
the second class (true DIF, ETS class C at this size), the other ten function alike. Both MH
and LR must flag the two DIF items; at most two clean items may be flagged by either (α = .05
over 10 items each)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import psycopg
import pytest

from core.events import AttemptCompletedV1, ItemCreatedV1, ResponseRecordedV1, encode_payload
from core.ids import new_id
from core.settings import Settings
from lake.dif_io import UnknownGrouping, read_attempt_groups
from lake.ingest import ingest_outbox, pending_events
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from orchestration.fairness.assets import item_dif
from orchestration.fairness.checks import fairness_checks
from orchestration.fairness.engine import DifConfig
from orchestration.fairness.resources import FairnessResource
from tests.support.database import scratch_settings
from tests.support.lake import ship

pytestmark = pytest.mark.integration

N_ITEMS, PER_CLASS, SHIFT = 12, 700, 1.2
T0 = datetime(2026, 4, 6, 8, 0, tzinfo=UTC)
COPY_SQL = (
    "copy events.outbox (event_id, event_type, aggregate_id, occurred_at, payload) from stdin"
)


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database of its own: the whole dbt project is built and tested over all its rows (the
    session's database holds other tests' rows, without the lake events the marts read)."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


def _seed(settings: Settings) -> tuple[list[str], list[str], str]:
    """A teacher's bank of 12 items, two class ids, an exam id; the events of both classes."""
    teacher, exam = str(new_id()), str(new_id())
    items = [str(new_id()) for _ in range(N_ITEMS)]
    classes = [str(new_id()), str(new_id())]
    rng = np.random.default_rng(19)
    a = rng.lognormal(0.0, 0.25, N_ITEMS)
    b = np.linspace(-1.5, 1.5, N_ITEMS)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'T', 'teacher', 'x')",
            (teacher, f"{teacher}@example.org"),
        )
        for j, item in enumerate(items):
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key, skills,"
                " status) values (%s, %s, %s, '[\"A\", \"B\"]', 0, '{algebra}', 'operational')",
                (item, teacher, f"Q{j}"),
            )
        with conn.cursor().copy(COPY_SQL) as copy:
            for item in items:  # the marts read the bank from the lake too
                created = ItemCreatedV1(
                    item_id=item, owner_id=teacher, skills=["algebra"], created_at=T0,
                    version=1, status="operational", scoring="key", option_count=2,
                )  # fmt: skip
                copy.write_row(
                    (str(new_id()), created.event_type, item, T0, encode_payload(created).decode())
                )
            for k, class_id in enumerate(classes):
                bk = b.copy()
                if k == 1:
                    bk[:2] += SHIFT  # harder for the focal class at equal ability
                theta = rng.normal(0.0, 1.0, PER_CLASS)
                y = rng.random((PER_CLASS, N_ITEMS)) < 1 / (1 + np.exp(-a * (theta[:, None] - bk)))
                for s in range(PER_CLASS):
                    attempt, student = str(new_id()), str(new_id())
                    at = T0 + timedelta(seconds=s, minutes=k)
                    events: list[ResponseRecordedV1 | AttemptCompletedV1] = [
                        ResponseRecordedV1(
                            attempt_id=attempt, exam_id=exam, student_id=student, item_id=item,
                            choice=0 if y[s, j] else 1, is_correct=bool(y[s, j]), answered_at=at,
                        )
                        for j, item in enumerate(items)
                    ]  # fmt: skip
                    events.append(
                        AttemptCompletedV1(
                            attempt_id=attempt, exam_id=exam, student_id=student,
                            class_id=class_id, raw_score=int(y[s].sum()), max_score=N_ITEMS,
                            started_at=at, completed_at=at,
                        )
                    )  # fmt: skip
                    for e in events:
                        copy.write_row(
                            (str(new_id()), e.event_type, attempt, at, encode_payload(e).decode())
                        )
    return items, classes, exam


def _ingest(settings: Settings, expected: int) -> None:
    deadline = time.monotonic() + 60
    while pending_events(settings) < expected:
        assert time.monotonic() < deadline, "outbox rows never became final"
        time.sleep(0.05)
    assert ingest_outbox(settings).rows >= expected


def test_item_dif_finds_the_dif_items_warns_and_feeds_the_mart(settings: Settings) -> None:
    items, classes, _ = _seed(settings)
    _ingest(settings, 2 * PER_CLASS * (N_ITEMS + 1) + N_ITEMS)
    groups = read_attempt_groups(settings, "class_id")
    assert groups.num_rows == 2 * PER_CLASS and set(groups.column("group").to_pylist()) == set(
        classes
    )
    with pytest.raises(UnknownGrouping):
        read_attempt_groups(settings, "class_id; drop table x")

    instance = dg.DagsterInstance.ephemeral()
    fairness = FairnessResource(settings, DifConfig(min_group_size=200))
    result = dg.materialize(
        [item_dif, *fairness_checks], resources={"fairness": fairness}, instance=instance
    )
    assert result.success
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select item_id::text, ets_class, is_mh_flagged, is_lr_flagged, mh_delta, n_reference,"
            " n_focal, reference_group, focal_group, grouping from content.item_dif"
        ).fetchall()
    by_item = {r[0]: r for r in rows}
    assert len(rows) == N_ITEMS and set(by_item) == set(items)
    assert {(r[5], r[6], r[9]) for r in rows} == {(PER_CLASS, PER_CLASS, "class_id")}
    assert {frozenset((r[7], r[8])) for r in rows} == {frozenset(classes)}
    for item in items[:2]:
        assert by_item[item][1] == "C" and by_item[item][2] and by_item[item][3], by_item[item]
    clean = [by_item[i] for i in items[2:]]
    assert sum(r[2] for r in clean) <= 2 and sum(r[3] for r in clean) <= 2
    assert all(r[1] != "C" for r in clean)

    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "items_show_no_c_level_dif"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["c_level_items"].value == 2

    # Any column the lake's attempts carry can group: by exam there is one group per exam, so
    # nothing is analysed and the run says why; a column the lake lacks fails the run.
    by_exam = dg.materialize(
        [item_dif], resources={"fairness": fairness}, instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"item_dif": {"config": {"grouping": "exam_id"}}}},
    )  # fmt: skip
    meta = by_exam.get_asset_materialization_events()[0].materialization.metadata
    assert (meta["grouping"].value, meta["rows"].value) == ("exam_id", 0)
    assert len(meta["skipped"].value) == 1
    with pytest.raises(UnknownGrouping):
        dg.materialize(
            [item_dif], resources={"fairness": fairness},
            run_config={"ops": {"item_dif": {"config": {"grouping": "shoe_size"}}}},
        )  # fmt: skip

    ship(settings, copies=True)  # the marts read the lake's copies (the bank's item events)
    project = dbt_project()
    dbt = build_dbt_assets(project)
    built = dg.materialize(
        [dbt],
        resources={"dbt": build_dbt_resource(settings, project)},
        instance=instance,
    )
    assert built.success
    checks = {ev.check_name: ev.passed for ev in built.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    with psycopg.connect(settings.database_url) as conn:
        mart = conn.execute(
            "select item_id::text, is_c_level, is_flagged from analytics.agg_item_dif_flags"
        ).fetchall()
    assert len(mart) == N_ITEMS
    assert {i for i, c_level, _ in mart if c_level} == set(items[:2])
