"""Checks on the bronze tables."""

import dagster as dg

from orchestration.lake.assets import outbox_events
from orchestration.lake.resources import LakeResource


@dg.asset_check(asset=outbox_events, blocking=True, description="No event id appears twice.")
def outbox_events_have_unique_event_ids(
    lake: dg.ResourceParam[LakeResource],
) -> dg.AssetCheckResult:
    audit = lake.audit()
    return dg.AssetCheckResult(
        passed=audit.duplicates == 0,
        metadata={"rows": audit.lake_rows, "duplicates": audit.duplicates},
    )


@dg.asset_check(
    asset=outbox_events,
    description=(
        "The lake holds exactly the outbox rows below its horizon (assumes the outbox is never "
        "purged; a retention job must move this check to a count kept at purge time)."
    ),
)
def outbox_events_match_outbox_count(lake: dg.ResourceParam[LakeResource]) -> dg.AssetCheckResult:
    audit = lake.audit()
    return dg.AssetCheckResult(
        passed=audit.missing == 0 and audit.duplicates == 0,
        metadata={
            "lake_rows": audit.lake_rows,
            "outbox_rows_below_horizon": audit.outbox_rows_below_horizon,
            "xmin_horizon": audit.horizon,
        },
    )


lake_checks = [outbox_events_have_unique_event_ids, outbox_events_match_outbox_count]
