"""The loop runs itself: calibrate nightly (after the lake ingest has been running all day)."""

from __future__ import annotations

import dagster as dg

calibration_nightly = dg.ScheduleDefinition(
    name="calibration_nightly",
    cron_schedule="0 3 * * *",
    target=dg.AssetSelection.groups("calibration"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Recalibrate the item bank from the lake and promote the result when its checks pass."
    ),
)
