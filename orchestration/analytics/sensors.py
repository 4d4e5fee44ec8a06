"""The marts follow the lake: when a silver table or dimension snapshot has a snapshot its
PostgreSQL copy (`lake_silver.<table>`) has not reached, one run copies what is new and rebuilds
the dbt marts (lake_silver copies -> dbt), within `minimum_interval_seconds` of the lake's ingest
(which its own sensor runs every 30 s when events await). Replaces the nightly analytics_daily
schedule."""

from __future__ import annotations

import hashlib
import time

import dagster as dg

from lake.warehouse import SCHEMA
from orchestration.analytics.checks import live_analytics_match_marts
from orchestration.lake.assets import lake_silver_copies
from orchestration.lake.resources import LakeResource

#: The dbt models and their tests, without the live comparison: between the consumer's commit
#: and the lake's ingest the live side is ahead by design (that check runs nightly).
MARTS = dg.AssetSelection.groups("analytics") - dg.AssetSelection.checks(live_analytics_match_marts)
#: What one request runs: the copies, then the marts that read them.
LAKE_TO_MARTS = dg.AssetSelection.assets(*lake_silver_copies.keys) | MARTS

#: While the copies stay behind (a failed or still queued run), the same lake state is asked
#: for again after this long, not at every tick.
RETRY_WINDOW_SECONDS = 300


@dg.sensor(
    name="marts_after_lake_sensor",
    target=LAKE_TO_MARTS,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        f"Copies the lake tables into {SCHEMA} and rebuilds the dbt marts when a lake table has "
        "a snapshot its PostgreSQL copy has not reached."
    ),
)
def marts_after_lake_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[LakeResource]
) -> dg.SensorResult | dg.SkipReason:
    behind = lake.copy_lag()
    if not behind:
        return dg.SkipReason(f"every {SCHEMA} copy is at its lake table's current snapshot")
    state = ",".join(f"{name}={snapshot}" for name, snapshot in sorted(behind.items()))
    digest = hashlib.sha256(state.encode()).hexdigest()[:16]
    now = time.time()
    asked, _, at = (context.cursor or "").partition("@")
    if asked == digest and at and now - float(at) < RETRY_WINDOW_SECONDS:
        return dg.SkipReason(f"already requested for this lake state ({', '.join(behind)})")
    context.log.info(f"copies behind the lake: {', '.join(sorted(behind))}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"lake-marts-{digest}-{int(now)}")],
        cursor=f"{digest}@{now:.3f}",
    )
