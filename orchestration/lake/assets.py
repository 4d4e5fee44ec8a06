"""Bronze lake assets. Asset names are the Iceberg table names."""

import dagster as dg

from lake.tables import OUTBOX_EVENTS
from orchestration.lake.resources import LakeResource


@dg.asset(
    name=OUTBOX_EVENTS,
    group_name="lake",
    kinds={"iceberg", "postgres"},
    description=(
        "Bronze copy of events.outbox in Iceberg, exactly once: the watermark is a transaction-id "
        "horizon stored in the snapshot that appends the rows."
    ),
)
def outbox_events(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> dg.MaterializeResult[None]:
    result = lake.ingest()
    context.log.info(
        f"ingested {result.rows} outbox rows in {result.seconds:.2f}s "
        f"(horizon {result.previous_horizon} -> {result.horizon})"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": result.rows,
            "committed": result.committed,
            "xmin_horizon": result.horizon,
            "previous_horizon": result.previous_horizon,
            "snapshot_id": str(result.snapshot_id) if result.snapshot_id is not None else "",
            "data_files": result.data_files,
            "rows_per_second": round(result.rows_per_second, 1),
        }
    )
