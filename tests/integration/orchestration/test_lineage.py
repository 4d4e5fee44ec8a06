"""One lineage in Dagster: outbox -> bronze -> silver -> lake_silver copies -> dbt marts ->
dashboard pages (issue 18), and the sensor that makes the marts follow the lake."""

from __future__ import annotations

import dagster as dg
import pytest

from core.settings import Settings
from lake.warehouse import COPY_TABLES
from orchestration.analytics.dashboards import DASHBOARD_GROUP, PAGE_SOURCES
from orchestration.analytics.sensors import LAKE_TO_MARTS
from orchestration.builder import build_definitions

pytestmark = pytest.mark.integration


def upstream(graph: object, key: dg.AssetKey) -> set[dg.AssetKey]:
    return set(dg.AssetSelection.assets(key).upstream().resolve(graph))  # type: ignore[arg-type]


def test_dashboards_reach_the_lake_through_the_marts(settings: Settings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    pages = {k for k in keys if k.path[0] == DASHBOARD_GROUP}
    assert {k.path[-1] for k in pages} == set(PAGE_SOURCES)
    for page in pages:
        spec = graph.get(page)
        assert "dagster/kind/shiny" in spec.tags
        assert spec.parent_keys, f"{page} depends on nothing"
        assert spec.parent_keys <= keys, f"{page} names an asset that does not exist"

    # attempts per day: page <- agg_attempts_per_day <- fct_exam_attempts <- stg_exams__responses
    # <- lake_silver/responses <- responses (silver) <- outbox_events (bronze)
    chain = upstream(graph, dg.AssetKey([DASHBOARD_GROUP, "attempts_per_day"]))
    for key in (
        ["agg_attempts_per_day"],
        ["fct_exam_attempts"],
        ["stg_exams__responses"],
        ["lake_silver", "responses"],
        ["responses"],
        ["outbox_events"],
    ):
        assert dg.AssetKey(key) in chain, key
    usage = upstream(graph, dg.AssetKey([DASHBOARD_GROUP, "usage"]))
    assert {dg.AssetKey(["lake_silver", "tutor_turns"]), dg.AssetKey(["tutor_turns"])} <= usage
    # every copy sits between its lake table and the marts
    for table in COPY_TABLES:
        assert graph.get(dg.AssetKey(["lake_silver", table])).parent_keys == {dg.AssetKey([table])}


def test_item_parameters_and_dif_reach_the_marts_from_the_lake(settings: Settings) -> None:
    """Item parameters come from the lake's item events (issue 18); the DIF source is the Dagster
    asset item_dif that writes content.item_dif from the lake, not a root of its own."""
    graph = build_definitions(settings).resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert graph.get(dg.AssetKey(["stg_content__item_parameters"])).parent_keys == {
        dg.AssetKey(["lake_silver", "item_events"])
    }
    history = upstream(graph, dg.AssetKey(["agg_item_calibration_history"]))
    for key in (["lake_silver", "item_events"], ["item_events"], ["outbox_events"]):
        assert dg.AssetKey(key) in history, key
    assert dg.AssetKey(["content", "item_parameters"]) not in keys
    assert graph.get(dg.AssetKey(["stg_content__item_dif"])).parent_keys == {
        dg.AssetKey(["item_dif"])
    }
    flags = upstream(graph, dg.AssetKey(["agg_item_dif_flags"]))
    assert {dg.AssetKey(["item_dif"]), dg.AssetKey(["outbox_events"])} <= flags
    assert dg.AssetKey(["content", "item_dif"]) not in keys


def test_marts_follow_the_lake_sensor_targets_copies_and_dbt(settings: Settings) -> None:
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("marts_after_lake_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    targets = LAKE_TO_MARTS.resolve(defs.resolve_asset_graph())
    assert dg.AssetKey(["lake_silver", "responses"]) in targets
    assert dg.AssetKey(["agg_attempts_per_day"]) in targets
    assert not any(k.path[0] == DASHBOARD_GROUP for k in targets)


# The only staging inputs outside the lake, by decision 0014's rule that the lake keeps no free
# text: lesson titles and bodies, and the LRS's merged activity definitions.
OLTP_SOURCES = {dg.AssetKey(["learning", "lessons"]), dg.AssetKey(["lrs", "activities"])}


def test_every_staging_model_reads_the_lake_but_the_free_text_sources(settings: Settings) -> None:
    """One lineage (issue 18): each staging model's parents are lake copies (or the DIF asset,
    itself computed from the lake), except the two OLTP sources of free text named above."""
    graph = build_definitions(settings).resolve_asset_graph()
    staging = [k for k in graph.get_all_asset_keys() if k.path[-1].startswith("stg_")]
    assert len(staging) > 10
    outside: set[dg.AssetKey] = set()
    for model in staging:
        for parent in graph.get(model).parent_keys:
            if parent.path[0] != "lake_silver" and parent != dg.AssetKey(["item_dif"]):
                outside.add(parent)
    assert outside == OLTP_SOURCES
    # and every mart has the lake upstream
    marts = [k for k in graph.get_all_asset_keys() if k.path[-1].startswith(("fct_", "agg_"))]
    for mart in marts:
        assert dg.AssetKey(["outbox_events"]) in upstream(graph, mart), mart
