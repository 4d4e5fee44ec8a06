"""Long-format responses (person, item, response) streamed from Parquet or the lake, by person.

The streamed calibration (`psychometrics.stream`) reads its source once per EM step, so a source
here is re-iterable and yields bounded chunks (about `batch_rows` responses) in which every
person's responses are whole: persons must be sorted in the file. `open_parquet_responses`
checks that in one pass over the person and item columns (which also lists the items) and, for
an unsorted file, first writes a copy sorted by person with DuckDB (which spills to disk under a
memory limit). `open_lake_responses` does the same from the pinned snapshot of the lake's response
table (silver `responses`, else bronze), with the attempt as the person, as the nightly
calibration does; the sorted copy lives in a temporary directory removed by `close()`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from psychometrics.stream import ResponseChunk

# DuckDB and the lake's catalog (pyiceberg) are imported where used: `dreamseed irt calibrate`
# on a sorted Parquet file needs neither.
if TYPE_CHECKING:
    import duckdb

    from core.settings import Settings
    from lake.calibration_io import PinnedSnapshot

__all__ = [
    "LONG_COLUMNS",
    "ParquetResponses",
    "ResponseFileError",
    "open_lake_responses",
    "open_parquet_responses",
]

LONG_COLUMNS = ("person", "item", "response")
BATCH_ROWS = 1 << 20
SORT_MEMORY = "1GB"  # DuckDB spills the sort to disk beyond this


class ResponseFileError(ValueError):
    """The file cannot be read as long-format responses; the message names the column."""


@dataclass
class ParquetResponses:
    """A Parquet file of responses sorted by person, read in chunks of whole persons.

    Attributes:
        path: the (sorted) file read on every pass.
        columns: names of the person, item and response columns.
        item_names: the items, in index order (sorted ids, as text).
        n_responses: rows of the file.
    """

    path: Path
    columns: tuple[str, str, str]
    items: pa.Array
    n_responses: int
    batch_rows: int = BATCH_ROWS
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def item_names(self) -> Sequence[str]:
        return [str(v) for v in self.items.to_pylist()]

    def __iter__(self) -> Iterator[ResponseChunk]:
        person_col, item_col, response_col = self.columns
        reader = pq.ParquetFile(self.path)
        carry: list[np.ndarray] | None = None
        next_index = 0
        last: Any = None
        for batch in reader.iter_batches(self.batch_rows, columns=list(self.columns)):
            if batch.num_rows == 0:
                continue
            people = batch.column(person_col)
            persons, last, next_index = _dense_persons(people, last, next_index)
            items = _item_indices(batch.column(item_col), self.items, item_col)
            codes = _codes(batch.column(response_col), response_col)
            # the batch's last person may go on in the next batch: hold their rows back
            cut = int(np.searchsorted(persons, persons[-1], side="left"))
            parts = [persons, items, codes]
            head = [a[:cut] for a in parts]
            if carry is not None:
                head = [np.concatenate([c, h]) for c, h in zip(carry, head, strict=True)]
            carry = [a[cut:] for a in parts]
            if head[0].size:
                yield ResponseChunk(*head)
        if carry is not None and carry[0].size:
            yield ResponseChunk(*carry)

    def close(self) -> None:
        """Remove the sorted copy, if one was made."""
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> ParquetResponses:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_parquet_responses(
    path: Path, columns: Sequence[str] = LONG_COLUMNS, *, batch_rows: int = BATCH_ROWS
) -> ParquetResponses:
    """Check `path` (one pass over its person and item columns), sort a copy when persons are
    out of order, and return the source."""
    cols = _three(columns)
    names = set(pq.read_schema(path).names)
    for name in cols:
        if name not in names:
            raise ResponseFileError(f"column {name!r} not in {path.name}")
    items, n_rows, is_sorted = _scan(path, cols, batch_rows)
    if is_sorted:
        return ParquetResponses(path, cols, items, n_rows, batch_rows)
    workdir = tempfile.TemporaryDirectory(prefix="dreamseed-responses-")
    sorted_path = Path(workdir.name) / "sorted.parquet"
    con = _sorting_session(Path(workdir.name))
    try:
        source = f"read_parquet({_literal(str(path))})"
        _copy_sorted(con, f"select * from {source}", cols, sorted_path)
    finally:
        con.close()
    return ParquetResponses(sorted_path, cols, items, n_rows, batch_rows, workdir)


def open_lake_responses(
    settings: Settings, snapshot: PinnedSnapshot | None = None, *, batch_rows: int = BATCH_ROWS
) -> ParquetResponses:
    """The lake's responses at `snapshot` (default: pinned now) as a stream: person = attempt,
    response = is_correct (0/1), sorted by DuckDB into a temporary Parquet file."""
    from lake.calibration_io import pin_snapshot, read_source_sql
    from lake.duck import open_session

    pinned = snapshot or pin_snapshot(settings)
    workdir = tempfile.TemporaryDirectory(prefix="dreamseed-responses-")
    sorted_path = Path(workdir.name) / "sorted.parquet"
    con = open_session(settings)
    try:
        _limit_memory(con, Path(workdir.name))
        query = (
            "select attempt_id as person, item_id as item, "
            f"cast(is_correct as tinyint) as response from ({read_source_sql(pinned)})"
        )
        _copy_sorted(con, query, LONG_COLUMNS, sorted_path)
    finally:
        con.close()
    items, n_rows, _ = _scan(sorted_path, LONG_COLUMNS, batch_rows)
    return ParquetResponses(sorted_path, LONG_COLUMNS, items, n_rows, batch_rows, workdir)


# ------------------------------------------------------------------ helpers
def _three(columns: Sequence[str]) -> tuple[str, str, str]:
    if len(columns) != 3:
        raise ResponseFileError("name three columns: person, item, response")
    return columns[0], columns[1], columns[2]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scan(path: Path, cols: tuple[str, str, str], batch_rows: int) -> tuple[pa.Array, int, bool]:
    """Sorted distinct item ids, the row count, and whether persons are sorted."""
    person_col, item_col, _ = cols
    reader = pq.ParquetFile(path)
    uniques: list[pa.Array] = []
    is_sorted = True
    last: Any = None
    for batch in reader.iter_batches(batch_rows, columns=[person_col, item_col]):
        if batch.num_rows == 0:
            continue
        people = batch.column(person_col)
        if people.null_count:
            raise ResponseFileError(f"column {person_col!r} has empty values")
        if batch.column(item_col).null_count:
            raise ResponseFileError(f"column {item_col!r} has empty values")
        uniques.append(pc.unique(batch.column(item_col)))
        if is_sorted:
            first = people[0].as_py()
            ordered = pc.all(pc.less_equal(people[:-1], people[1:])).as_py() is not False
            is_sorted = ordered and (last is None or last <= first)
            last = people[-1].as_py()
    if not uniques:
        raise ResponseFileError(f"{path.name} has no responses")
    items = pc.unique(pa.concat_arrays([u.cast(uniques[0].type) for u in uniques]))
    return items.take(pc.array_sort_indices(items)), reader.metadata.num_rows, is_sorted


def _sorting_session(workdir: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    _limit_memory(con, workdir)
    return con


def _limit_memory(con: duckdb.DuckDBPyConnection, workdir: Path) -> None:
    con.execute(f"set memory_limit = {_literal(SORT_MEMORY)}")
    con.execute(f"set temp_directory = {_literal(str(workdir / 'spill'))}")
    con.execute("set preserve_insertion_order = false")


def _copy_sorted(
    con: duckdb.DuckDBPyConnection, query: str, cols: Sequence[str], target: Path
) -> None:
    person, item, response = (_ident(c) for c in cols)
    con.execute(
        f"copy (select {person}, {item}, {response} from ({query}) order by {person}, {item}) "
        f"to {_literal(str(target))} (format parquet, row_group_size {BATCH_ROWS})"
    )


def _dense_persons(people: pa.Array, last: Any, next_index: int) -> tuple[np.ndarray, Any, int]:
    """Dense indices of a sorted person column, continuing from the previous batch."""
    changes = _values(pc.not_equal(people[1:], people[:-1]).cast(pa.uint8()), np.uint8)
    starts = np.empty(len(people), dtype=np.int64)
    starts[0] = 1 if last is None or people[0].as_py() != last else 0
    starts[1:] = changes
    persons = np.cumsum(starts) + (next_index - 1)
    return persons, people[-1].as_py(), int(persons[-1]) + 1


def _item_indices(column: pa.Array, items: pa.Array, name: str) -> np.ndarray:
    index = pc.index_in(column.cast(items.type), value_set=items)
    if index.null_count:
        raise ResponseFileError(f"column {name!r} changed while it was read")
    return _values(index, np.int32)


def _codes(column: pa.Array, name: str) -> np.ndarray:
    """Response codes as int8 (null or negative = missing, -1); fractions are refused."""
    kind = column.type
    if pa.types.is_boolean(kind):
        column = column.cast(pa.int8())
    elif not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise ResponseFileError(f"column {name!r} must hold integer codes, not {kind}")
    try:
        codes = column.cast(pa.int16())
    except pa.ArrowInvalid as exc:
        raise ResponseFileError(f"column {name!r} must hold integer codes 0 … 127") from exc
    out = _values(codes, np.int16)
    if codes.null_count:  # the values under a null are undefined: mark them missing
        out = np.where(_values(pc.is_null(codes).cast(pa.uint8()), np.uint8) > 0, -1, out)
    if out.size and int(out.max()) > 127:
        raise ResponseFileError(f"column {name!r} must hold integer codes 0 … 127")
    return np.asarray(np.maximum(out, -1), dtype=np.int8)


def _values(array: pa.Array, dtype: Any) -> np.ndarray:
    """The values of a null-free fixed-width Arrow array, read from its buffer (no copy).

    `Array.to_numpy` imports pandas (about 0.5 s) on its first call; the command line avoids it.
    """
    width = np.dtype(dtype).itemsize
    data = array.buffers()[1]
    if len(array) == 0 or data is None:
        return np.empty(0, dtype=dtype)
    start = array.offset * width
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=start)
