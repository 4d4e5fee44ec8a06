"""Streamed calibration (psychometrics.stream) against the dense in-memory EM on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from psychometrics import calibrate
from psychometrics.stream import (
    ArraySource,
    ResponseChunk,
    StreamedResponses,
    calibrate_stream,
)


def _simulate(
    n: int, j: int, observed: float, seed: int, categories: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """An (n, j) int8 matrix with -1 where unobserved (2PL or GRM) and the generating slopes."""
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.3, j)
    theta = rng.standard_normal(n)
    if categories == 2:
        d = rng.normal(0.0, 1.0, j)
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] * a + d)))
        y = (rng.random((n, j)) < p).astype(np.int8)
    else:
        d = np.sort(rng.normal(0.0, 1.0, (j, categories - 1)), axis=1)[:, ::-1]
        u = rng.random((n, j))
        y = np.zeros((n, j), dtype=np.int8)
        for k in range(categories - 1):
            above = 1.0 / (1.0 + np.exp(-(theta[:, None] * a + d[:, k])))
            y += (u < above).astype(np.int8)
    y[rng.random((n, j)) >= observed] = -1
    return y, a


def _source(y: np.ndarray, chunk: int, shuffle: bool = False) -> ArraySource:
    person, item = np.nonzero(y >= 0)
    if shuffle:  # the source sorts by person itself
        order = np.random.default_rng(3).permutation(person.size)
        person, item = person[order], item[order]
    names = [f"item{j + 1}" for j in range(y.shape[1])]
    return ArraySource(person, item, y[person, item], names, chunk_size=chunk)


@pytest.mark.parametrize("cache_bytes", [1 << 30, 0])
def test_streamed_2pl_matches_dense_em(cache_bytes: int) -> None:
    y, a_true = _simulate(50_000, 80, 0.15, seed=11)  # > 40k persons: the warm start runs too
    dense = calibrate(y, "2pl")
    streamed = calibrate_stream(_source(y, 40_000, shuffle=True), "2pl", cache_bytes=cache_bytes)
    assert streamed.converged and dense.converged
    assert np.allclose(streamed.items.a, dense.items.a, atol=2e-3)
    assert np.allclose(streamed.items.d, dense.items.d, atol=2e-3)
    assert streamed.log_likelihood == pytest.approx(dense.log_likelihood, rel=1e-6)
    assert streamed.n_persons == pytest.approx(dense.n_persons)
    # and both recover the generating slopes
    assert float(np.sqrt(np.mean((streamed.items.a - a_true) ** 2))) < 0.12


def test_streamed_grm_and_3pl_match_dense_em() -> None:
    y, _ = _simulate(6_000, 20, 0.6, seed=5, categories=4)
    dense = calibrate(y, "grm")
    streamed = calibrate_stream(_source(y, 7_000), "grm")
    assert np.allclose(streamed.items.a, dense.items.a, atol=2e-3)
    assert np.allclose(streamed.items.d, dense.items.d, atol=2e-3, equal_nan=True)
    y2, _ = _simulate(6_000, 20, 0.6, seed=6)
    dense3 = calibrate(y2, "3pl", guessing_prior=(5, 17))
    streamed3 = calibrate_stream(_source(y2, 9_000), "3pl", guessing_prior=(5, 17))
    assert np.allclose(streamed3.items.a, dense3.items.a, atol=5e-3)
    assert np.allclose(streamed3.items.c, dense3.items.c, atol=2e-3)


def test_cached_and_reread_passes_are_identical() -> None:
    y, _ = _simulate(3_000, 30, 0.3, seed=2)
    cached = StreamedResponses.scan(_source(y, 1_000))
    reread = StreamedResponses.scan(_source(y, 1_000), cache_bytes=0)
    assert cached.is_cached and not reread.is_cached
    assert cached.n_responses == reread.n_responses == int((y >= 0).sum())
    for (b1, w1), (b2, w2) in zip(
        cached.blocks(np.float32), reread.blocks(np.float32), strict=True
    ):
        assert (b1 != b2).nnz == 0 and np.array_equal(w1, w2)
    # the blocks stacked are the design of responses_from_triples
    rows = np.arange(0, 3_000, 7)
    sub = cached.take_rows(rows)
    person, item = np.nonzero(y[rows] >= 0)
    expect = np.zeros((rows.size, 60), dtype=np.float32)
    expect[person, 2 * item + y[rows][person, item]] = 1
    assert np.array_equal(sub.design.toarray(), expect)


def test_chunks_must_come_by_person() -> None:
    class Split:
        item_names = ("i1", "i2")

        def __iter__(self):  # person 1 in two chunks
            yield ResponseChunk(np.array([0, 1]), np.array([0, 0]), np.array([1, 0]))
            yield ResponseChunk(np.array([1, 2]), np.array([1, 0]), np.array([1, 1]))

    with pytest.raises(ValueError, match="by person"):
        StreamedResponses.scan(Split())

    class BadItem:
        item_names = ("i1",)

        def __iter__(self):
            yield ResponseChunk(np.array([0]), np.array([3]), np.array([1]))

    with pytest.raises(ValueError, match="item index"):
        StreamedResponses.scan(BadItem())
    src = ArraySource([0, 1], [0, 0], [2, 1], ["i1"])
    with pytest.raises(ValueError, match="number of categories"):
        StreamedResponses.scan(src, n_categories=[2])


def test_missing_codes_and_people_without_responses() -> None:
    # person 1 answered nothing observed, person 3 has no row at all: both count, as in dense data
    src = ArraySource(
        [0, 0, 1, 2, 2, 4, 4], [0, 1, 0, 0, 1, 0, 1], [1, 0, -1, 1, 1, 0, 0], ["i1", "i2"], 2
    )
    data = StreamedResponses.scan(src, cache_bytes=0)
    assert data.n_persons == 5 and data.n_responses == 6
    dense = np.array([[1, 0], [-1, -1], [1, 1], [-1, -1], [0, 0]], dtype=np.int8)
    res = calibrate(data, "2pl", n_nodes=21, max_iter=50)
    ref = calibrate(dense, "2pl", n_nodes=21, max_iter=50)
    assert res.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-6)
