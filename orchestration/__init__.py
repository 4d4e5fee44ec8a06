"""DreamSeed's Dagster app: the lake ingest and the dbt transforms as assets, checks, sensors,
schedules. `orchestration.definitions` is what Dagster loads; tests build their own Definitions
with `orchestration.builder.build_definitions(settings)`."""
