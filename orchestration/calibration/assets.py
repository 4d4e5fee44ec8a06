"""Calibration assets. Asset names are table names: `item_parameters` (the Iceberg history
table and the candidate rows in content.item_parameters) and `live_item_parameters` (the live
rows the exam service reads)."""

import json
from typing import Any

import dagster as dg

from lake.calibration_io import ITEM_PARAMETERS
from lake.tables import OUTBOX_EVENTS
from orchestration.calibration.bank import PromotionRefused
from orchestration.calibration.resources import CalibrationResource

LIVE_ITEM_PARAMETERS = "live_item_parameters"
ITEM_PARAMETERS_KEY = dg.AssetKey(ITEM_PARAMETERS)


def latest_calibration_id(instance: dg.DagsterInstance) -> str:
    """The calibration written by the latest `item_parameters` materialization ("" if none)."""
    event = instance.get_latest_materialization_event(ITEM_PARAMETERS_KEY)
    if event is None or event.asset_materialization is None:
        return ""
    value = event.asset_materialization.metadata.get("calibration_id")
    return str(value.value) if value is not None else ""


@dg.asset(
    name=ITEM_PARAMETERS,
    group_name="calibration",
    deps=[dg.AssetKey(OUTBOX_EVENTS)],
    kinds={"iceberg", "duckdb", "postgres"},
    description=(
        "IRT calibration of the item bank from the response history at a pinned Iceberg snapshot: "
        "a new, not-live version of each calibrated item's parameters in content.item_parameters "
        "and in the Iceberg table item_parameters, with provenance (snapshot, model, fit, "
        "responses, log-likelihood, convergence)."
    ),
)
def item_parameters(
    context: dg.AssetExecutionContext, calibration: dg.ResourceParam[CalibrationResource]
) -> dg.MaterializeResult[None]:
    run = calibration.calibrate(run_id=context.run_id)
    summary = run.summary
    context.log.info(
        f"calibration {run.calibration_id or '(none)'}: {summary['candidates']} items from "
        f"{run.n_responses} responses at snapshot {run.snapshot.snapshot_id} of "
        f"{run.snapshot.table} in {run.seconds:.2f}s; skipped {summary['skipped']}"
    )
    metadata: dict[str, Any] = {
        "calibration_id": run.calibration_id,
        "model": calibration.thresholds.model,
        "source_table": run.snapshot.table,
        "source_snapshot_id": str(run.snapshot.snapshot_id or ""),
        "source_responses": run.n_responses,
        "responses_used": summary["n_responses_used"],
        "items_calibrated": summary["candidates"],
        "operational_items": summary["operational"],
        "pilot_items": summary["pilot"],
        "promotable_items": summary["promotable"],
        "skipped": dg.MetadataValue.json(summary["skipped"]),
        "groups": dg.MetadataValue.json(summary["groups"]),
        "lake_snapshot_id": str(run.lake_snapshot_id or ""),
        "seconds": round(run.seconds, 3),
    }
    if run.recovery:
        metadata["recovery"] = dg.MetadataValue.json(run.recovery)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    name=LIVE_ITEM_PARAMETERS,
    group_name="calibration",
    deps=[item_parameters],
    kinds={"postgres"},
    description=(
        "Promotes the latest calibration to the live item bank (is_live/promoted_at, one "
        "transaction) -- only after its blocking checks passed; pilot items only once they have "
        "enough responses."
    ),
)
def live_item_parameters(
    context: dg.AssetExecutionContext, calibration: dg.ResourceParam[CalibrationResource]
) -> dg.MaterializeResult[None]:
    calibration_id = latest_calibration_id(context.instance)
    if not calibration_id:
        return dg.MaterializeResult(
            metadata={"calibration_id": "", "promoted": 0, "note": "no calibration to promote"}
        )
    try:
        promotion = calibration.promote(calibration_id)
    except PromotionRefused as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"failures": dg.MetadataValue.json(exc.failures)},
        ) from exc
    context.log.info(
        f"promoted {len(promotion.promoted)} items of {calibration_id}; "
        f"{len(promotion.held_back)} pilot items held back"
    )
    return dg.MaterializeResult(
        metadata={
            "calibration_id": calibration_id,
            "promoted": len(promotion.promoted),
            "held_back_pilots": len(promotion.held_back),
            "promoted_at": promotion.promoted_at.isoformat() if promotion.promoted_at else "",
            "items": dg.MetadataValue.json(json.loads(json.dumps(promotion.promoted[:50]))),
        }
    )
