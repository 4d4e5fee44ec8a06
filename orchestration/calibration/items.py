"""The bank's items as the calibration plan sees them (with their live parameters), and the
candidate parameters it proposes for them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BankItem:
    """An item of the bank as the calibration needs it, with its live parameters if any."""

    item_id: str
    status: str  # pilot | operational | retired
    scoring: str  # key | graded
    live_param_id: str | None = None
    live_model: str | None = None
    live_a: float | None = None
    live_d: tuple[float, ...] = ()
    live_c: float = 0.0
    live_calibration_id: str | None = None
    live_version: int | None = None

    @property
    def has_live(self) -> bool:
        return self.live_param_id is not None and self.live_a is not None and bool(self.live_d)


@dataclass(frozen=True)
class Candidate:
    """One item's calibrated parameters and their provenance."""

    item_id: str
    role: str  # operational | pilot
    model: str
    a: float
    d: tuple[float, ...]
    c: float
    se_a: float | None
    se_b: float | None
    n_responses: int
    group_id: int
    n_persons: int
    log_likelihood: float
    converged: bool
    iterations: int
    max_change: float
    latent_mean: float
    latent_sd: float
    anchors: int
    is_promotable: bool
    sx2: float | None = None
    sx2_df: int | None = None
    sx2_p: float | None = None
    #: How the parameters were put on the live scale (see `Linking.to_dict`).
    linking: dict[str, Any] = field(default_factory=dict)

    @property
    def b(self) -> tuple[float, ...]:
        return tuple(-x / self.a for x in self.d)


def finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
