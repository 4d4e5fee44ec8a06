"""Calibration from a stream of long-format responses: cost proportional to the observed
responses, memory bounded by one chunk (or by a cache budget), never the whole matrix.

A *source* yields chunks of ``(person, item, response)`` arrays again on every pass (each EM
step is one pass).  Persons are dense indices ``0 … N-1`` in non-decreasing order and a
person's responses never straddle two chunks: a person's posterior over the quadrature needs
all of their responses, so the E-step of a chunk is complete in itself and the expected counts
per item and node are summed over chunks (Bock & Aitkin 1981).  Readers of Parquet files and
of the lake's Iceberg tables live outside this library (``lake.response_stream``).

:class:`StreamedResponses` is a :class:`~psychometrics.data.ResponseData` whose blocks come
from the source, so :func:`~psychometrics.calibrate` (EM, SQUAREM, warm start, standard
errors) runs on it unchanged.  The first pass checks the data, counts categories and
responses, and keeps the chunks as compact CSR index arrays when they fit in
``cache_bytes`` (4 bytes per response); larger data are read again on every pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from psychometrics._types import AnyArray, FloatArray, IntArray
from psychometrics.calibration import CalibrationResult, calibrate
from psychometrics.data import ResponseData, _full_layout, responses_from_triples

__all__ = ["ResponseChunk", "ResponseSource", "StreamedResponses", "calibrate_stream"]

DEFAULT_CACHE_BYTES = 1 << 30
"""Chunks are kept in memory (4 bytes per response) up to this size; beyond, re-read."""


@dataclass(frozen=True)
class ResponseChunk:
    """Responses of consecutive persons: three arrays of one length.

    Attributes:
        person: dense person index, non-decreasing, shape ``(R,)``.
        item: item index ``0 … J-1``, shape ``(R,)``.
        response: category code ``0 … K_j-1`` (a negative code is a missing response).
    """

    person: AnyArray
    item: AnyArray
    response: AnyArray


class ResponseSource(Protocol):
    """Re-iterable long-format responses, chunked by person (see the module docstring)."""

    @property
    def item_names(self) -> Sequence[str]:
        """One name per item index."""
        ...

    def __iter__(self) -> Iterator[ResponseChunk]: ...


class ArraySource:
    """A source over in-memory triples (sorted here), cut into chunks of about ``chunk_size``
    responses: for tests and for data that are already arrays."""

    def __init__(
        self,
        person: Any,
        item: Any,
        response: Any,
        item_names: Sequence[str],
        chunk_size: int = 1 << 20,
    ) -> None:
        p = np.asarray(person, dtype=np.int64)
        order = np.argsort(p, kind="stable")
        self._person = p[order]
        self._item = np.asarray(item, dtype=np.int64)[order]
        self._response = np.asarray(response, dtype=np.int64)[order]
        self._names = tuple(item_names)
        self._chunk = max(1, int(chunk_size))

    @property
    def item_names(self) -> Sequence[str]:
        return self._names

    def __iter__(self) -> Iterator[ResponseChunk]:
        p = self._person
        lo = 0
        while lo < p.size:
            hi = min(p.size, lo + self._chunk)
            if hi < p.size:  # move the cut to the end of the last person's responses
                hi = int(np.searchsorted(p, p[hi - 1], side="right"))
            yield ResponseChunk(p[lo:hi], self._item[lo:hi], self._response[lo:hi])
            lo = hi


@dataclass(frozen=True)
class _Block:
    """One chunk as CSR rows ``lo … hi-1``: row pointers and column indices (int32)."""

    lo: int
    hi: int
    indptr: AnyArray
    indices: AnyArray


@dataclass(frozen=True)
class StreamedResponses(ResponseData):
    """Responses read from a :class:`ResponseSource` on every E-step (or from its cache).

    Build with :meth:`scan`.  The design has one column per (item, category), as for
    :func:`~psychometrics.data.responses_from_triples`.

    Attributes:
        source: the source (read again on every pass unless ``cache`` holds the chunks).
        cache: the chunks as CSR index arrays, or ``None``.
        n_responses: observed responses.
        start_sample: ``(codes, weights)`` of a few thousand persons for starting values.
    """

    source: Any = None
    cache: tuple[_Block, ...] | None = None
    n_responses: int = 0
    start_sample: tuple[AnyArray, FloatArray] | None = None

    @classmethod
    def scan(
        cls,
        source: ResponseSource,
        n_categories: Sequence[int] | IntArray | None = None,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        start_persons: int = 5_000,
        dtype: Any = np.float32,
    ) -> StreamedResponses:
        """One pass over ``source``: checks, category counts, the cache and a start sample.

        Raises:
            ValueError: persons out of order or split across chunks, an item index out of
                range, or a code above its item's ``n_categories``.
        """
        n_items = len(source.item_names)
        top = np.full(n_items, 1, dtype=np.int64)
        per_person: list[AnyArray] = []
        pending: list[_Block] | None = []  # indices hold item codes until kcat is known
        responses: list[AnyArray] = []
        kept = 0
        first = 0
        sample: list[ResponseChunk] = []
        for chunk in source:
            p, it, r = _checked(chunk, n_items, first)
            if p.size == 0:
                continue
            np.maximum.at(top, it, r)
            hi = int(p[-1]) + 1
            counts = np.bincount(p - first, minlength=hi - first)
            per_person.append(counts)
            if sum(c.person.size for c in sample) < 100 * start_persons:
                sample.append(ResponseChunk(p, it, r))
            if pending is not None:
                kept += 5 * p.size + 4 * counts.size
                if kept > cache_bytes:
                    pending, responses = None, []
                else:
                    pending.append(_rows(first, hi, counts, it.astype(np.int32)))
                    responses.append(r.astype(np.int8 if int(r.max()) < 128 else np.int32))
            first = hi
        person_counts = np.concatenate(per_person) if per_person else np.zeros(0, np.int64)
        kcat = _categories(top, n_categories, n_items)
        cache = None
        if pending is not None:
            offset = _offsets(kcat)
            for block, r in zip(pending, responses, strict=True):
                block.indices[:] = offset[block.indices] + r  # in place: item -> design column
            cache = tuple(pending)
        n = int(person_counts.size)
        n_obs = int(person_counts.sum())
        _, col_item, col_cat = _full_layout(kcat)
        return cls(
            stored=None,
            design_t=None,
            weights=np.ones(n),
            col_item=col_item,
            col_cat=col_cat,
            complete=np.zeros(n_items, dtype=bool),
            n_categories=kcat,
            codes=None,
            full_categories=True,
            mean_observed=n_obs / n if n else 0.0,
            dtype=dtype,
            source=source,
            cache=cache,
            n_responses=n_obs,
            start_sample=_dense_sample(sample, n_items, start_persons),
        )

    @property
    def is_cached(self) -> bool:
        """Whether the E-steps read the in-memory chunks rather than the source."""
        return self.cache is not None

    def blocks(self, dtype: Any) -> Iterator[tuple[Any, FloatArray]]:
        """CSR blocks of whole persons, chunk by chunk, with their weights."""
        n_cols = self.n_columns
        ones = np.ones(0, dtype=dtype)
        for block in self._compact_blocks():
            nnz = block.indices.size
            if ones.size < nnz:
                ones = np.ones(nnz, dtype=dtype)
            design = sp.csr_matrix(
                (ones[:nnz], block.indices, block.indptr), shape=(block.hi - block.lo, n_cols)
            )
            yield design, self.weights[block.lo : block.hi]

    def _compact_blocks(self) -> Iterable[_Block]:
        if self.cache is not None:
            return self.cache
        return _read_blocks(self.source, self.n_categories)

    def take_rows(self, rows: IntArray) -> ResponseData:
        """The persons ``rows`` (sorted) in memory, as a CSR :class:`ResponseData` (one pass)."""
        rows = np.asarray(rows, dtype=np.int64)
        persons: list[AnyArray] = []
        columns: list[AnyArray] = []
        for block in self._compact_blocks():
            lo, hi = np.searchsorted(rows, [block.lo, block.hi])
            for position in range(int(lo), int(hi)):
                row = int(rows[position]) - block.lo
                cols = block.indices[block.indptr[row] : block.indptr[row + 1]]
                persons.append(np.full(cols.size, position, dtype=np.int64))
                columns.append(cols)
        cols = np.concatenate(columns) if columns else np.zeros(0, np.int64)
        return responses_from_triples(
            np.concatenate(persons) if persons else np.zeros(0, np.int64),
            self.col_item[cols],
            self.col_cat[cols],
            rows.size,
            self.n_items,
            self.n_categories,
            weights=self.weights[rows],
            dtype=self.dtype,
        )

    def start_codes(self) -> tuple[AnyArray, FloatArray] | None:
        return self.start_sample

    def with_block_rows(self, rows: int | None) -> ResponseData:
        """Blocks are the source's chunks: the size is fixed by the source."""
        return self

    def astype(self, dtype: Any) -> ResponseData:
        return self if np.dtype(self.dtype) == np.dtype(dtype) else replace(self, dtype=dtype)


