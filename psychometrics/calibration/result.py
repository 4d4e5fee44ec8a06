"""Results of a calibration: parameters, errors, fit indices and convergence report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psychometrics._types import FloatArray
from psychometrics.models import ItemParameters

__all__ = ["CalibrationResult", "ConvergenceReport", "StandardErrors"]


@dataclass(frozen=True)
class StandardErrors:
    """Standard errors in the reported parameterisation (``NaN`` where fixed).

    Attributes:
        a: ``(J,)``; d: ``(J, K-1)``; b: ``(J, K-1)`` (delta method); c: ``(J,)``.
        covariance: covariance of the free parameters in estimation order.
    """

    a: FloatArray
    d: FloatArray
    b: FloatArray
    c: FloatArray
    covariance: FloatArray


@dataclass(frozen=True)
class ConvergenceReport:
    """How the EM run ended.

    Attributes:
        converged: the largest parameter change fell below ``tolerance``.
        iterations: number of E-steps (EM map evaluations) on the full data.
        warm_start_iterations: E-steps spent on a subsample before that.
        max_change: last largest absolute change of a free parameter.
        tolerance: the convergence tolerance.
        seconds: wall time.
        message: a human-readable summary.
    """

    converged: bool
    iterations: int
    warm_start_iterations: int
    max_change: float
    tolerance: float
    seconds: float
    message: str


@dataclass(frozen=True)
class CalibrationResult:
    """A fitted item bank.

    Attributes:
        items: estimated item parameters.
        log_likelihood: marginal log-likelihood at the estimate.
        n_parameters: number of free parameters.
        n_persons: total person weight.
        latent_mean: mean of θ (0 unless estimated with anchors).
        latent_sd: SD of θ (1 unless estimated with anchors).
        convergence: convergence report.
        standard_errors: standard errors if requested.
        history: log-likelihood after each EM map evaluation.
    """

    items: ItemParameters
    log_likelihood: float
    n_parameters: int
    n_persons: float
    latent_mean: float
    latent_sd: float
    convergence: ConvergenceReport
    standard_errors: StandardErrors | None = None
    history: tuple[float, ...] = field(default=())

    @property
    def aic(self) -> float:
        """Akaike information criterion ``-2ℓ + 2p``."""
        return -2.0 * self.log_likelihood + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``-2ℓ + p log N``."""
        return -2.0 * self.log_likelihood + self.n_parameters * float(np.log(self.n_persons))

    @property
    def iterations(self) -> int:
        """E-steps on the full data."""
        return self.convergence.iterations

    @property
    def converged(self) -> bool:
        """Whether EM converged."""
        return self.convergence.converged

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary in the CLI's output format."""

        def f(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        rows = []
        base = self.items.to_dict()["items"]
        se = self.standard_errors
        for j, row in enumerate(base):
            out = dict(row)
            if se is not None:
                k = int(self.items.n_categories[j]) - 1
                dse = [f(v) for v in se.d[j, :k]]
                bse = [f(v) for v in se.b[j, :k]]
                out["se"] = {
                    "a": f(se.a[j]),
                    "d": dse if k > 1 else dse[0],
                    "b": bse if k > 1 else bse[0],
                    "c": f(se.c[j]),
                }
            else:
                out["se"] = {}
            rows.append(out)
        return {
            "model": self.items.model,
            "items": rows,
            "log_likelihood": self.log_likelihood,
            "aic": self.aic,
            "bic": self.bic,
            "n_parameters": self.n_parameters,
            "n_persons": self.n_persons,
            "latent_mean": self.latent_mean,
            "latent_sd": self.latent_sd,
            "iterations": self.convergence.iterations,
            "converged": self.convergence.converged,
            "convergence": {
                "max_change": self.convergence.max_change,
                "tolerance": self.convergence.tolerance,
                "warm_start_iterations": self.convergence.warm_start_iterations,
                "seconds": self.convergence.seconds,
                "message": self.convergence.message,
            },
        }
