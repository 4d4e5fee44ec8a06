"""Response data in the form the E-step needs: an indicator *design* matrix, by blocks of rows.

For ``N`` persons and ``J`` items the design ``M`` has one column per
(item, category ≥ 1) pair plus, for each item with missing responses, one
"observed" column.  With ``W`` holding ``log P_jk - log P_j0`` in category columns
and ``log P_j0`` in observed columns, the log-likelihood of every person at
every quadrature node is one matrix product ``M @ W`` plus the constant
``Σ_{complete j} log P_j0`` (Bock & Aitkin 1981 E-step as a GEMM).  The same
design gives the expected counts as ``Mᵀ @ posterior``.

Dense data are kept *compact*: only the integer codes (int8 when they fit, ``-1`` =
missing, one byte per cell) are stored, and the float32 design is built block by block
of rows (:meth:`ResponseData.blocks`, about 1 MiB each) right before its two products, so
a block is still in cache for the backward product and the whole float design never
exists.  Data with many missing responses are kept as CSR in a second layout, *one
column per (item, category)* including category 0 (``full_categories``): every observed
response is then exactly one non-zero, ``W`` holds ``log P_jk`` itself and there is no
constant, so both products cost ``O(observed responses × Q)``; blocks are zero-copy row
ranges of the CSR arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp

from psychometrics._types import AnyArray, FloatArray, IntArray

__all__ = ["ResponseData", "prepare_responses", "responses_from_triples"]

SPARSE_OBSERVED = 0.5
"""Data with a smaller share of observed cells get a CSR design (by default)."""

BLOCK_CELLS = 1 << 18
"""Dense design cells per block (1 MiB of float32): small enough to stay in cache."""

BLOCK_NONZEROS = 1 << 20
"""Observed responses per block of a CSR design."""


@dataclass(frozen=True)
class ResponseData:
    """Responses prepared for EM, scoring and fit.

    Attributes:
        stored: the design when it is kept whole: a dense ``(N, C)`` float array or a CSR
            matrix of 0/1 indicators; ``None`` for compact data (built per block from
            ``codes``).
        design_t: the transpose (a CSC view) when ``stored`` is sparse, else ``None``.
        weights: person (pattern) weights, shape ``(N,)``.
        col_item: item of each design column, shape ``(C,)``.
        col_cat: category of each column (``-1`` = "observed" column), shape ``(C,)``.
        complete: items without missing responses, shape ``(J,)``.
        n_categories: categories per item, shape ``(J,)``.
        codes: the integer responses (``-1`` missing) as dense ``(N, J)`` int8/int16
            array, or ``None`` for sparse inputs.
        full_categories: the design has one column per (item, category) including
            category 0 (CSR layout; ``col_cat`` is then never ``-1``).
        mean_observed: weighted mean number of observed responses per person.
        dtype: floating type of the design blocks of compact data.
        block_rows: rows per block (default: about ``BLOCK_CELLS`` design cells or
            ``BLOCK_NONZEROS`` responses).
    """

    stored: Any
    design_t: Any
    weights: FloatArray
    col_item: IntArray
    col_cat: IntArray
    complete: Any
    n_categories: IntArray
    codes: AnyArray | None
    full_categories: bool = False
    mean_observed: float | None = None
    dtype: Any = np.float32
    block_rows: int | None = None

    @property
    def n_persons(self) -> int:
        """Rows ``N`` (response patterns)."""
        return int(self.weights.shape[0])

    @property
    def n_items(self) -> int:
        """Items ``J``."""
        return int(self.n_categories.shape[0])

    @property
    def n_columns(self) -> int:
        """Design columns ``C``."""
        return int(self.col_item.shape[0])

    @property
    def is_sparse(self) -> bool:
        """Whether the design is CSR."""
        return bool(sp.issparse(self.stored))

    @property
    def is_compact(self) -> bool:
        """Whether only the integer codes are stored (the design is built per block)."""
        return self.stored is None

    @property
    def design(self) -> Any:
        """The whole design (built from the codes for compact data: for tests and small data)."""
        if self.stored is not None:
            return self.stored
        return self._dense_block(0, self.n_persons, self.dtype, None)

    def matmul(self, w: AnyArray) -> AnyArray:
        """``M @ w`` for ``w`` of shape ``(C, Q)``; returns ``(N, Q)`` (block by block for
        compact data, so the whole design is never built)."""
        if self.stored is not None:
            return np.asarray(self.stored @ w)
        dtype = np.result_type(self.dtype, w.dtype)
        out = np.empty((self.n_persons, w.shape[1]), dtype=dtype)
        start = 0
        for block, _ in self.blocks(dtype):
            np.matmul(block, w, out=out[start : start + block.shape[0]])
            start += block.shape[0]
        return out

    def rmatmul(self, post: AnyArray) -> AnyArray:
        """``Mᵀ @ post`` for ``post`` of shape ``(N, Q)``; returns ``(C, Q)``."""
        if self.design_t is not None:
            return np.asarray(self.design_t @ post)
        if self.stored is not None:
            return np.asarray(self.stored.T @ post)
        dtype = np.result_type(self.dtype, post.dtype)
        out = np.zeros((self.n_columns, post.shape[1]), dtype=dtype)
        start = 0
        for block, _ in self.blocks(dtype):
            out += block.T @ post[start : start + block.shape[0]]
            start += block.shape[0]
        return out

    def rows_per_block(self) -> int:
        """Rows of each block yielded by :meth:`blocks`."""
        if self.block_rows is not None:
            return max(1, int(self.block_rows))
        if self.is_sparse:
            per_row = self.stored.nnz / max(1, self.n_persons)
            return max(256, int(BLOCK_NONZEROS / max(per_row, 1.0)))
        return max(64, BLOCK_CELLS // max(1, self.n_columns))

    def blocks(self, dtype: Any) -> Iterator[tuple[Any, FloatArray]]:
        """The design and the weights by blocks of rows, in order.

        Dense blocks of compact data share one buffer: use each block before asking for
        the next.  Sparse blocks are CSR views of the stored arrays.
        """
        n = self.n_persons
        step = self.rows_per_block()
        if step >= n:
            yield self._block(0, n, dtype, None), self.weights
            return
        buffer = None
        if self.stored is None:
            buffer = np.empty((step, self.n_columns), dtype=dtype)
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            yield self._block(lo, hi, dtype, buffer), self.weights[lo:hi]

    def _block(self, lo: int, hi: int, dtype: Any, buffer: AnyArray | None) -> Any:
        stored = self.stored
        if stored is None:
            return self._dense_block(lo, hi, dtype, buffer)
        if not sp.issparse(stored):
            block = stored[lo:hi]
            return block if block.dtype == dtype else block.astype(dtype)
        if lo == 0 and hi == stored.shape[0]:
            block = stored
        else:
            indptr = stored.indptr
            first, last = indptr[lo], indptr[hi]
            block = sp.csr_matrix(
                (stored.data[first:last], stored.indices[first:last], indptr[lo : hi + 1] - first),
                shape=(hi - lo, stored.shape[1]),
            )
        return block if block.dtype == dtype else block.astype(dtype)

    @cached_property
    def _column_runs(self) -> tuple[tuple[int, int, IntArray, int], ...]:
        """Runs of design columns with one category: ``(start, stop, items, category)``."""
        cc = self.col_cat
        edges = np.flatnonzero(np.diff(cc)) + 1
        bounds = [0, *edges.tolist(), int(cc.shape[0])]
        return tuple((a, b, self.col_item[a:b], int(cc[a])) for a, b in pairwise(bounds))

    @cached_property
    def _codes_are_design(self) -> bool:
        """Complete 0/1 data with one column per item, in order: the codes are the design."""
        j = self.n_items
        return bool(
            self.n_columns == j
            and np.all(self.col_cat == 1)
            and np.array_equal(self.col_item, np.arange(j))
            and np.all(np.asarray(self.complete, dtype=bool))
        )

    def _dense_block(self, lo: int, hi: int, dtype: Any, buffer: AnyArray | None) -> AnyArray:
        if self.codes is None:
            raise ValueError("compact response data need their codes")
        codes = self.codes[lo:hi]
        out = np.empty((hi - lo, self.n_columns), dtype) if buffer is None else buffer[: hi - lo]
        if self._codes_are_design:
            np.copyto(out, codes, casting="unsafe")
            return out
        for start, stop, items, category in self._column_runs:
            part = codes[:, items]
            out[:, start:stop] = part >= 0 if category < 0 else part == category
        return out

    def start_codes(self) -> tuple[AnyArray, FloatArray] | None:
        """Dense codes and weights for classical starting values (``None``: no codes)."""
        return None if self.codes is None else (self.codes, self.weights)

    def take_rows(self, rows: IntArray) -> ResponseData:
        """A subsample of persons (used for warm starts)."""
        codes = None if self.codes is None else self.codes[rows]
        if self.stored is None:
            return replace(self, weights=self.weights[rows], codes=codes)
        design = self.stored[rows]
        return replace(
            self,
            stored=design,
            design_t=_transpose(design) if sp.issparse(design) else None,
            weights=self.weights[rows],
            codes=codes,
        )

    def astype(self, dtype: Any) -> ResponseData:
        """The same data with the design in ``dtype``."""
        if self.stored is None:
            return self if np.dtype(self.dtype) == np.dtype(dtype) else replace(self, dtype=dtype)
        if self.stored.dtype == dtype:
            return self
        design = self.stored.astype(dtype)
        return replace(
            self, stored=design, design_t=None if self.design_t is None else _transpose(design)
        )

    def with_block_rows(self, rows: int | None) -> ResponseData:
        """The same data iterated by blocks of ``rows`` rows (``None``: the default size)."""
        if rows is not None and rows < 1:
            raise ValueError("block rows must be positive")
        return replace(self, block_rows=rows)


def _transpose(design: Any) -> Any:
    """The transpose of a CSR matrix as a CSC view (no copy).

    ``CSC @ dense`` streams through the dense rows in order and scatters into the
    small ``(C, Q)`` result, which is faster than a CSR transpose that gathers rows.
    """
    return design.T


def _full_layout(kcat: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Column offsets, items and categories of the one-column-per-category layout."""
    offset = np.zeros(kcat.shape[0], dtype=np.int64)
    np.cumsum(kcat[:-1], out=offset[1:])
    col_item = np.repeat(np.arange(kcat.shape[0], dtype=np.int64), kcat)
    col_cat = np.arange(int(kcat.sum()), dtype=np.int64) - np.repeat(offset, kcat)
    return offset, col_item, col_cat


