"""Response files for `dreamseed irt`, read with pyarrow straight into compact arrays.

A wide file (one column per item, one row per person or pattern) becomes an ``(N, J)`` int8
matrix of category codes with ``-1`` for a missing response — one byte per cell, the form
the calibration works on — read column by column, so no float64 copy of the whole matrix (nor
a whole Arrow table) ever exists.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".txt", "")
NULL_VALUES = ["", "NA", "NaN", "nan", "."]
MAX_CODE = 127  # int8


class InputError(ValueError):
    """The file cannot be read as responses; the message names the column or the problem."""


@dataclass(frozen=True)
class WideResponses:
    """Item names, ``(N, J)`` int8 codes (``-1`` missing) and optional row weights."""

    items: list[str]
    codes: np.ndarray
    weights: np.ndarray | None


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise InputError(f"unsupported file type {suffix!r} (use .csv or .parquet)")


def read_wide(path: Path, weight_column: str | None = None) -> WideResponses:
    """Read a wide CSV/Parquet file: one column per item, an optional weight column.

    Parquet is read one column at a time (memory: the int8 result and one column); CSV is
    parsed with item columns typed int8 (float64 only when a value like ``1.0`` needs it).
    """
    if file_kind(path) == "parquet":
        names, n_rows, column = _parquet_columns(path)
    else:
        names, n_rows, column = _csv_columns(path, weight_column)
    if weight_column is not None and weight_column not in names:
        raise InputError(f"weight column {weight_column!r} not in the file")
    items = [name for name in names if name != weight_column]
    if not items:
        raise InputError("the file has no item columns")
    # filled item by item (contiguous writes), then transposed once to person-major rows
    by_item = np.empty((len(items), n_rows), dtype=np.int8)
    for j, name in enumerate(items):
        start = 0
        for chunk in column(name).chunks:
            by_item[j, start : start + len(chunk)] = item_codes(chunk, name)
            start += len(chunk)
    weights = None
    if weight_column is not None:
        parts = [_weights(chunk, weight_column) for chunk in column(weight_column).chunks]
        weights = np.concatenate(parts) if parts else np.empty(0)
    return WideResponses(items, np.ascontiguousarray(by_item.T), weights)


def item_codes(array: pa.Array, name: str) -> np.ndarray:
    """One item column (an Arrow array) as codes: nulls, NaN and negative codes become ``-1``."""
    kind = array.type
    if pa.types.is_decimal(kind):
        import pyarrow.compute as pc  # rare: not worth its import time otherwise

        array = pc.cast(array, pa.float64())
        kind = array.type
    if pa.types.is_null(kind):
        return np.full(len(array), -1, dtype=np.int8)
    if not (pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise InputError(f"item column {name!r} must be numeric (it is {kind})")
    values = _values(array)
    valid = _valid(array)
    if pa.types.is_floating(kind):
        values = values.astype(np.float64)
        missing = np.isnan(values) | (values < 0)
        if valid is not None:
            missing |= ~valid
        values[missing] = -1.0
        if values.size and float(values.max()) > MAX_CODE:
            raise InputError(f"item column {name!r}: codes above {MAX_CODE}")
        codes = values.astype(np.int8)
        if not np.array_equal(codes, values):
            raise InputError(f"item column {name!r} must hold integer category codes")
        return codes
    top = int(values.max(initial=0, where=True if valid is None else valid))
    if top > MAX_CODE:
        raise InputError(f"item column {name!r}: codes above {MAX_CODE} (category {top})")
    if valid is None and values.dtype == np.int8:
        return np.maximum(values, -1) if values.size and int(values.min()) < -1 else values
    codes = (
        np.maximum(values, -1).astype(np.int8)
        if values.dtype.kind == "i"
        else values.astype(np.int8)
    )
    if valid is not None:
        codes[~valid] = -1
    return codes


# Arrow buffers read with numpy: `Array.to_numpy()` imports pandas on first use (half a
# second) and pyarrow.compute takes as long to import, which a command-line tool cannot afford.


def _values(array: pa.Array) -> np.ndarray:
    """The data buffer of a primitive array (entries under nulls are undefined)."""
    kind = array.type
    data = array.buffers()[1]
    if pa.types.is_boolean(kind):
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[array.offset : array.offset + len(array)]
    if pa.types.is_floating(kind):
        dtype = np.dtype({16: np.float16, 32: np.float32, 64: np.float64}[kind.bit_width])
    else:
        dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(kind) else ''}int{kind.bit_width}")
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _valid(array: pa.Array) -> np.ndarray | None:
    """The validity of each entry, or None when nothing is null."""
    if array.null_count == 0:
        return None
    bitmap = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    bits = np.unpackbits(bitmap, bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)


def _weights(array: pa.Array, name: str) -> np.ndarray:
    kind = array.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise InputError(f"weight column {name!r} must be numeric (it is {kind})")
    if array.null_count:
        raise InputError(f"weight column {name!r} has missing values")
    return _values(array).astype(np.float64)


# ---- Parquet

ColumnReader = Callable[[str], pa.ChunkedArray]


def _parquet_columns(path: Path) -> tuple[list[str], int, ColumnReader]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {exc}") from exc
    schema = source.schema_arrow
    names = [name for name in schema.names if name not in _pandas_index_columns(schema)]

    def column(name: str) -> pa.ChunkedArray:
        return source.read(columns=[name], use_threads=False).column(0)

    return names, source.metadata.num_rows, column


def _pandas_index_columns(schema: pa.Schema) -> set[str]:
    """Columns pandas stored for its index (not items)."""
    meta = schema.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


# ---- CSV


def _csv_columns(path: Path, weight_column: str | None) -> tuple[list[str], int, ColumnReader]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise InputError("the CSV file is empty (no header row)")
    # item columns parsed straight to int8; anything else (e.g. "1.0") falls back to float64
    small = {name: (pa.float64() if name == weight_column else pa.int8()) for name in header}
    try:
        table = _read_csv(path, small)
    except pa.ArrowInvalid:
        try:
            table = _read_csv(path, dict.fromkeys(header, pa.float64()))
        except pa.ArrowInvalid as exc:
            raise InputError(f"item columns must be numeric: {exc}") from exc
    return header, table.num_rows, table.column


def _read_csv(path: Path, types: dict[str, Any]) -> pa.Table:
    from pyarrow import csv as pacsv

    convert = pacsv.ConvertOptions(
        column_types=types, null_values=NULL_VALUES, strings_can_be_null=True
    )
    return pacsv.read_csv(path, convert_options=convert)
