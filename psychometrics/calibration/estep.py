"""E-step of Bock–Aitkin (1981) marginal maximum likelihood as two matrix products.

For a design ``M`` (``N × C``, see :mod:`psychometrics.data`) and the table
``W`` (``C × Q``) of log-probability contrasts, the person-by-node log
likelihood is ``L = M @ W + const``; the posterior over the grid is a row-wise
softmax of ``L + log prior``; and the expected counts are ``Mᵀ @ posterior``.
Both products run block by block of rows as float32 BLAS GEMMs (or CSR products
for sparse data), while the counts and the log-likelihood are accumulated in
float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from psychometrics._types import FloatArray
from psychometrics.data import ResponseData

__all__ = ["EStepResult", "design_weights", "estep", "expected_counts", "log_likelihood"]

_LOG_FLOOR = -80.0
"""Relative posterior weights are floored at ``exp(-80)`` (a normal float32)."""


@dataclass(frozen=True)
class EStepResult:
    """Expected counts and marginal log-likelihood.

    Attributes:
        r: expected counts per design column, shape ``(C, Q)``.
        nq: expected number of persons per node, shape ``(Q,)``.
        log_likelihood: ``Σ_n w_n log Σ_q π_q f(x_n | θ_q)``.
    """

    r: FloatArray
    nq: FloatArray
    log_likelihood: float


def design_weights(log_p: FloatArray, data: ResponseData) -> tuple[FloatArray, FloatArray]:
    """The ``W`` table and constant for a design.

    Args:
        log_p: ``log P_jk(θ_q)``, shape ``(J, K, Q)``.
        data: prepared responses.

    Returns:
        ``W`` of shape ``(C, Q)`` and ``const`` of shape ``(Q,)``.
    """
    ci, cc = data.col_item, data.col_cat
    if data.full_categories:
        # one column per (item, category): W is log P itself, no constant
        return log_p[ci, cc], np.zeros(log_p.shape[2])
    cat = cc >= 0
    w = np.empty((ci.shape[0], log_p.shape[2]))
    w[cat] = log_p[ci[cat], cc[cat]] - log_p[ci[cat], 0]
    w[~cat] = log_p[ci[~cat], 0]
    const = log_p[np.asarray(data.complete, dtype=bool), 0].sum(axis=0)
    return w, np.asarray(const, dtype=np.float64)


def estep(
    data: ResponseData, log_p: FloatArray, log_prior: FloatArray, dtype: Any = np.float32
) -> EStepResult:
    """One E-step, block by block of rows (see :meth:`ResponseData.blocks`).

    Args:
        data: prepared responses (``N`` rows, weights ``w``).
        log_p: ``log P_jk(θ_q)``, shape ``(J, K, Q)``.
        log_prior: log prior weights of the nodes, shape ``(Q,)`` (normalised).
        dtype: working precision of the products.

    Returns:
        Expected counts and the marginal log-likelihood.
    """
    r, nq, ll = _sweep(data, log_p, log_prior, dtype, counts=True)
    return EStepResult(r, nq, ll)


def log_likelihood(
    data: ResponseData, log_p: FloatArray, log_prior: FloatArray, dtype: Any = np.float32
) -> float:
    """The marginal log-likelihood alone (the forward products of an E-step)."""
    return _sweep(data, log_p, log_prior, dtype, counts=False)[2]


def _sweep(
    data: ResponseData, log_p: FloatArray, log_prior: FloatArray, dtype: Any, counts: bool
) -> tuple[FloatArray, FloatArray, float]:
    """Posterior over the nodes block by block: expected counts, ``nq`` and log-likelihood.

    Per block: ``L = M_b @ W + const + log prior`` (in ``dtype``), a row-wise softmax
    weighted by the persons' weights, then ``r += M_bᵀ @ posterior`` — the block is
    still in cache for the second product.  Sums across blocks are float64.
    """
    w, const = design_weights(log_p, data)
    table = np.ascontiguousarray(w, dtype=dtype)
    shift = (const + log_prior).astype(dtype)
    n_nodes = log_p.shape[2]
    r = np.zeros((w.shape[0], n_nodes))
    nq = np.zeros(n_nodes)
    ll = 0.0
    for block, weights in data.blocks(dtype):
        post = np.asarray(block @ table)
        if post.dtype != dtype:
            post = post.astype(dtype)
        post += shift
        m = post.max(axis=1)
        post -= m[:, None]
        # exp(-80) ≈ 2e-35 is still a normal float32: no denormal (slow) arithmetic later
        np.maximum(post, _LOG_FLOOR, out=post)
        np.exp(post, out=post)
        # small reductions use einsum's single-threaded SIMD loops: 3-4x faster than
        # ndarray.sum over the short axis, and no BLAS threads to wake (which costs far more
        # than the work itself on a loaded machine)
        s = np.einsum("nq->n", post)
        ll += float(np.einsum("n,n->", weights, m.astype(np.float64) + np.log(s, dtype=np.float64)))
        if not counts:
            continue
        post *= (weights / s).astype(dtype)[:, None]
        r += np.asarray(block.T @ post)
        nq += np.einsum("nq->q", post)
    return r, nq, ll


def expected_counts(res: EStepResult, data: ResponseData, n_cat_max: int) -> FloatArray:
    """Per-item expected category counts ``r_jkq`` from an E-step, shape ``(J, K, Q)``."""
    J = data.n_items
    Q = res.nq.shape[0]
    counts = np.zeros((J, n_cat_max, Q))
    ci, cc = data.col_item, data.col_cat
    if data.full_categories:
        counts[ci, cc] = res.r
        return counts
    n = np.tile(res.nq, (J, 1))
    obs = cc < 0
    n[ci[obs]] = res.r[obs]
    counts[ci[~obs], cc[~obs]] = res.r[~obs]
    counts[:, 0] = n - counts[:, 1:].sum(axis=1)
    np.maximum(counts, 0.0, out=counts)
    return counts