def _csr_design(
    codes: AnyArray, observed: Any, kcat: IntArray, dtype: Any
) -> tuple[Any, IntArray, IntArray, FloatArray]:
    """CSR design with one column per (item, category), built in one pass over the codes.

    Returns the design, ``col_item``, ``col_cat`` and the observed count per row.
    """
    n, j = codes.shape
    offset, col_item, col_cat = _full_layout(kcat)
    flat = np.flatnonzero(observed)  # row-major: sorted by person, then item
    idx_type = np.int16 if col_item.size < 2**15 else np.int32
    colmat: AnyArray = np.add(codes, offset[None, :], dtype=idx_type, casting="unsafe")
    cols = colmat.reshape(-1)[flat]
    indptr = np.searchsorted(flat, np.arange(0, n * j + 1, j, dtype=np.int64))
    design = sp.csr_matrix(
        (np.ones(flat.size, dtype=dtype), cols.astype(np.int32), indptr.astype(np.int32)),
        shape=(n, int(kcat.sum())),
    )
    return design, col_item, col_cat, np.diff(indptr).astype(np.float64)


def _codes_from(responses: Any) -> tuple[AnyArray, Any]:
    """Integer codes (missing = -1; int8 when the codes fit) and a missing mask.

    int8 input already coded ``-1 … 127`` is used as it is (no copy).
    """
    y = np.asarray(responses)
    if y.ndim != 2:
        raise ValueError("responses must be a 2-D (persons × items) array")
    if np.issubdtype(y.dtype, np.floating):
        missing = np.isnan(y) | (y < 0)
        yi = np.where(missing, -1.0, y)
        top = float(yi.max()) if yi.size else 0.0
        codes = yi.astype(_code_type(top)) if top < 32768 else yi.astype(np.int32)
        if not np.array_equal(codes, yi):
            raise ValueError("responses must be integer category codes")
        return codes, missing
    if y.dtype == np.int8 and (y.size == 0 or int(y.min()) >= -1):
        return y, y < 0
    top = int(y.max()) if y.size else 0
    if top >= 32768:
        raise ValueError("response codes must be below 32768")
    codes = y.astype(_code_type(top))
    np.maximum(codes, -1, out=codes)
    return codes, codes < 0


