"""Quadrature grids for integrating over the latent trait θ.

The default is an *equally spaced* (rectangular) grid over ``[-limit, limit]`` with
normal-density weights, as in Bock & Aitkin (1981) and R mirt's default for one
factor (61 points on [-6, 6]).  Gauss–Hermite rules with few nodes bias slopes on
long tests because the posterior of a person who answered 200 items is much
narrower than the spacing of the GH nodes; a rectangular grid with spacing
``h`` integrates a Gaussian posterior of SD ``σ`` with relative error of order
``exp(-2π²σ²/h²)`` (trapezoidal rule), which is negligible for ``h ≤ σ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psychometrics._types import FloatArray

__all__ = ["QuadratureGrid", "normal_grid"]


@dataclass(frozen=True)
class QuadratureGrid:
    """Nodes and log prior weights of a one-dimensional quadrature rule.

    Attributes:
        nodes: θ values, shape ``(Q,)``, increasing.
        log_weights: log of the normalised prior weights, shape ``(Q,)``;
            ``exp(log_weights).sum() == 1``.
    """

    nodes: FloatArray
    log_weights: FloatArray

    @property
    def weights(self) -> FloatArray:
        """Normalised prior weights, shape ``(Q,)``."""
        return np.exp(self.log_weights)

    @property
    def size(self) -> int:
        """Number of nodes ``Q``."""
        return int(self.nodes.shape[0])

    def with_normal_prior(self, mean: float, sd: float) -> QuadratureGrid:
        """The same nodes with ``N(mean, sd²)`` weights."""
        return QuadratureGrid(self.nodes, normal_log_weights(self.nodes, mean, sd))


def normal_log_weights(nodes: FloatArray, mean: float = 0.0, sd: float = 1.0) -> FloatArray:
    """Log weights of ``N(mean, sd²)`` on ``nodes``, normalised to sum to one.

    Args:
        nodes: shape ``(Q,)``.
        mean: prior mean.
        sd: prior standard deviation (> 0).

    Returns:
        Shape ``(Q,)`` log weights.
    """
    z = (nodes - mean) / sd
    lw = -0.5 * z * z
    lw -= np.log(np.exp(lw - lw.max()).sum()) + lw.max()
    return np.asarray(lw, dtype=np.float64)


def normal_grid(
    n_nodes: int = 61, limit: float = 6.0, mean: float = 0.0, sd: float = 1.0
) -> QuadratureGrid:
    """Equally spaced grid on ``[mean - limit·sd, mean + limit·sd]`` with normal weights.

    Args:
        n_nodes: number of nodes ``Q`` (≥ 3).
        limit: half-width of the grid in prior SDs.
        mean: prior mean.
        sd: prior SD.

    Returns:
        The grid (Bock & Aitkin 1981 rectangular quadrature).
    """
    if n_nodes < 3:
        raise ValueError("n_nodes must be at least 3")
    if limit <= 0 or sd <= 0:
        raise ValueError("limit and sd must be positive")
    nodes = np.linspace(mean - limit * sd, mean + limit * sd, n_nodes)
    return QuadratureGrid(nodes, normal_log_weights(nodes, mean, sd))
