"""The lake part of an erasure: catch the lake up, then, holding every lake writer's lock,
rewrite the subject's rows table by table, cut each rewritten table's history and remove the
files nothing references any more.

Why catch up first and hold the locks: silver is derived from the files that bronze ingest
snapshots added; once those snapshots are expired, a silver run still behind bronze could not
find its slices. With silver at the bronze horizon and the writers paused, the watermarks carried
onto the new snapshots are exactly right.

Per table, `lake:<table>:rewritten` is recorded once its OVERWRITE commit is in, and
`lake:<table>` once its history is cut; a crash in between resumes with the cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

import psycopg
from psycopg import sql
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table

from core.db import AdvisoryLock
from core.settings import Settings
from lake import ingest, silver
from lake.catalog import load_catalog
from lake.decisions import ship_decisions
from lake.pseudonym import pseudonymize
from lake.tables import OUTBOX_EVENTS, identifier
from privacy import lake_rows, postgres, requests
from privacy.objects import Objects
from privacy.postgres import Subject

CATCH_UP_ATTEMPTS = 5
SHIP_TIMEOUT_SECONDS = 300.0
OUTBOX = "events.outbox"


def catch_up(settings: Settings) -> dict[str, Any]:
    """Outbox -> bronze -> every silver table (idle ones too) and the decision log."""
    ingested = ingest.ingest_outbox(settings)
    derived = silver.derive_silver(settings, advance_idle=True)
    shipped = ship_decisions(settings)
    return {
        "bronze_rows": ingested.rows,
        "silver_rows": derived.total_rows,
        "decision_rows": shipped.rows,
    }


def bronze_horizon(settings: Settings) -> int:
    catalog = load_catalog(settings, create_namespace=False)
    try:
        return ingest.read_horizon(catalog.load_table(identifier(settings, OUTBOX_EVENTS)))
    except (NoSuchTableError, NoSuchNamespaceError):
        return 0


def ship_subject(
    settings: Settings,
    conn: psycopg.Connection[Any],
    inventory: Mapping[str, Any],
    user_id: str,
    *,
    timeout: float = SHIP_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Catch the lake up until bronze holds every outbox event about the subject (the horizon
    is the cluster's oldest running transaction, so one run may not reach her newest events);
    then the PostgreSQL step may delete them without losing learning data."""
    types = postgres.column_types(conn)
    where, params = postgres.any_subject(inventory["postgres"][OUTBOX], types, OUTBOX, user_id)
    newest = sql.SQL("select max(txid::text::bigint) from events.outbox where {}").format(where)
    deadline = time.monotonic() + timeout
    while True:
        report = catch_up(settings)
        row = conn.execute(newest, params).fetchone()
        needed = row[0] if row else None
        if needed is None or bronze_horizon(settings) > int(needed):
            return report
        if time.monotonic() > deadline:
            raise TimeoutError("the lake did not catch up with the subject's events; resume later")
        time.sleep(1.0)


def writer_locks(settings: Settings) -> list[AdvisoryLock]:
    """The locks of every process that commits to the lake's tables."""
    namespace = settings.lake_namespace
    return [
        AdvisoryLock(ingest._lock_key(settings)),
        AdvisoryLock(silver._lock_key(settings)),
        AdvisoryLock(f"dreamseed.lake.decisions:{namespace}"),
        AdvisoryLock(f"dreamseed.lake.dims:{namespace}"),
    ]


def silver_caught_up(settings: Settings) -> bool:
    horizon = bronze_horizon(settings)
    marks = silver.silver_watermarks(settings)
    return all(mark >= horizon for mark in marks.values())


def remove_orphans(table: Table, objects: Objects) -> int:
    """Delete the table's data and manifest files no remaining snapshot references (old
    metadata JSON files stay: they hold no rows and the metadata log names them)."""
    keep = lake_rows.referenced_files(table)
    orphans = [
        uri
        for uri in objects.list_uri(table.location())
        if uri not in keep and not uri.endswith(".metadata.json")
    ]
    return objects.remove_uris(orphans)


def _erase_table(
    conn: psycopg.Connection[Any],
    request_id: str,
    done: Mapping[str, Any],
    objects: Objects,
    name: str,
    entry: Mapping[str, Any],
    table: Table,
    subject: Subject,
    keys: tuple[str, str, str],
    hook: Callable[[str], None] | None,
) -> dict[str, Any]:
    key, tombstone, tombstone_key = keys
    marker = f"lake:{name}:rewritten"
    detail: dict[str, Any] = dict(done.get(marker, {}))
    if marker not in done:
        table_bytes = lake_rows.table_bytes(table)
        table, rows, files = lake_rows.rewrite_subject(
            table, name, entry, subject, key, tombstone, tombstone_key
        )
        detail = {
            "rows": rows,
            "files_rewritten": len(files),
            "bytes_rewritten": sum(f.file_size_in_bytes for f in files),
            "table_bytes": table_bytes,
        }
        requests.finish_step(conn, request_id, marker, detail)
        if hook is not None:
            hook(marker)
    if detail["rows"]:
        table, expired = lake_rows.cut_history(table)
        detail = {
            **detail,
            "snapshots_expired": expired,
            "files_removed": remove_orphans(table, objects),
        }
    requests.finish_step(conn, request_id, f"lake:{name}", detail)
    return detail


def erase_lake(
    settings: Settings,
    inventory: Mapping[str, Any],
    subject: Subject,
    tombstone: str,
    conn: psycopg.Connection[Any],
    request: requests.PrivacyRequest,
    hook: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    keys = (
        pseudonymize(settings.pseudonym_key, subject.user_id),
        tombstone,
        pseudonymize(settings.pseudonym_key, tombstone),
    )
    objects = Objects(settings)
    for _ in range(CATCH_UP_ATTEMPTS):
        catch_up(settings)
        with ExitStack() as stack:
            for lock in writer_locks(settings):
                stack.enter_context(lock.on_own_connection(settings.database_url))
            if not silver_caught_up(settings):
                continue  # an ingest slipped in between: catch up again
            done = requests.steps_done(conn, request.request_id)
            catalog = load_catalog(settings, create_namespace=False)
            report = {}
            for name, entry, table in lake_rows.iter_tables(catalog, settings, inventory):
                if f"lake:{name}" in done:
                    report[name] = done[f"lake:{name}"]
                    continue
                report[name] = _erase_table(
                    conn, request.request_id, done, objects, name, entry, table, subject, keys, hook
                )
            return {n: d for n, d in report.items() if d.get("rows")}
    raise RuntimeError("the lake kept moving: silver never caught up with bronze")
