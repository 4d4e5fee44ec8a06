"""A subject's rows in the lake's Iceberg tables: found, rewritten, and purged from history.

Silver, dimension and decision tables hold people only as pseudonymous keys (`lake.pseudonym`):
the subject's rows are those whose `*_key` subject columns equal HMAC(key, her id). The bronze
`outbox_events` keeps raw ids inside `aggregate_id` and the JSON `payload`.

Erasure rewrites only the data files that hold her rows (copy-on-write, one OVERWRITE snapshot per
table): her key becomes the pseudonym of the tombstone id, her raw id in bronze becomes the
tombstone id, free text is dropped. Every earlier snapshot still references the old files, so the
tables' history is then cut: an empty append drops the manifest of deleted entries (their column
bounds could hold her key), every snapshot but the current one is expired, and the files no
remaining snapshot references (old data files, manifests, manifest lists) are deleted.

Watermarks that the lake's writers keep in snapshot summaries (`dreamseed.*` properties) are
carried onto the new snapshots, so ingest, silver and dimension runs continue where they were.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from core.settings import Settings
from lake.tables import identifier
from lake.writer import write_day_partitions
from privacy.postgres import FREE_TEXT, Subject

BRONZE = "outbox_events"
RAW_ID_COLUMNS = ("aggregate_id", "payload")
WATERMARK_PREFIX = "dreamseed."


def existing_tables(catalog: Catalog, settings: Settings, names: Iterable[str]) -> dict[str, Table]:
    found = {}
    for name in names:
        try:
            found[name] = catalog.load_table(identifier(settings, name))
        except (NoSuchTableError, NoSuchNamespaceError):
            continue
    return found


def key_columns(entry: Mapping[str, Any]) -> list[str]:
    """Subject columns holding pseudonyms (bronze's raw-id columns are searched apart)."""
    return [c for c in entry["subject_columns"] if c not in RAW_ID_COLUMNS]


def _is_list(kind: pa.DataType) -> bool:
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind))


def _key_filter(columns: list[str], key: str) -> BooleanExpression | str:
    """`a_key = '…' OR b_key = '…'` (pseudonyms are hex: nothing to escape)."""
    if not columns or not all(ch in "0123456789abcdef" for ch in key):
        return AlwaysTrue()
    return " OR ".join(f"{c} = '{key}'" for c in columns)


def _identity_strings(table: pa.Table, entry: Mapping[str, Any]) -> list[str]:
    """Identity columns of string type: pseudonyms, and values that may embed an id (a
    submission's `policy_decisions.resource_id` is `<assignment>/<student pseudonym>`; rows
    shipped before lake.decisions pseudonymised it hold the raw student id there)."""
    return [
        c
        for c, kind in entry["columns"].items()
        if kind == "identity"
        and c in table.column_names
        and c != "payload"
        and (
            pa.types.is_string(table.schema.field(c).type)
            or pa.types.is_large_string(table.schema.field(c).type)
        )
    ]