def calibrate_stream(
    source: ResponseSource,
    model: str = "2pl",
    *,
    n_categories: Sequence[int] | IntArray | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    **options: Any,
) -> CalibrationResult:
    """Calibrate from a stream of responses (see the module docstring).

    Args:
        source: chunks of ``(person, item, response)``, by person.
        model: as for :func:`~psychometrics.calibrate`.
        n_categories: categories per item (inferred from the first pass otherwise).
        cache_bytes: keep the chunks in memory up to this size (0: read every pass).
        **options: any other option of :func:`~psychometrics.calibrate`; the warm start
            runs on a 10 000-person subsample as for in-memory data.

    Returns:
        The :class:`CalibrationResult`, item names from the source.
    """
    data = StreamedResponses.scan(source, n_categories, cache_bytes=cache_bytes)
    options.setdefault("item_names", tuple(source.item_names))
    return calibrate(data, model, **options)


def _checked(chunk: ResponseChunk, n_items: int, first: int) -> tuple[IntArray, ...]:
    """The chunk as int64 arrays without missing responses, after the stream's checks."""
    p = np.asarray(chunk.person, dtype=np.int64)
    it = np.asarray(chunk.item, dtype=np.int64)
    r = np.asarray(chunk.response, dtype=np.int64)
    if not (p.shape == it.shape == r.shape):
        raise ValueError("person, item and response must have the same length")
    if p.size and (int(p[0]) < first or np.any(np.diff(p) < 0)):
        raise ValueError("responses must come by person: sorted, a person in one chunk")
    if it.size and (int(it.min()) < 0 or int(it.max()) >= n_items):
        raise ValueError("an item index is outside the source's items")
    observed = r >= 0
    if not observed.all():
        p, it, r = p[observed], it[observed], r[observed]
    return p, it, r


