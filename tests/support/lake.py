"""Ship what a test wrote through the lake: outbox -> bronze -> silver, and the decision log.

The bronze horizon is `pg_snapshot_xmin` of the server: while any transaction older than this
test's rows is open (other suites share the server), ingest stops short of them. `ship` repeats
until every outbox row written so far lies below the horizon, so a test never reads a lake that
simply has not caught up yet.
"""

from __future__ import annotations

import time

import psycopg

from core.settings import Settings
from lake.decisions import ship_decisions
from lake.ingest import ingest_outbox
from lake.silver import derive_silver
from lake.warehouse import COPY_TABLES, copy_table
from privacy.lake_erasure import bronze_horizon


def ship(settings: Settings, timeout: float = 120.0, *, copies: bool = False) -> None:
    """One more snapshot per table, repeated until bronze holds every event written so far;
    with `copies`, then the silver tables' copies in PostgreSQL (`lake_silver.*`, for dbt)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("select max(txid::text::bigint) from events.outbox").fetchone()
    needed = int(row[0]) if row and row[0] is not None else 0
    deadline = time.monotonic() + timeout
    while True:
        ingest_outbox(settings)
        derive_silver(settings, advance_idle=True)
        ship_decisions(settings)
        if bronze_horizon(settings) > needed:
            for table in COPY_TABLES if copies else ():
                copy_table(settings, table)
            return
        assert time.monotonic() < deadline, "the lake did not catch up with the outbox"
        time.sleep(0.5)
