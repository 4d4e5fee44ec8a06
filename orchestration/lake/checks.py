"""Checks on the lake: exactly-once audits, great-expectations suites, freshness."""

from collections.abc import Iterator

import dagster as dg

from lake.decisions import POLICY_DECISIONS
from lake.dims import DIM_TABLES
from lake.silver import SILVER_TABLES
from orchestration.lake.assets import outbox_events
from orchestration.lake.resources import LakeResource

# The ingest is late when a final outbox row has waited longer than this.
FRESHNESS_MAX_LAG_SECONDS = 15 * 60


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


@dg.asset_check(
    asset=outbox_events,
    description=(
        f"Freshness: no final outbox row has waited more than {FRESHNESS_MAX_LAG_SECONDS // 60} "
        "minutes for the ingest (measured from its occurred_at)."
    ),
)
def outbox_events_are_fresh(lake: dg.ResourceParam[LakeResource]) -> dg.AssetCheckResult:
    pending = lake.pending()
    lag = lake.oldest_pending_seconds() if pending else 0.0
    return dg.AssetCheckResult(
        passed=lag <= FRESHNESS_MAX_LAG_SECONDS,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"pending_rows": pending, "oldest_pending_seconds": round(lag, 1)},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "silver_matches_bronze",
            asset=name,
            description=(
                "Exactly once: rows == distinct event ids == bronze rows of the routed types up "
                "to the table's bronze watermark."
            ),
        )
        for name in SILVER_TABLES
    ],
    name="silver_audit",
)
def silver_audit(lake: dg.ResourceParam[LakeResource]) -> Iterator[dg.AssetCheckResult]:
    audit = lake.audit_silver()
    for name in SILVER_TABLES:
        table = audit.tables.get(name)
        yield dg.AssetCheckResult(
            asset_key=name,
            check_name="silver_matches_bronze",
            passed=table is not None and table.exact,
            metadata={
                "rows": table.rows if table else 0,
                "expected": table.expected if table else 0,
                "duplicates": table.duplicates if table else 0,
                "rejected": table.rejected if table else 0,
                "bronze_watermark": table.watermark if table else 0,
                "unknown_types_in_bronze": str(audit.unknown_by_type),
            },
        )


QUALITY_TABLES = (*SILVER_TABLES, POLICY_DECISIONS, *DIM_TABLES)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "quality_suite",
            asset=name,
            description="great-expectations suite on the last 7 days (lake/quality.py).",
        )
        for name in QUALITY_TABLES
    ],
    name="lake_quality_suites",
    can_subset=True,
)
def lake_quality_suites(
    context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> Iterator[dg.AssetCheckResult]:
    for key in context.selected_asset_check_keys:
        name = key.asset_key.to_user_string()
        result = lake.quality(name)
        yield dg.AssetCheckResult(
            asset_key=name,
            check_name="quality_suite",
            passed=result.success,
            metadata={
                "rows": result.rows,
                "expectations": result.evaluated,
                "failures": dg.MetadataValue.json(result.failures),
            },
        )


lake_checks = [
    outbox_events_have_unique_event_ids,
    outbox_events_match_outbox_count,
    outbox_events_are_fresh,
    silver_audit,
    lake_quality_suites,
]
