"""Lake I/O of the DIF pipeline: each attempt's group label under a grouping column.

Groups come from the attempt events: the silver `attempts` table (any of its columns, e.g.
`class_id`, or a column a school's contract adds) when it exists with that column, else the
JSON payloads of `exams.attempt.*` events in the bronze `outbox_events`. One label per attempt
(the latest non-null one); attempts without a label are left out. The responses themselves are
read pinned, as the calibration reads them (`lake.calibration_io.read_responses`).
"""

from __future__ import annotations

import re

import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

from core.settings import Settings
from lake.catalog import load_catalog
from lake.duck import open_session, scan_location
from lake.tables import OUTBOX_EVENTS, identifier

SILVER_ATTEMPTS = "attempts"
_COLUMN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class UnknownGrouping(ValueError):
    """The grouping column is not a column the lake carries for attempts."""


def _scan(metadata_location: str, snapshot_id: int) -> str:
    location = scan_location(metadata_location).replace("'", "''")
    return f"iceberg_scan('{location}', snapshot_from_id => {snapshot_id})"


def _empty() -> pa.Table:
    return pa.table({"attempt_id": pa.array([], pa.string()), "group": pa.array([], pa.string())})


def read_attempt_groups(settings: Settings, column: str) -> pa.Table:
    """``(attempt_id, group)`` for every attempt with a non-null ``column`` (labels as text)."""
    if not _COLUMN.match(column):
        raise UnknownGrouping(f"grouping column {column!r} is not a plain column name")
    catalog = load_catalog(settings, create_namespace=False)
    from_bronze = False
    try:
        silver = catalog.load_table(identifier(settings, SILVER_ATTEMPTS))
    except (NoSuchTableError, NoSuchNamespaceError):
        silver = None
    snapshot = silver.current_snapshot() if silver is not None else None
    if silver is not None and snapshot is not None:
        if column not in {f.name for f in silver.schema().fields}:
            raise UnknownGrouping(f"the lake's attempts have no column {column!r}")
        scan = _scan(str(silver.metadata_location), snapshot.snapshot_id)
        sql = (
            f'select attempt_id, cast("{column}" as varchar) as "group" from {scan}'
            f' where "{column}" is not null'
            " qualify row_number() over (partition by attempt_id order by event_seq desc) = 1"
        )
    else:
        from_bronze = True
        try:
            bronze = catalog.load_table(identifier(settings, OUTBOX_EVENTS))
        except (NoSuchTableError, NoSuchNamespaceError):
            return _empty()
        current = bronze.current_snapshot()
        if current is None:
            return _empty()
        scan = _scan(str(bronze.metadata_location), current.snapshot_id)
        value = f"json_extract_string(payload, '$.{column}')"
        sql = (
            'select attempt_id, "group" from ('
            f"select json_extract_string(payload, '$.attempt_id') as attempt_id,"
            f' {value} as "group", event_seq from {scan}'
            f" where event_type like 'exams.attempt.%' and {value} is not null)"
            " qualify row_number() over (partition by attempt_id order by event_seq desc) = 1"
        )
    con = open_session(settings)
    try:
        found = con.execute(sql).fetch_arrow_table()
        if found.num_rows == 0 and from_bronze:
            # bronze payloads have no schema: a key no attempt event carries is unknown
            events = con.execute(
                f"select count(*) from {scan} where event_type like 'exams.attempt.%'"
            ).fetchone()
            if events is not None and int(events[0]) > 0:
                raise UnknownGrouping(f"no attempt event in the lake carries {column!r}")
        return found
    finally:
        con.close()
