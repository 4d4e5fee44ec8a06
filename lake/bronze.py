"""Reading the bronze `outbox_events` table by ingest snapshot: each snapshot the ingest commits
carries its xid horizon, so the rows of one horizon range are exactly the data files that snapshot
added (compaction snapshots carry no horizon and are walked past)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot

from lake.ingest import HORIZON_PROPERTY
from lake.shipper import snapshot_int_property

BRONZE_COLUMNS = ("event_seq", "event_id", "event_type", "occurred_at", "payload")


@dataclass(frozen=True, slots=True)
class BronzeSlice:
    """The rows one bronze ingest snapshot added: outbox rows with previous <= txid < horizon."""

    horizon: int
    snapshot_id: int
    records: int
    files: tuple[DataFile, ...]


def ingest_ancestors(bronze: Table, above: int) -> list[Snapshot]:
    """Ingest snapshots (carrying a horizon) with horizon > `above`, oldest first."""
    found: list[Snapshot] = []
    snapshot = bronze.current_snapshot()
    while snapshot is not None:
        horizon = snapshot_int_property(snapshot, HORIZON_PROPERTY)
        if horizon is not None:
            if horizon <= above:
                break
            found.append(snapshot)
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = bronze.metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    found.reverse()
    return found


def _added_files(bronze: Table, snapshot: Snapshot) -> tuple[DataFile, ...]:
    files = []
    for manifest in snapshot.manifests(bronze.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(bronze.io, discard_deleted=False):
            if (
                entry.status == ManifestEntryStatus.ADDED
                and entry.snapshot_id == snapshot.snapshot_id
            ):
                files.append(entry.data_file)
    return tuple(files)


def bronze_slices(bronze: Table, above: int) -> list[BronzeSlice]:
    slices = []
    for snapshot in ingest_ancestors(bronze, above):
        horizon = snapshot_int_property(snapshot, HORIZON_PROPERTY)
        assert horizon is not None
        summary = snapshot.summary
        records = int(summary.additional_properties.get("added-records", 0)) if summary else 0
        slices.append(
            BronzeSlice(horizon, snapshot.snapshot_id, records, _added_files(bronze, snapshot))
        )
    return slices


def read_bronze_file(bronze: Table, data_file: DataFile) -> pa.Table:
    projected = bronze.schema().select(*BRONZE_COLUMNS)
    scan = ArrowScan(bronze.metadata, bronze.io, projected, AlwaysTrue())
    return scan.to_table([FileScanTask(data_file)])


def groups(slices: list[BronzeSlice], group_rows: int) -> Iterator[list[BronzeSlice]]:
    group: list[BronzeSlice] = []
    rows = 0
    for piece in slices:
        if group and rows + piece.records > group_rows:
            yield group
            group, rows = [], 0
        group.append(piece)
        rows += piece.records
    if group:
        yield group
