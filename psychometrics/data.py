"""Response data in the form the E-step needs: an indicator *design* matrix.

For ``N`` persons and ``J`` items the design ``M`` has one column per
(item, category ≥ 1) pair plus, for each item with missing responses, one
"observed" column.  With ``W`` holding ``log P_jk - log P_j0`` in category columns
and ``log P_j0`` in observed columns, the log-likelihood of every person at
every quadrature node is one matrix product ``M @ W`` plus the constant
``Σ_{complete j} log P_j0`` (Bock & Aitkin 1981 E-step as a GEMM).  The same
design gives the expected counts as ``Mᵀ @ posterior``.

Dense designs use float32 BLAS.  Designs of data with many missing responses
are kept as CSR in a second layout, *one column per (item, category)* including
category 0 (``full_categories``): every observed response is then exactly one
non-zero, ``W`` holds ``log P_jk`` itself and there is no constant, so both
products cost ``O(observed responses × Q)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from psychometrics._types import AnyArray, FloatArray, IntArray

__all__ = ["ResponseData", "prepare_responses", "responses_from_triples"]

SPARSE_OBSERVED = 0.5
"""Data with a smaller share of observed cells get a CSR design (by default)."""


@dataclass(frozen=True)
class ResponseData:
    """Responses prepared for EM, scoring and fit.

    Attributes:
        design: dense ``(N, C)`` float array or CSR matrix of 0/1 indicators.
        design_t: the transpose (a CSC view) when ``design`` is sparse, else ``None``.
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
    """

    design: Any
    design_t: Any
    weights: FloatArray
    col_item: IntArray
    col_cat: IntArray
    complete: Any
    n_categories: IntArray
    codes: AnyArray | None
    full_categories: bool = False
    mean_observed: float | None = None

    @property
    def n_persons(self) -> int:
        """Rows ``N`` (response patterns)."""
        return int(self.weights.shape[0])

    @property
    def n_items(self) -> int:
        """Items ``J``."""
        return int(self.n_categories.shape[0])

    @property
    def is_sparse(self) -> bool:
        """Whether the design is CSR."""
        return bool(sp.issparse(self.design))

    def matmul(self, w: AnyArray) -> AnyArray:
        """``M @ w`` for ``w`` of shape ``(C, Q)``; returns ``(N, Q)``."""
        return np.asarray(self.design @ w)

    def rmatmul(self, post: AnyArray) -> AnyArray:
        """``Mᵀ @ post`` for ``post`` of shape ``(N, Q)``; returns ``(C, Q)``."""
        if self.design_t is not None:
            return np.asarray(self.design_t @ post)
        return np.asarray(self.design.T @ post)

    def take_rows(self, rows: IntArray) -> ResponseData:
        """A subsample of persons (used for warm starts)."""
        design = self.design[rows]
        return ResponseData(
            design=design,
            design_t=_transpose(design) if sp.issparse(design) else None,
            weights=self.weights[rows],
            col_item=self.col_item,
            col_cat=self.col_cat,
            complete=self.complete,
            n_categories=self.n_categories,
            codes=None if self.codes is None else self.codes[rows],
            full_categories=self.full_categories,
            mean_observed=self.mean_observed,
        )

    def astype(self, dtype: Any) -> ResponseData:
        """The same data with the design in ``dtype``."""
        if self.design.dtype == dtype:
            return self
        design = self.design.astype(dtype)
        return ResponseData(
            design,
            None if self.design_t is None else _transpose(design),
            self.weights,
            self.col_item,
            self.col_cat,
            self.complete,
            self.n_categories,
            self.codes,
            self.full_categories,
            self.mean_observed,
        )


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
    """Integer codes (missing = -1) and a missing mask from a dense matrix."""
    y = np.asarray(responses)
    if y.ndim != 2:
        raise ValueError("responses must be a 2-D (persons × items) array")
    if np.issubdtype(y.dtype, np.floating):
        missing = np.isnan(y) | (y < 0)
        yi = np.where(missing, -1.0, y)
        codes = yi.astype(np.int16)
        if not np.array_equal(codes, yi):
            raise ValueError("responses must be integer category codes")
    else:
        codes = y.astype(np.int16)
        np.maximum(codes, -1, out=codes)
        missing = codes < 0
    return codes, missing


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
) -> ResponseData:
    """Build the E-step design from a dense response matrix.

    Args:
        responses: ``(N, J)`` integer categories ``0 … K_j-1``; ``NaN`` or a
            negative code marks a missing response.
        weights: optional frequency / survey weights, shape ``(N,)``.
        n_categories: categories per item; inferred as ``max + 1`` (at least 2).
        collapse: merge identical patterns (default: when ``J ≤ 20``).
        sparse: force CSR (``True``) or dense (``False``); default: CSR when fewer
            than ``SPARSE_OBSERVED`` of the cells are observed.
        dtype: floating type of the design (float32 for BLAS speed).

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
            design,
            _transpose(design),
            w,
            col_item,
            col_cat,
            np.zeros(j, dtype=bool),
            kcat,
            codes,
            full_categories=True,
            mean_observed=mean_obs,
        )
    mean_obs = float(j)
    if n_obs != missing.size and wsum > 0:
        mean_obs = float(np.einsum("n,n->", j - np.count_nonzero(missing, axis=1), w)) / wsum
    kmax = int(kcat.max()) if j else 2
    if kmax == 2 and bool(complete.all()):
        # fast path: complete dichotomous data is its own design
        return ResponseData(
            codes.astype(dtype),
            None,
            w,
            np.arange(j, dtype=np.int64),
            np.ones(j, dtype=np.int64),
            complete,
            kcat,
            codes,
            mean_observed=mean_obs,
        )
    col_item_parts: list[IntArray] = []
    col_cat_parts: list[IntArray] = []
    blocks: list[AnyArray] = []
    for k in range(1, kmax):
        items_k = np.flatnonzero(kcat > k)
        col_item_parts.append(items_k)
        col_cat_parts.append(np.full(items_k.size, k, dtype=np.int64))
        blocks.append(codes[:, items_k] == k)
    obs_items = np.flatnonzero(~complete)
    col_item_parts.append(obs_items)
    col_cat_parts.append(np.full(obs_items.size, -1, dtype=np.int64))
    blocks.append(~missing[:, obs_items])
    col_item = np.concatenate(col_item_parts).astype(np.int64)
    col_cat = np.concatenate(col_cat_parts).astype(np.int64)
    dense = np.empty((n, col_item.size), dtype=dtype)
    start = 0
    for b in blocks:
        dense[:, start : start + b.shape[1]] = b
        start += b.shape[1]
    return ResponseData(
        dense, None, w, col_item, col_cat, complete, kcat, codes, mean_observed=mean_obs
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
        design,
        _transpose(design),
        w,
        col_item,
        col_cat,
        np.zeros(n_items, dtype=bool),
        kcat,
        None,
        full_categories=True,
        mean_observed=float(np.einsum("n,n->", per_row, w)) / wsum if wsum > 0 else 0.0,
    )
