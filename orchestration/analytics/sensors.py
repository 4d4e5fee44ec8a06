"""The marts follow the lake: when the silver tables were materialized after the marts' last
request, the dbt models are rebuilt (within `minimum_interval_seconds` of the lake's ingest,
which its own sensor runs every 30 s when events await). Replaces the nightly analytics_daily
schedule."""

from __future__ import annotations

import dagster as dg

from orchestration.analytics.checks import live_analytics_match_marts
from orchestration.lake.assets import learning_records_copy, silver_tables, tutor_turns_copy

#: The dbt models and their tests, without the live comparison: between the consumer's commit
#: and the lake's ingest the live side is ahead by design (that check runs nightly).
MARTS = dg.AssetSelection.groups("analytics") - dg.AssetSelection.checks(live_analytics_match_marts)


@dg.sensor(
    name="marts_after_lake_sensor",
    target=MARTS,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the dbt marts when the lake's silver tables were materialized since.",
)
def marts_after_lake_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    keys = [*silver_tables.keys, *tutor_turns_copy.keys, *learning_records_copy.keys]
    latest = 0.0
    for key in keys:
        event = context.instance.get_latest_materialization_event(key)
        if event is not None:
            latest = max(latest, event.timestamp)
    if not latest:
        return dg.SkipReason("the lake's silver tables were never materialized")
    if context.cursor and float(context.cursor) >= latest:
        return dg.SkipReason("the marts were requested after the lake's last materialization")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"marts-{latest:.6f}")], cursor=repr(latest)
    )
