"""The DIF asset. Asset name = table name: `item_dif` (content.item_dif)."""

from dataclasses import replace

import dagster as dg

from lake.tables import OUTBOX_EVENTS
from orchestration.fairness.resources import FairnessResource

ITEM_DIF = "item_dif"


class ItemDifConfig(dg.Config):
    """Run configuration: which lake column of the attempts groups the examinees (default: the
    resource's, class_id) and the smallest group analysed (complete response rows per exam)."""

    grouping: str | None = None
    min_group_size: int | None = None


@dg.asset(
    name=ITEM_DIF,
    group_name="fairness",
    deps=[dg.AssetKey(OUTBOX_EVENTS)],
    kinds={"iceberg", "duckdb", "postgres"},
    description=(
        "Differential item functioning by a grouping column of the lake's attempts (class_id "
        "by default): per exam, Mantel-Haenszel with the ETS A/B/C classes (purified summed-score "
        "matching) and IRT likelihood-ratio DIF (purified anchors), the largest group as "
        "reference; one row per (item, focal group) in content.item_dif, keyed by run id."
    ),
)
def item_dif(
    context: dg.AssetExecutionContext,
    config: ItemDifConfig,
    fairness: dg.ResourceParam[FairnessResource],
) -> dg.MaterializeResult[None]:
    thresholds = replace(
        fairness.config,
        grouping=config.grouping or fairness.config.grouping,
        min_group_size=config.min_group_size or fairness.config.min_group_size,
    )
    result = fairness.run_dif(context.run_id, thresholds)
    run = result.run
    context.log.info(
        f"DIF by {thresholds.grouping}: {len(run.rows)} item-group rows, "
        f"{len(run.c_level)} in class C, {len(run.skipped)} exams skipped, "
        f"{result.n_responses} responses at snapshot {result.snapshot_id} in {result.seconds:.2f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "run_id": context.run_id,
            "grouping": thresholds.grouping,
            "source_table": result.source_table,
            "source_snapshot_id": str(result.snapshot_id or ""),
            "source_responses": result.n_responses,
            "grouped_attempts": result.n_grouped_attempts,
            "rows": len(run.rows),
            "mh_flagged": sum(r.is_mh_flagged for r in run.rows),
            "lr_flagged": sum(r.is_lr_flagged for r in run.rows),
            "c_level": len(run.c_level),
            "skipped": dg.MetadataValue.json(run.skipped[:50]),
            "seconds": round(result.seconds, 3),
        }
    )
