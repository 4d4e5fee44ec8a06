"""Schedules: an hourly backstop for the sensors, and the daily dimension snapshots."""

from __future__ import annotations

import dagster as dg

from orchestration.lake.assets import (
    dimension_snapshots,
    outbox_events,
    policy_decisions,
    silver_tables,
)

outbox_events_hourly = dg.ScheduleDefinition(
    name="outbox_events_hourly",
    cron_schedule="17 * * * *",
    target=[outbox_events, silver_tables, policy_decisions],
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Backstop for the sensors: bronze ingest, silver tables, policy decisions.",
)

lake_dims_daily = dg.ScheduleDefinition(
    name="lake_dims_daily",
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    target=[dimension_snapshots],
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily dim_*_snapshots (idempotent per day: a rerun the same day adds nothing).",
)

lake_schedules = [outbox_events_hourly, lake_dims_daily]
