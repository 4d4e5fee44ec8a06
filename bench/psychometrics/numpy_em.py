"""A plain numpy 2PL calibration script: the baseline `dreamseed irt calibrate` is compared with.

Marginal maximum likelihood by EM (Bock & Aitkin 1981), written the way a competent
researcher writes it in an afternoon: vectorised over persons, items and quadrature nodes,
float64 throughout, no platform code and nothing but numpy and pyarrow.

* Quadrature: ``--nodes`` (41) equally spaced points on [-6, 6] with N(0, 1) weights.
* E-step: person-by-node log-likelihood as matrix products, ``L = Y @ log(P/Q) + O @ log Q``
  (``Y`` the 0/1 responses with missing as 0, ``O`` the observed mask; when nothing is
  missing the second product is a column sum), posterior by a row-wise softmax, expected
  counts ``r = Yᵀ @ post`` and ``n = Oᵀ @ post``.
* M-step: a few Newton–Raphson steps per item on the expected complete-data log-likelihood,
  vectorised over items (2 × 2 systems solved in closed form).
* Stop when no parameter moves by more than ``--tol`` (1e-4, mirt's default) between
  iterations, or after ``--max-iter`` iterations.

Run as its own process: ``python bench/psychometrics/numpy_em.py FILE.parquet`` prints JSON
(``a``, ``d``, ``iterations``, ``log_likelihood``, ``converged``, ``seconds``) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq


def read_responses(path: str) -> np.ndarray:
    """The wide file as a float64 ``(N, J)`` matrix, NaN where a response is missing."""
    table = pq.read_table(path)
    columns = [
        table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        for name in table.column_names
    ]
    return np.column_stack(columns)


def sigmoid(z: np.ndarray) -> np.ndarray:
    p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return p


def fit_2pl(
    y: np.ndarray, n_nodes: int = 41, tol: float = 1e-4, max_iter: int = 500
) -> dict[str, object]:
    observed = ~np.isnan(y)
    complete = bool(observed.all())
    yz = np.where(observed, y, 0.0)
    obs = observed.astype(np.float64)
    n_items = y.shape[1]

    theta = np.linspace(-6.0, 6.0, n_nodes)
    log_prior = -0.5 * theta**2
    log_prior -= np.log(np.exp(log_prior).sum())

    # starting values: unit slopes, intercepts from the proportions correct
    p_correct = np.clip(yz.sum(axis=0) / obs.sum(axis=0), 0.01, 0.99)
    a = np.ones(n_items)
    d = np.log(p_correct / (1.0 - p_correct))

    log_lik = -np.inf
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        # ---- E-step
        p = sigmoid(a[:, None] * theta[None, :] + d[:, None])  # (J, Q)
        p = np.clip(p, 1e-10, 1.0 - 1e-10)
        log_p, log_q = np.log(p), np.log1p(-p)
        lik = yz @ (log_p - log_q)  # (N, Q)
        if complete:
            lik += log_q.sum(axis=0)
        else:
            lik += obs @ log_q
        lik += log_prior
        peak = lik.max(axis=1, keepdims=True)
        post = np.exp(lik - peak)
        total = post.sum(axis=1, keepdims=True)
        log_lik = float((peak + np.log(total)).sum())
        post /= total
        r = yz.T @ post  # expected correct answers per item and node, (J, Q)
        n = np.broadcast_to(post.sum(axis=0), r.shape) if complete else obs.T @ post

        # ---- M-step: Newton-Raphson per item on sum_q r log P + (n - r) log(1 - P)
        a_new, d_new = a.copy(), d.copy()
        for _ in range(5):
            p = sigmoid(a_new[:, None] * theta[None, :] + d_new[:, None])
            resid = r - n * p
            w = n * p * (1.0 - p)
            g_a, g_d = (resid * theta).sum(axis=1), resid.sum(axis=1)
            h_aa, h_ad, h_dd = (w * theta**2).sum(axis=1), (w * theta).sum(axis=1), w.sum(axis=1)
            det = h_aa * h_dd - h_ad**2
            step_a = (h_dd * g_a - h_ad * g_d) / det
            step_d = (h_aa * g_d - h_ad * g_a) / det
            a_new += np.clip(step_a, -1.0, 1.0)
            d_new += np.clip(step_d, -1.0, 1.0)
            if max(np.abs(step_a).max(), np.abs(step_d).max()) < 1e-8:
                break

        change = max(np.abs(a_new - a).max(), np.abs(d_new - d).max())
        a, d = a_new, d_new
        if change < tol:
            converged = True
            break
    return {
        "a": a.tolist(),
        "d": d.tolist(),
        "iterations": iterations,
        "log_likelihood": log_lik,
        "converged": converged,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="wide Parquet file: one column per item, 0/1, null = missing")
    parser.add_argument("--nodes", type=int, default=41)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=500)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    y = read_responses(args.path)
    out = fit_2pl(y, args.nodes, args.tol, args.max_iter)
    out["seconds"] = time.perf_counter() - start
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
