"""Lake assets. Asset names are the Iceberg table names; groups are the lake's layers:
`lake` (bronze), `lake_silver` (typed tables + policy decisions), `lake_dims` (daily snapshots)."""

from collections.abc import Iterator

import dagster as dg

from lake.decisions import POLICY_DECISIONS
from lake.dims import DIM_TABLES
from lake.silver import SILVER_ROUTES, SILVER_TABLES
from lake.tables import OUTBOX_EVENTS
from lake.warehouse import COPY_TABLES, SCHEMA, copy_table
from orchestration.lake.resources import LakeResource


@dg.asset(
    name=OUTBOX_EVENTS,
    group_name="lake",
    kinds={"iceberg", "postgres"},
    description=(
        "Bronze copy of events.outbox in Iceberg, exactly once: the watermark is a transaction-id "
        "horizon stored in the snapshot that appends the rows."
    ),
)
def outbox_events(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> dg.MaterializeResult[None]:
    result = lake.ingest()
    context.log.info(
        f"ingested {result.rows} outbox rows in {result.seconds:.2f}s "
        f"(horizon {result.previous_horizon} -> {result.horizon})"
    )
    return dg.MaterializeResult(
        metadata={
            "rows": result.rows,
            "committed": result.committed,
            "xmin_horizon": result.horizon,
            "previous_horizon": result.previous_horizon,
            "snapshot_id": str(result.snapshot_id) if result.snapshot_id is not None else "",
            "data_files": result.data_files,
            "rows_per_second": round(result.rows_per_second, 1),
        }
    )


def _families(table: str) -> str:
    return ", ".join(f for f, t in SILVER_ROUTES.items() if t == table)


SILVER_SPECS = [
    dg.AssetSpec(
        name,
        group_name="lake_silver",
        kinds={"iceberg"},
        deps=[OUTBOX_EVENTS],
        description=(
            f"Typed silver table of the {_families(name)} events, derived from bronze exactly "
            "once (bronze horizon kept in its snapshots); partitioned by day of occurred_at; "
            "person ids as HMAC-SHA256 pseudonyms."
        ),
    )
    for name in SILVER_TABLES
]


@dg.multi_asset(specs=SILVER_SPECS, name="silver_tables", can_subset=False)
def silver_tables(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> Iterator[dg.MaterializeResult[None]]:
    result = lake.derive_silver()
    context.log.info(
        f"derived {result.total_rows} silver rows from {result.slices} bronze snapshots "
        f"in {result.seconds:.2f}s; unknown types: {result.unknown or 'none'}"
    )
    for name in SILVER_TABLES:
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "rows": result.rows.get(name, 0),
                "rejected": result.rejected.get(name, 0),
                "bronze_slices": result.slices,
                "unknown_event_types": str(result.unknown),
            },
        )


@dg.asset(
    name=POLICY_DECISIONS,
    group_name="lake_silver",
    kinds={"iceberg", "postgres"},
    description=(
        "governance.decisions shipped exactly once (xid horizon in the snapshot), subject and "
        "person resources pseudonymised; partitioned by day of decided_at."
    ),
)
def policy_decisions(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> dg.MaterializeResult[None]:
    result = lake.ship_decisions()
    context.log.info(
        f"shipped {result.rows} decisions ({result.previous_horizon} -> {result.horizon})"
    )
    return dg.MaterializeResult(
        metadata={"rows": result.rows, "committed": result.committed, "horizon": result.horizon}
    )


DIM_SPECS = [
    dg.AssetSpec(
        name,
        group_name="lake_dims",
        kinds={"iceberg", "postgres"},
        description=(
            "Daily snapshot of an OLTP dimension (one partition per snapshot_date, appended once "
            "per day; person ids pseudonymised, no PII)."
        ),
    )
    for name in DIM_TABLES
]


@dg.multi_asset(specs=DIM_SPECS, name="dimension_snapshots", can_subset=False)
def dimension_snapshots(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> Iterator[dg.MaterializeResult[None]]:
    result = lake.snapshot_dimensions()
    context.log.info(f"snapshot {result.snapshot_date}: {result.rows}, skipped {result.skipped}")
    for name in DIM_TABLES:
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "snapshot_date": result.snapshot_date.isoformat(),
                "rows": result.rows.get(name, 0),
                "already_had_the_day": name in result.skipped,
            },
        )


class RebuildConfig(dg.Config):
    tables: list[str]


@dg.op(description="Empty the given silver tables and derive them again from all of bronze.")
def rebuild_silver_op(
    context: dg.OpExecutionContext, config: RebuildConfig, lake: dg.ResourceParam[LakeResource]
) -> None:
    result = lake.rebuild_silver(config.tables)
    context.log.info(f"rebuilt {config.tables}: {result.rows}")


@dg.job(name="silver_backfill", description="Backfill: rebuild silver tables from bronze.")
def silver_backfill() -> None:
    rebuild_silver_op()


COPY_SPECS = [
    dg.AssetSpec(
        [SCHEMA, name],
        group_name=SCHEMA,
        kinds={"iceberg", "postgres"},
        deps=[name],
        description=(
            f"The lake's {name} copied into PostgreSQL ({SCHEMA}.{name}) for the dbt marts, "
            "incrementally by Iceberg snapshot (only the files appended since the last copy; "
            f"bookkeeping in {SCHEMA}.copy_state, same transaction); pseudonymised, no text."
        ),
    )
    for name in COPY_TABLES
]


@dg.multi_asset(specs=COPY_SPECS, name="lake_silver_copies", can_subset=True)
def lake_silver_copies(
    context: dg.AssetExecutionContext, lake: dg.ResourceParam[LakeResource]
) -> Iterator[dg.MaterializeResult[None]]:
    selected = {key.path[-1] for key in context.selected_asset_keys}
    for name in COPY_TABLES:
        if name not in selected:
            continue
        result = copy_table(lake.settings, name)
        context.log.info(
            f"{SCHEMA}.{name}: {result.mode}, {result.rows_added} rows added "
            f"({result.rows_read} read from {result.files} files) in {result.seconds:.2f}s"
        )
        yield dg.MaterializeResult(
            asset_key=[SCHEMA, name],
            metadata={
                "mode": result.mode,
                "rows_read": result.rows_read,
                "rows_added": result.rows_added,
                "files_read": result.files,
                "lake_snapshot_id": str(result.snapshot_id or ""),
                "previous_snapshot_id": str(result.previous_snapshot_id or ""),
            },
        )


lake_assets = [
    outbox_events,
    silver_tables,
    policy_decisions,
    dimension_snapshots,
    lake_silver_copies,
]
lake_jobs = [silver_backfill]
