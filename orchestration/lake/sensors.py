"""Sensors: ingest (and derive silver) when the outbox has final rows beyond the lake's horizon;
ship policy decisions when new ones are final."""

import time

import dagster as dg

from orchestration.lake.assets import outbox_events, policy_decisions, silver_tables
from orchestration.lake.resources import LakeResource

# At most one request per horizon per window: a failed run is retried after the window
# even when no new events arrive; a queued run is not requested twice.
RETRY_WINDOW_SECONDS = 300


@dg.sensor(
    name="outbox_events_sensor",
    target=[outbox_events, silver_tables],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests outbox_events + silver tables when final outbox rows await ingestion, or the "
        "silver tables alone when bronze is ahead of them (marts_after_lake_sensor takes it from there)."
    ),
)
def outbox_events_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[LakeResource]
) -> dg.SensorResult | dg.SkipReason:
    horizon = lake.horizon()
    pending = lake.pending(horizon)
    window = int(time.time() // RETRY_WINDOW_SECONDS)
    if pending:
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"outbox-{horizon}-{window}")],
            cursor=str(horizon),
        )
    if lake.pending_silver():
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"silver-{horizon}-{window}",
                    asset_selection=list(silver_tables.keys),
                )
            ],
            cursor=str(horizon),
        )
    return dg.SkipReason(f"no outbox rows beyond horizon {horizon}, silver caught up")


@dg.sensor(
    name="policy_decisions_sensor",
    target=[policy_decisions],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests policy_decisions when final decisions await shipping.",
)
def policy_decisions_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[LakeResource]
) -> dg.SensorResult | dg.SkipReason:
    pending = lake.pending_decisions()
    if not pending:
        return dg.SkipReason("no policy decisions to ship")
    window = int(time.time() // RETRY_WINDOW_SECONDS)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"decisions-{pending}-{window}")])


lake_sensors = [outbox_events_sensor, policy_decisions_sensor]
