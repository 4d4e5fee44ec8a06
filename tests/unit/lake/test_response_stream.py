"""Long-format Parquet responses streamed by person (lake.response_stream), real files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake.response_stream import (
    ResponseFileError,
    open_parquet_responses,
)


def _table(seed: int = 0, n: int = 500, j: int = 12) -> pa.Table:
    rng = np.random.default_rng(seed)
    person, item = np.nonzero(rng.random((n, j)) < 0.4)
    response = rng.integers(0, 2, person.size)
    return pa.table(
        {
            "person": pa.array([f"s{p:05d}" for p in person]),
            "item": pa.array([f"q{i:02d}" for i in item]),
            "response": pa.array(response.astype(np.int64)),
        }
    )


def _collect(path: Path, batch_rows: int) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    with open_parquet_responses(path, batch_rows=batch_rows) as src:
        chunks = list(src)
        names = list(src.item_names)
    sizes = [c.person.size for c in chunks]
    triples = np.concatenate([np.stack([c.person, c.item, c.response]) for c in chunks], axis=1)
    # no person spans two chunks, and persons are dense and in order
    for before, after in itertools.pairwise(chunks):
        assert before.person[-1] < after.person[0]
    assert np.all(np.diff(triples[0]) >= 0)
    return names, triples[0], triples[1:], sizes


def test_sorted_file_streams_whole_persons(tmp_path: Path) -> None:
    table = _table()
    path = tmp_path / "long.parquet"
    pq.write_table(table, path, row_group_size=97)
    names, person, rest, sizes = _collect(path, batch_rows=50)
    assert len(sizes) > 5
    assert names == sorted({str(v) for v in table.column("item").to_pylist()})
    ids = table.column("person").to_pylist()
    assert int(person.max()) + 1 == len(set(ids))
    assert [names[i] for i in rest[0]] == table.column("item").to_pylist()
    assert rest[1].tolist() == table.column("response").to_pylist()


def test_unsorted_file_is_sorted_into_a_removed_copy(tmp_path: Path) -> None:
    table = _table(seed=1)
    shuffled = table.take(np.random.default_rng(2).permutation(table.num_rows))
    path = tmp_path / "shuffled.parquet"
    pq.write_table(shuffled, path)
    src = open_parquet_responses(path, batch_rows=64)
    copy = src.path
    assert copy != path and copy.exists()
    counts = np.bincount(np.concatenate([c.person for c in src]))
    ids, expect = np.unique(np.asarray(table.column("person").to_pylist()), return_counts=True)
    assert counts.tolist() == expect.tolist() and ids.size == counts.size
    src.close()
    assert not copy.exists()


def test_nulls_and_booleans_are_codes(tmp_path: Path) -> None:
    path = tmp_path / "bool.parquet"
    pq.write_table(
        pa.table(
            {
                "person": [1, 1, 2, 3],
                "item": [7, 9, 7, 9],
                "response": pa.array([True, None, False, True]),
            }
        ),
        path,
    )
    with open_parquet_responses(path) as src:
        chunks = list(src)
        assert list(src.item_names) == ["7", "9"]
    assert np.concatenate([c.person for c in chunks]).tolist() == [0, 0, 1, 2]
    assert np.concatenate([c.item for c in chunks]).tolist() == [0, 1, 0, 1]
    assert np.concatenate([c.response for c in chunks]).tolist() == [1, -1, 0, 1]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"person": [1], "item": ["a"]}, "column 'response' not in"),
        ({"person": [1], "item": ["a"], "response": [0.5]}, "'response' must hold integer"),
        ({"person": [1], "item": ["a"], "response": ["x"]}, "'response' must hold integer"),
        ({"person": [1], "item": [None], "response": [1]}, "'item' has empty values"),
        ({"person": [None], "item": ["a"], "response": [1]}, "'person' has empty values"),
    ],
)
def test_bad_files_name_the_column(tmp_path: Path, columns: dict, message: str) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(ResponseFileError, match=message), open_parquet_responses(path) as src:
        list(src)