def _code_type(top: float) -> Any:
    return np.int8 if top < 128 else np.int16


def _collapse(codes: AnyArray, weights: FloatArray) -> tuple[AnyArray, FloatArray]:
    """Merge identical response patterns, summing their weights."""
    uniq, inverse = np.unique(codes, axis=0, return_inverse=True)
    w = np.bincount(inverse.reshape(-1), weights=weights, minlength=uniq.shape[0])
    return uniq, np.asarray(w, dtype=np.float64)


def prepare_responses(
    responses: Any,
    weights: Sequence[float] | FloatArray | None = None,
    n_categories: Sequence[int] | IntArray | None = None,
    *,
    collapse: bool | None = None,
    sparse: bool | None = None,
    dtype: Any = np.float32,
    block_rows: int | None = None,
) -> ResponseData:
    """Build the E-step data from a dense response matrix.

    Args:
        responses: ``(N, J)`` integer categories ``0 … K_j-1``; ``NaN`` or a
            negative code marks a missing response.  An int8 matrix coded ``-1 … K-1``
            is kept as it is (not copied).
        weights: optional frequency / survey weights, shape ``(N,)``.
        n_categories: categories per item; inferred as ``max + 1`` (at least 2).
        collapse: merge identical patterns (default: when ``J ≤ 20``).
        sparse: force CSR (``True``) or compact dense (``False``); default: CSR when
            fewer than ``SPARSE_OBSERVED`` of the cells are observed.
        dtype: floating type of the design (float32 for BLAS speed).
        block_rows: rows per E-step block (default: about 1 MiB of design).

    Returns:
        The prepared :class:`ResponseData`.
    """
    codes, missing = _codes_from(responses)
    n, j = codes.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError("weights must have one entry per row")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    if n_categories is None:
        kcat = np.maximum(codes.max(axis=0).astype(np.int64) + 1, 2) if n else np.full(j, 2)
    else:
        kcat = np.asarray(n_categories, dtype=np.int64).reshape(-1)
        if kcat.shape[0] != j:
            raise ValueError("n_categories must have one entry per item")
        if np.any(codes >= kcat[None, :]):
            raise ValueError("a response code exceeds its item's number of categories")
    if collapse is None:
        collapse = j <= 20 and n > 64
    if collapse:
        codes, w = _collapse(codes, w)
        missing = codes < 0
        n = codes.shape[0]
    complete = ~missing.any(axis=0)
    n_obs = int(missing.size - np.count_nonzero(missing))
    share = n_obs / max(1, missing.size)
    use_sparse = bool(share < SPARSE_OBSERVED) if sparse is None else sparse
    wsum = float(w.sum())
    if use_sparse:
        design, col_item, col_cat, per_row = _csr_design(codes, ~missing, kcat, dtype)
        mean_obs = float(np.einsum("n,n->", per_row, w)) / wsum if wsum > 0 else 0.0
        return ResponseData(
            stored=design,
            design_t=_transpose(design),
            weights=w,
            col_item=col_item,
            col_cat=col_cat,
            complete=np.zeros(j, dtype=bool),
            n_categories=kcat,
            codes=codes,
            full_categories=True,
            mean_observed=mean_obs,
            dtype=dtype,
            block_rows=block_rows,
        )
    mean_obs = float(j)
    if n_obs != missing.size and wsum > 0:
        mean_obs = float(np.einsum("n,n->", j - np.count_nonzero(missing, axis=1), w)) / wsum
    kmax = int(kcat.max()) if j else 2
    # one column per (item, category ≥ 1), then one "observed" column per incomplete item
    col_item_parts = [np.flatnonzero(kcat > k) for k in range(1, kmax)]
    col_cat_parts = [
        np.full(part.size, k, dtype=np.int64) for k, part in enumerate(col_item_parts, 1)
    ]
    obs_items = np.flatnonzero(~complete)
    col_item_parts.append(obs_items)
    col_cat_parts.append(np.full(obs_items.size, -1, dtype=np.int64))
    return ResponseData(
        stored=None,
        design_t=None,
        weights=w,
        col_item=np.concatenate(col_item_parts).astype(np.int64),
        col_cat=np.concatenate(col_cat_parts).astype(np.int64),
        complete=complete,
        n_categories=kcat,
        codes=codes,
        mean_observed=mean_obs,
        dtype=dtype,
        block_rows=block_rows,
    )


