"""Stopping rules, vectorised over examinees.

Order of precedence: maximum length; minimum length; precision (posterior SD
below a target, e.g. Weiss & Kingsbury 1984); classification against a cut
score when the confidence interval ``θ̂ ± z·SE`` excludes the cut (Kingsbury &
Weiss 1983); bank exhausted.
"""

from __future__ import annotations

import numpy as np

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.cat.state import CATConfig

__all__ = ["REASONS", "stop_codes"]

REASONS: dict[int, str] = {
    0: "continue: no stopping rule met",
    1: "stop: maximum test length reached",
    2: "continue: minimum test length not reached",
    3: "stop: standard error below target",
    4: "stop: classified above the cut score",
    5: "stop: classified below the cut score",
    6: "stop: item bank exhausted",
}
STOPPING = frozenset({1, 3, 4, 5, 6})


def stop_codes(
    config: CATConfig,
    theta: FloatArray,
    se: FloatArray,
    n_scored: IntArray,
    n_available: IntArray,
) -> IntArray:
    """Reason codes (keys of :data:`REASONS`) for each examinee.

    Args:
        config: test rules.
        theta: ``(E,)`` estimates; se: ``(E,)`` posterior SDs.
        n_scored: ``(E,)`` scored items; n_available: ``(E,)`` items still available.

    Returns:
        ``(E,)`` integer codes; codes 1, 3, 4, 5 and 6 mean "stop".
    """
    code = np.zeros(theta.shape[0], dtype=np.int64)
    undecided = np.ones(theta.shape[0], dtype=bool)

    def put(mask: BoolArray, value: int) -> None:
        nonlocal undecided
        sel = undecided & mask
        code[sel] = value
        undecided &= ~sel

    put(n_scored >= config.max_items, 1)
    put(n_scored < config.min_items, 2)
    if config.se_target is not None:
        put(se < config.se_target, 3)
    if config.cut_score is not None:
        z = config.classification_z
        put(theta - z * se > config.cut_score, 4)
        put(theta + z * se < config.cut_score, 5)
    put(n_available <= 0, 6)
    # minimum length beats exhaustion only while items remain
    code[(code == 2) & (n_available <= 0)] = 6
    return code
