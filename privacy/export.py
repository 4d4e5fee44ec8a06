"""Subject export: every record the inventory ties to one person, in one archive in the bucket.

The archive (`privacy/<namespace>/exports/<request_id>.zip`) holds `manifest.json` (what was
searched and how many records each place gave), `records.json` (every record, by store and
table), one CSV per table, and the files she uploaded (`files/<media_id>-<name>`). Credentials
(password hashes, join codes) are never exported. The requester gets a short-lived presigned link.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from core.settings import Settings
from governance.inventory import load as load_inventory
from lake.catalog import load_catalog
from lake.pseudonym import pseudonymize
from privacy import lake_rows, postgres, redis_keys, requests
from privacy.objects import Objects

LINK_SECONDS = 300
Records = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ExportResult:
    request_id: str
    archive_key: str
    counts: dict[str, dict[str, int]]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    columns = sorted({c for row in rows for c in row})
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: json.dumps(v, default=_json_default)
                if isinstance(v, dict | list)
                else _json_default(v)
                if v is not None and not isinstance(v, str | int | float | bool)
                else v
                for c, v in row.items()
            }
        )
    return out.getvalue().encode()


def lake_records(
    settings: Settings, inventory: Mapping[str, Any], subject: postgres.Subject
) -> Records:
    key = pseudonymize(settings.pseudonym_key, subject.user_id)
    catalog = load_catalog(settings, create_namespace=False)
    found: Records = {}
    for name, entry, table in lake_rows.iter_tables(catalog, settings, inventory):
        rows = lake_rows.export_table(table, name, entry, subject, key)
        found[name] = rows.to_pylist()
    return found


def media_files(conn: psycopg.Connection[Any], objects: Objects, user_id: str) -> dict[str, bytes]:
    """The files she uploaded (ready ones), by archive path."""
    rows = conn.execute(
        "select media_id::text, filename, object_key from learning.media"
        " where user_id::text = %s and status = 'ready'",
        (user_id,),
    ).fetchall()
    files = {}
    for media_id, filename, object_key in rows:
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in (filename or ""))
        files[f"files/{media_id}-{safe or 'file'}"] = objects.get(object_key)
    return files


def build_archive(
    request_id: str, user_id: str, stores: Mapping[str, Records], files: Mapping[str, bytes]
) -> bytes:
    counts = {
        store: {t: len(rows) for t, rows in tables.items()} for store, tables in stores.items()
    }
    manifest = {
        "request_id": request_id,
        "user_id": user_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "records": counts,
        "files": sorted(files),
        "note": "every record DreamSeed's data inventory ties to this person; credentials excluded",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        archive.writestr("records.json", json.dumps(stores, indent=1, default=_json_default))
        for store, tables in stores.items():
            for table, rows in tables.items():
                if rows:
                    archive.writestr(f"csv/{store}/{table}.csv", _csv(rows))
        for path, body in files.items():
            archive.writestr(path, body)
    return buffer.getvalue()


def run_export(settings: Settings, request_id: str) -> ExportResult:
    """Assemble the archive for a request made with `requests.create(kind='export')`."""
    inventory = load_inventory()
    objects = Objects(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        request = requests.load(conn, request_id)
        if request is None or request.kind != "export" or request.user_id is None:
            raise ValueError(f"no export request {request_id}")
        user_id = request.user_id
        try:
            requests.start_step(conn, request_id, "postgres")
            with conn.transaction():  # one consistent view of every table
                conn.execute("set transaction isolation level repeatable read")
                keys = postgres.Keys(pseudonymize(settings.pseudonym_key, user_id))
                pg_rows = postgres.export_rows(conn, inventory, user_id, keys)
                subject = postgres.find_subject(conn, user_id)
                files = media_files(conn, objects, user_id)
            requests.start_step(conn, request_id, "lake")
            lake = lake_records(settings, inventory, subject)
            requests.start_step(conn, request_id, "redis")
            client = redis.Redis.from_url(settings.redis_url)
            found = redis_keys.find(client, inventory, subject)
            redis_records: Records = {
                "keys": [{"key": k, "value": v} for k, v in found.keys.items()],
                "stream_entries": [
                    {"stream": s, "entry_id": i, "fields": f}
                    for s, entries in found.stream_entries.items()
                    for i, f in entries
                ],
            }
            stores = {"postgres": pg_rows, "lake": lake, "redis": redis_records}
            requests.start_step(conn, request_id, "archive")
            body = build_archive(request_id, user_id, stores, files)
            key = objects.export_key(request_id)
            objects.put(key, body, "application/zip")
            counts = {s: {t: len(r) for t, r in tables.items()} for s, tables in stores.items()}
            counts["s3"] = {"media": len(files)}
            requests.finish(
                conn, request_id, {"records": counts, "bytes": len(body)}, archive_key=key
            )
        except Exception as exc:
            requests.fail(conn, request_id, f"{type(exc).__name__}: {exc}")
            raise
    return ExportResult(request_id, key, counts)


def download_link(settings: Settings, request_id: str, seconds: int = LINK_SECONDS) -> str:
    """A presigned link to a finished export's archive (ValueError when it is not ready)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        request = requests.load(conn, request_id)
    if request is None or request.kind != "export":
        raise LookupError(f"no export request {request_id}")
    if request.status != "done" or request.archive_key is None:
        raise ValueError(f"export {request_id} is {request.status}, not ready")
    return Objects(settings).presign(request.archive_key, seconds)
