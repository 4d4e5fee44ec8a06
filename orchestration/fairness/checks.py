"""The DIF check: a warning (not a block) when an item of the latest run shows large DIF."""

import dagster as dg

from orchestration.fairness.assets import ITEM_DIF, item_dif
from orchestration.fairness.resources import FairnessResource


def latest_dif_run(instance: dg.DagsterInstance) -> str:
    """The run id of the latest `item_dif` materialization ("" if none)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(ITEM_DIF))
    if event is None or event.asset_materialization is None:
        return ""
    value = event.asset_materialization.metadata.get("run_id")
    return str(value.value) if value is not None else ""


@dg.asset_check(
    asset=item_dif,
    description=(
        "No item of the latest DIF run is in ETS class C (|MH D-DIF| >= 1.5 and significantly "
        "above 1): such items should be reviewed by a content expert before further use."
    ),
)
def items_show_no_c_level_dif(
    context: dg.AssetCheckExecutionContext, fairness: dg.ResourceParam[FairnessResource]
) -> dg.AssetCheckResult:
    run_id = latest_dif_run(context.instance)
    c_level = fairness.c_level(run_id) if run_id else []
    return dg.AssetCheckResult(
        passed=not c_level,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "run_id": run_id,
            "c_level_items": len(c_level),
            "items": dg.MetadataValue.json(c_level[:25]),
        },
    )


fairness_checks = [items_show_no_c_level_dif]
