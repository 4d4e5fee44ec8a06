"""Retention runs once a day, at a quiet hour."""

from __future__ import annotations

import dagster as dg

from orchestration.privacy.jobs import privacy_retention

privacy_retention_daily = dg.ScheduleDefinition(
    name="privacy_retention_daily",
    cron_schedule="17 3 * * *",
    job=privacy_retention,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: apply each inventory retention class and report what was removed.",
)

privacy_schedules = [privacy_retention_daily]
