"""Build the Definitions from one Settings object (tests pass their own)."""

from __future__ import annotations

import dagster as dg

from core.settings import Settings
from orchestration.analytics.assets import build_dbt_assets
from orchestration.analytics.checks import (
    LiveAnalyticsResource,
    live_analytics_match_marts,
    live_analytics_nightly,
    live_analytics_nightly_job,
)
from orchestration.analytics.dashboards import dashboard_specs
from orchestration.analytics.resources import build_dbt_resource, dbt_project
from orchestration.analytics.sensors import marts_after_lake_sensor
from orchestration.calibration.assets import item_parameters, live_item_parameters
from orchestration.calibration.checks import calibration_checks
from orchestration.calibration.resources import CalibrationResource
from orchestration.calibration.schedules import calibration_nightly
from orchestration.fairness.assets import item_dif
from orchestration.fairness.checks import fairness_checks
from orchestration.fairness.resources import FairnessResource
from orchestration.lake.assets import lake_assets, lake_jobs
from orchestration.lake.checks import lake_checks
from orchestration.lake.resources import LakeResource
from orchestration.lake.schedules import lake_schedules
from orchestration.lake.sensors import lake_sensors
from orchestration.learning.jobs import MediaResource, learning_jobs, learning_schedules
from orchestration.privacy.jobs import PrivacyResource, privacy_jobs
from orchestration.privacy.schedules import privacy_schedules
from orchestration.privacy.sensors import privacy_sensors


def build_definitions(settings: Settings) -> dg.Definitions:
    project = dbt_project()
    return dg.Definitions(
        assets=[
            *lake_assets,
            build_dbt_assets(project),
            item_parameters,
            live_item_parameters,
            item_dif,
            *dashboard_specs(),
        ],
        jobs=[*lake_jobs, *learning_jobs, *privacy_jobs, live_analytics_nightly_job],
        asset_checks=[
            *lake_checks,
            *calibration_checks,
            *fairness_checks,
            live_analytics_match_marts,
        ],
        sensors=[*lake_sensors, *privacy_sensors, marts_after_lake_sensor],
        schedules=[
            *lake_schedules,
            live_analytics_nightly,
            calibration_nightly,
            *learning_schedules,
            *privacy_schedules,
        ],
        resources={
            "lake": LakeResource(settings),
            "dbt": build_dbt_resource(settings, project),
            "calibration": CalibrationResource(settings),
            "fairness": FairnessResource(settings),
            "media": MediaResource(settings),
            "privacy": PrivacyResource(settings),
            "live_analytics": LiveAnalyticsResource(settings),
        },
    )
