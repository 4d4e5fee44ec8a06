"""Backstop schedule: ingest hourly even if the sensor is off."""

from __future__ import annotations

import dagster as dg

from orchestration.lake.assets import outbox_events

outbox_events_hourly = dg.ScheduleDefinition(
    name="outbox_events_hourly",
    cron_schedule="17 * * * *",
    target=[outbox_events],
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Backstop for outbox_events_sensor.",
)
