"""Asset checks of the marts against other views of the same facts."""

from __future__ import annotations

import dagster as dg

from core.settings import Settings
from orchestration.analytics.live import SHOWN, TOLERANCE, compare


class LiveAnalyticsResource:
    """Where the live figures and the marts are (one PostgreSQL database)."""

    def __init__(self, settings: Settings) -> None:
        self.database_url = settings.database_url
        self.pseudonym_key = settings.pseudonym_key


@dg.asset_check(
    asset=dg.AssetKey("fct_student_skill_mastery"),
    name="live_analytics_match_marts",
    additional_deps=[dg.AssetKey("agg_class_performance")],
    description=(
        "The live learner analytics (schema live, kept by the analytics consumer) agree with "
        f"fct_student_skill_mastery and agg_class_performance within {TOLERANCE}."
    ),
)
def live_analytics_match_marts(
    live_analytics: dg.ResourceParam[LiveAnalyticsResource],
) -> dg.AssetCheckResult:
    outcome = compare(live_analytics.database_url, live_analytics.pseudonym_key)
    return dg.AssetCheckResult(
        passed=outcome.passed,
        metadata={
            "classes_compared": outcome.classes,
            "skill_rows_compared": outcome.skill_rows,
            "disagreements": len(outcome.disagreements),
            "first_disagreements": dg.MetadataValue.json(outcome.disagreements[:SHOWN]),
        },
    )


#: A check-only job: the nightly comparison, after the night's lake ingest and marts.
live_analytics_nightly_job = dg.define_asset_job(
    "live_analytics_nightly",
    selection=dg.AssetSelection.checks(live_analytics_match_marts),
    description="Compare the live learner analytics with the dbt marts.",
)
live_analytics_nightly = dg.ScheduleDefinition(
    name="live_analytics_nightly",
    cron_schedule="30 3 * * *",
    job=live_analytics_nightly_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: live_analytics_match_marts (live figures against the marts).",
)
