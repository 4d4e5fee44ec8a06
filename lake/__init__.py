"""The lakehouse library: object store, Iceberg catalog and tables, outbox ingest, DuckDB sessions.

Imported by apps (orchestration, cli, dashboards); never imports them. Every entry point takes a
`core.settings.Settings` so tests can point it at a scratch database and a private namespace.
"""
