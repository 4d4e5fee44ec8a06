"""Linking a group's free calibration to the live scale through its live items (anchors),
dropping anchors that drifted; the constants and their provenance go with the candidates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.settings import CalibrationSettings
from orchestration.calibration.items import BankItem, finite_or_none
from psychometrics import (
    CalibrationResult,
    ItemParameters,
    LinkingConstants,
    link_anchors,
)

#: Live versions of these models can anchor a linking (dichotomous curves).
LINK_MODELS = ("rasch", "1pl", "2pl", "3pl")


@dataclass(frozen=True)
class Linking:
    """How a group's calibration was put on the live scale: theta_live = A * theta_new + B.

    `method` is a linking method (`stocking-lord`, ...), `fixed-anchor` (pilots calibrated with
    live anchors held fixed: already on the live scale) or `none` (with the `reason`)."""

    method: str
    A: float = 1.0
    B: float = 0.0
    se_a: float | None = None
    se_b: float | None = None
    anchors: int = 0
    anchors_available: int = 0
    dropped: tuple[str, ...] = ()
    target_calibrations: tuple[str, ...] = ()
    reason: str = ""

    @property
    def constants(self) -> LinkingConstants:
        return LinkingConstants(self.A, self.B, self.method, self.anchors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "A": self.A,
            "B": self.B,
            "se_A": self.se_a,
            "se_B": self.se_b,
            "anchors": self.anchors,
            "anchors_available": self.anchors_available,
            "dropped_as_drifted": list(self.dropped),
            "target_calibrations": list(self.target_calibrations),
            **({"reason": self.reason} if self.reason else {}),
        }


def _live_items(entries: Sequence[BankItem]) -> ItemParameters:
    """Live parameters of dichotomous bank items (as stored: slope-intercept)."""
    return ItemParameters(
        "3pl" if any(e.live_c for e in entries) else "2pl",
        np.array([float(e.live_a or 0.0) for e in entries]),
        np.array([[e.live_d[0]] for e in entries]),
        np.array([float(e.live_c) for e in entries]),
        tuple(e.item_id for e in entries),
    )


def link_to_live(
    result: CalibrationResult,
    ids: Sequence[str],
    bank: Mapping[str, BankItem],
    cfg: CalibrationSettings,
) -> Linking:
    """Link a group's free calibration to the live scale through its items that are live.

    Anchors whose linked curve stays more than `max_icc_rmsd` from the live one are dropped
    (`psychometrics.link_anchors`); with fewer than `min_link_anchors` the group is not
    linked (`method = none` and the reason)."""
    if cfg.linking == "none":
        return Linking("none", reason="linking disabled (config)")
    live = [
        j
        for j, i in enumerate(ids)
        if (e := bank.get(i)) is not None
        and e.has_live
        and e.live_model in LINK_MODELS
        and len(e.live_d) == 1
    ]
    if len(live) < cfg.min_link_anchors:
        return Linking(
            "none",
            anchors_available=len(live),
            reason=f"{len(live)} live anchor(s), fewer than min_link_anchors="
            f"{cfg.min_link_anchors}",
        )
    entries = [bank[ids[j]] for j in live]
    source = result.items.subset(live)
    target = _live_items(entries)
    linked = link_anchors(
        source,
        target,
        cfg.linking,
        max_rmsd=cfg.max_icc_rmsd,
        min_anchors=cfg.min_link_anchors,
        standard_errors=True,
    )
    kept = [e for e, k in zip(entries, linked.kept, strict=True) if k]
    dropped = tuple(e.item_id for e, k in zip(entries, linked.kept, strict=True) if not k)
    c = linked.constants
    return Linking(
        method=c.method,
        A=c.A,
        B=c.B,
        se_a=finite_or_none(c.se_a),
        se_b=finite_or_none(c.se_b),
        anchors=len(kept),
        anchors_available=len(entries),
        dropped=dropped,
        target_calibrations=tuple(sorted({e.live_calibration_id or "" for e in kept} - {""})),
    )