def responses_from_triples(
    person: Sequence[int] | IntArray,
    item: Sequence[int] | IntArray,
    response: Sequence[int] | IntArray,
    n_persons: int,
    n_items: int,
    n_categories: Sequence[int] | IntArray | None = None,
    weights: Sequence[float] | FloatArray | None = None,
    dtype: Any = np.float32,
    block_rows: int | None = None,
) -> ResponseData:
    """Build a sparse (CSR) design from long-format ``(person, item, response)`` triples.

    The cost is proportional to the number of observed responses, which suits
    adaptive-test data.  The design has one column per (item, category).

    Args:
        person: person index of each response, shape ``(R,)``.
        item: item index, shape ``(R,)``.
        response: category code ``0 … K_j-1``, shape ``(R,)``.
        n_persons: ``N``.
        n_items: ``J``.
        n_categories: categories per item (inferred if omitted).
        weights: person weights ``(N,)``.
        dtype: design dtype.
        block_rows: rows per E-step block (default: about 2²⁰ responses).
    """
    p = np.asarray(person, dtype=np.int64)
    it = np.asarray(item, dtype=np.int64)
    r = np.asarray(response, dtype=np.int64)
    if not (p.shape == it.shape == r.shape):
        raise ValueError("person, item and response must have the same length")
    if n_categories is None:
        kcat = np.full(n_items, 2, dtype=np.int64)
        np.maximum.at(kcat, it, r + 1)
    else:
        kcat = np.asarray(n_categories, dtype=np.int64)
    offset, col_item, col_cat = _full_layout(kcat)
    design = sp.csr_matrix(
        (np.ones(p.size, dtype=dtype), (p, offset[it] + r)),
        shape=(n_persons, int(kcat.sum())),
    )
    design.sum_duplicates()
    w = np.ones(n_persons) if weights is None else np.asarray(weights, dtype=np.float64)
    per_row = np.bincount(p, minlength=n_persons).astype(np.float64)
    wsum = float(w.sum())
    return ResponseData(
        stored=design,
        design_t=_transpose(design),
        weights=w,
        col_item=col_item,
        col_cat=col_cat,
        complete=np.zeros(n_items, dtype=bool),
        n_categories=kcat,
        codes=None,
        full_categories=True,
        mean_observed=float(np.einsum("n,n->", per_row, w)) / wsum if wsum > 0 else 0.0,
        dtype=dtype,
        block_rows=block_rows,
    )