def subject_mask(
    table: pa.Table, name: str, entry: Mapping[str, Any], subject: Subject, key: str
) -> pa.Array:
    """True for the rows of `table` that are the subject's: her pseudonym in a key column, or
    her raw id inside an identity value or the bronze payload."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for column in key_columns(entry):
        if column in table.column_names:
            values = table.column(column)
            if _is_list(values.type):  # a list of keys (an assignment's listed students)
                hit = pa.array([key in (v or ()) for v in values.to_pylist()], pa.bool_())
            else:
                hit = pc.fill_null(pc.equal(values, key), False)
            mask = pc.or_kleene(mask, hit)
    for column in _identity_strings(table, entry):
        hit = pc.match_substring(table.column(column), subject.user_id)
        mask = pc.or_kleene(mask, pc.fill_null(hit, False))
        if not column.endswith("_key"):  # a pure pseudonym column was compared whole above
            # her pseudonym inside a value (a submission's resource id embeds it)
            hit = pc.match_substring(table.column(column), key)
            mask = pc.or_kleene(mask, pc.fill_null(hit, False))
    if name == BRONZE:
        hit = pc.match_substring(table.column("payload"), subject.user_id)
        mask = pc.or_kleene(mask, pc.fill_null(hit, False))
    return mask


def read_file(table: Table, data_file: DataFile) -> pa.Table:
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    return scan.to_table([FileScanTask(data_file)])


def candidate_files(table: Table, name: str, entry: Mapping[str, Any], key: str) -> list[DataFile]:
    """Data files of the current snapshot that may hold the subject (bounds prune the rest)."""
    row_filter: BooleanExpression | str = AlwaysTrue()
    columns = key_columns(entry)
    if name != BRONZE and all(c.endswith("_key") for c in columns):
        # Only pure pseudonym columns: column bounds prune files. Otherwise (raw ids embedded
        # in values) every file is read.
        row_filter = _key_filter(columns, key)
    return [task.file for task in table.scan(row_filter=row_filter).plan_files()]


def export_table(
    table: Table, name: str, entry: Mapping[str, Any], subject: Subject, key: str
) -> pa.Table:
    parts = []
    for data_file in candidate_files(table, name, entry, key):
        rows = read_file(table, data_file)
        parts.append(rows.filter(subject_mask(rows, name, entry, subject, key)))
    if not parts:
        return table.schema().as_arrow().empty_table()
    return pa.concat_tables(parts, promote_options="permissive")


def _replace_in_json(value: Any, swaps: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_in_json(v, swaps) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in_json(v, swaps) for v in value]
    if isinstance(value, str):
        if value in swaps:
            return swaps[value]
        for old, new in swaps.items():
            if len(old) >= 32:  # ids embedded in longer strings (e.g. xAPI actor names)
                value = value.replace(old, new)
        return value
    return value


def _rewrite_payload(payload: str, swaps: Mapping[str, str]) -> str:
    return json.dumps(_replace_in_json(json.loads(payload), swaps), separators=(",", ":"))


def rewrite_rows(
    rows: pa.Table,
    mask: pa.Array,
    name: str,
    entry: Mapping[str, Any],
    subject: Subject,
    key: str,
    tombstone: str,
    tombstone_key: str,
) -> pa.Table:
    """The subject's rows with her key/id replaced by the tombstone's and free text dropped."""
    for column in key_columns(entry):
        if column in rows.column_names and _is_list(rows.column(column).type):
            swapped = [
                None if v is None else [tombstone_key if x == key else x for x in v]
                for v in rows.column(column).to_pylist()
            ]
            new_list = pa.array(swapped, rows.column(column).type)
            rows = rows.set_column(rows.column_names.index(column), column, new_list)
        elif column in rows.column_names:
            old = rows.column(column)
            hit = pc.fill_null(pc.equal(old, key), False)
            new = pc.if_else(hit, pa.scalar(tombstone_key, old.type), old)
            rows = rows.set_column(rows.column_names.index(column), column, new)
    for column in _identity_strings(rows, entry):
        old = rows.column(column)
        new = pc.replace_substring(old, subject.user_id, tombstone)
        if not column.endswith("_key"):
            new = pc.replace_substring(new, key, tombstone_key)
        rows = rows.set_column(rows.column_names.index(column), column, new)
    for column, kind in entry["columns"].items():
        if kind in FREE_TEXT and column in rows.column_names:
            old = rows.column(column)
            new = pc.if_else(mask, pa.scalar(None, old.type), old)
            rows = rows.set_column(rows.column_names.index(column), column, new)
    if name == BRONZE:
        swaps = {subject.user_id: tombstone}
        if subject.email:
            swaps[subject.email] = f"erased-{tombstone}@erased.invalid"
        if subject.display_name:
            swaps[subject.display_name] = "erased"
        flags = mask.to_pylist()
        aggregate = [
            tombstone if (f and a == subject.user_id) else a
            for a, f in zip(rows.column("aggregate_id").to_pylist(), flags, strict=True)
        ]
        payload = [
            _rewrite_payload(p, swaps) if f else p
            for p, f in zip(rows.column("payload").to_pylist(), flags, strict=True)
        ]
        for column, values in (("aggregate_id", aggregate), ("payload", payload)):
            index = rows.column_names.index(column)
            rows = rows.set_column(index, column, pa.array(values, rows.column(column).type))
    return rows


def carried_properties(table: Table) -> dict[str, str]:
    """The nearest value of every `dreamseed.*` summary property along the current lineage."""
    found: dict[str, str] = {}
    snapshot = table.current_snapshot()
    while snapshot is not None:
        if snapshot.summary is not None:
            for k, v in snapshot.summary.additional_properties.items():
                if k.startswith(WATERMARK_PREFIX):
                    found.setdefault(k, v)
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return found


def table_bytes(table: Table) -> int:
    return sum(task.file.file_size_in_bytes for task in table.scan().plan_files())


def rewrite_subject(
    table: Table,
    name: str,
    entry: Mapping[str, Any],
    subject: Subject,
    key: str,
    tombstone: str,
    tombstone_key: str,
) -> tuple[Table, int, list[DataFile]]:
    """One OVERWRITE snapshot replacing the files that hold the subject's rows."""
    replaced: list[tuple[DataFile, pa.Table]] = []
    rows = 0
    for data_file in candidate_files(table, name, entry, key):
        content = read_file(table, data_file)
        mask = subject_mask(content, name, entry, subject, key)
        hits = pc.sum(pc.cast(mask, pa.int64())).as_py() or 0
        if hits:
            rows += hits
            rewritten = rewrite_rows(
                content, mask, name, entry, subject, key, tombstone, tombstone_key
            )
            replaced.append((data_file, rewritten))
    if not replaced:
        return table, 0, []
    properties = carried_properties(table)
    tx = table.transaction()
    with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
        counter = itertools.count(0)
        for old, content in replaced:
            overwrite.delete_data_file(old)
            for new in write_day_partitions(
                tx.table_metadata, table.io, content, overwrite.commit_uuid, counter
            ):
                overwrite.append_data_file(new)
    tx.commit_transaction()
    return table.refresh(), rows, [old for old, _ in replaced]


def cut_history(table: Table) -> tuple[Table, int]:
    """Drop the deleted-entries manifest (an empty append) and expire every other snapshot."""
    with table.transaction() as tx:
        tx.update_snapshot(snapshot_properties=carried_properties(table)).fast_append().commit()
    table = table.refresh()
    current = table.current_snapshot()
    assert current is not None
    older = [
        s.snapshot_id for s in table.metadata.snapshots if s.snapshot_id != current.snapshot_id
    ]
    if older:
        table.maintenance.expire_snapshots().by_ids(older).commit()
        table = table.refresh()
    return table, len(older)


def referenced_files(table: Table) -> set[str]:
    """Every file the table's remaining snapshots (and its current metadata) point at."""
    files = {table.metadata_location}
    for snapshot in table.metadata.snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                files.add(entry.data_file.file_path)
    for statistics in table.metadata.statistics:
        files.add(statistics.statistics_path)
    return files


def iter_tables(
    catalog: Catalog, settings: Settings, inventory: Mapping[str, Any]
) -> Iterator[tuple[str, Mapping[str, Any], Table]]:
    entries = {n: e for n, e in inventory["lake"].items() if e.get("subject_columns")}
    for name, table in existing_tables(catalog, settings, entries).items():
        yield name, entries[name], table
