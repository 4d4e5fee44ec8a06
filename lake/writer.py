"""Write Arrow data into a one-field day-partitioned Iceberg table, by hand.

pyiceberg's own partitioned writer computes `day()` through the optional `pyiceberg-core` package,
which is not installed; the day of a UTC timestamp (or a date) is one Arrow cast, so the rows are
split here and pyiceberg gets ready partition keys. Every lake table has exactly one partition
field: `day(<timestamptz or date column>)` or `identity(<date column>)`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import write_file
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import WriteTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.transforms import DayTransform, IdentityTransform


def partition_days(metadata: TableMetadata, chunk: pa.Table) -> pa.Array:
    """Days since the epoch (int32) of each row's partition source column."""
    spec = metadata.spec()
    (field,) = spec.fields
    if not isinstance(field.transform, DayTransform | IdentityTransform):
        raise ValueError(f"unsupported partition transform {field.transform}")
    column = metadata.schema().find_column_name(field.source_id)
    if column is None:
        raise ValueError(f"partition source {field.source_id} is not in the schema")
    values = chunk.column(column)
    if not pa.types.is_date32(values.type):
        values = pc.cast(values, pa.date32())
    return pc.cast(values, pa.int32())


def write_day_partitions(
    metadata: TableMetadata,
    io: FileIO,
    chunk: pa.Table,
    write_uuid: uuid.UUID,
    counter: itertools.count[int],
) -> Iterator[DataFile]:
    """Write one Parquet file per day of the partition column in `chunk`."""
    if chunk.num_rows == 0:
        return
    spec = metadata.spec()
    schema = metadata.schema()
    (day_field,) = spec.fields
    days = partition_days(metadata, chunk)
    tasks = []
    for day in pc.unique(days).to_pylist():
        part = chunk.filter(pc.equal(days, day))
        key = PartitionKey(
            field_values=[PartitionFieldValue(field=day_field, value=day)],
            partition_spec=spec,
            schema=schema,
        )
        tasks.append(
            WriteTask(
                write_uuid=write_uuid,
                task_id=next(counter),
                schema=schema,
                record_batches=part.combine_chunks().to_batches(),
                partition_key=key,
            )
        )
    yield from write_file(io=io, table_metadata=metadata, tasks=iter(tasks))


def append_arrow(
    append: _FastAppendFiles,
    metadata: TableMetadata,
    io: FileIO,
    chunk: pa.Table,
    counter: itertools.count[int],
) -> int:
    """Write `chunk` and stage its files in `append`; return the number of files written."""
    files = 0
    for data_file in write_day_partitions(metadata, io, chunk, append.commit_uuid, counter):
        append.append_data_file(data_file)
        files += 1
    return files
