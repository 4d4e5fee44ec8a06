"""Start an ingest when the outbox has final rows beyond the lake's horizon."""

import time

import dagster as dg

from orchestration.lake.assets import outbox_events
from orchestration.lake.resources import LakeResource

# At most one request per horizon per window: a failed run is retried after the window
# even when no new events arrive; a queued run is not requested twice.
RETRY_WINDOW_SECONDS = 300


@dg.sensor(
    name="outbox_events_sensor",
    target=[outbox_events],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests an outbox_events run when final outbox rows await ingestion.",
)
def outbox_events_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[LakeResource]
) -> dg.SensorResult | dg.SkipReason:
    horizon = lake.horizon()
    pending = lake.pending(horizon)
    if pending == 0:
        return dg.SkipReason(f"no outbox rows beyond horizon {horizon}")
    window = int(time.time() // RETRY_WINDOW_SECONDS)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"outbox-{horizon}-{window}")],
        cursor=str(horizon),
    )