def _read_blocks(source: ResponseSource, kcat: IntArray) -> Iterator[_Block]:
    """The source's chunks as CSR blocks; rows run on from the previous chunk's last person."""
    offset = _offsets(kcat)
    first = 0
    for chunk in source:
        p, it, r = _checked(chunk, kcat.shape[0], first)
        if p.size == 0:
            continue
        hi = int(p[-1]) + 1
        column = offset[it] + r.astype(np.int32)
        yield _rows(first, hi, np.bincount(p - first, minlength=hi - first), column)
        first = hi


def _categories(top: IntArray, n_categories: Any, n_items: int) -> IntArray:
    if n_categories is None:
        return np.asarray(top + 1, dtype=np.int64)
    kcat = np.asarray(n_categories, dtype=np.int64).reshape(-1)
    if kcat.shape[0] != n_items:
        raise ValueError("n_categories must have one entry per item")
    if np.any(top >= kcat):
        raise ValueError("a response code exceeds its item's number of categories")
    return kcat


def _offsets(kcat: IntArray) -> AnyArray:
    """First design column of each item (one column per category)."""
    offset = np.zeros(kcat.shape[0], dtype=np.int32)
    np.cumsum(kcat[:-1], out=offset[1:])
    return offset


def _rows(lo: int, hi: int, counts: AnyArray, indices: AnyArray) -> _Block:
    indptr = np.zeros(hi - lo + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    return _Block(lo, hi, indptr, indices)


def _dense_sample(
    chunks: list[ResponseChunk], n_items: int, limit: int
) -> tuple[AnyArray, FloatArray] | None:
    """The first ``limit`` persons as dense int8 codes (``-1`` missing), for starting values."""
    if not chunks:
        return None
    p = np.concatenate([c.person for c in chunks])
    it = np.concatenate([c.item for c in chunks])
    r = np.concatenate([c.response for c in chunks])
    first = int(p[0])
    keep = p < first + limit
    p, it, r = p[keep] - first, it[keep], r[keep]
    n = int(p.max()) + 1 if p.size else 0
    codes = np.full((n, n_items), -1, dtype=np.int8 if int(r.max(initial=0)) < 128 else np.int16)
    codes[p, it] = r
    return codes, np.ones(n)
