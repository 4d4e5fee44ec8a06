"""Serialisable CAT configuration, state and decisions.

Everything here is a frozen dataclass with ``to_dict``/``from_dict`` that
round-trips through JSON, so an exam service can keep the state in Redis or
PostgreSQL and replay a test: selection randomness is derived from
``(state.seed, number of administered items)`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CATConfig", "CATState", "Decision"]


@dataclass(frozen=True)
class CATConfig:
    """Rules of an adaptive test.

    Attributes:
        selection: ``mfi`` (maximum Fisher information), ``kl`` (posterior-weighted
            Kullback–Leibler, Chang & Ying 1996; Chen, Ankenmann & Chang 2000),
            ``astrat`` (a-stratified, Chang & Ying 1999) or ``random``.
        exposure: ``none``, ``randomesque`` (Kingsbury & Zara 1989) or
            ``sympson-hetter`` (Sympson & Hetter 1985).
        randomesque_k: candidates for the randomesque draw.
        sh_parameters: Sympson–Hetter administration probabilities ``K_i`` per item.
        item_skills: skill label per item (content balancing).
        content_targets: target share per skill (Kingsbury & Zara 1989 constrained CAT).
        excluded: items never to administer.
        enemies: groups of items of which at most one may be administered.
        se_target: stop when the posterior SD falls below this (``None`` = off).
        min_items: minimum number of scored items.
        max_items: maximum number of scored items.
        cut_score: classify against this θ; stop when ``θ̂ ± z·SE`` excludes it.
        classification_z: ``z`` of the classification confidence interval.
        pilot_items: unscored pilot items to seed.
        pilot_positions: 0-based positions (in the whole sequence) that get a pilot item.
        n_strata: strata of the a-stratified design.
        prior_mean: prior mean of θ.
        prior_sd: prior SD of θ.
        n_nodes: quadrature nodes for the EAP update.
    """

    selection: str = "mfi"
    exposure: str = "none"
    randomesque_k: int = 5
    sh_parameters: tuple[float, ...] | None = None
    item_skills: tuple[str, ...] | None = None
    content_targets: tuple[tuple[str, float], ...] = ()
    excluded: tuple[int, ...] = ()
    enemies: tuple[tuple[int, ...], ...] = ()
    se_target: float | None = 0.3
    min_items: int = 1
    max_items: int = 30
    cut_score: float | None = None
    classification_z: float = 1.96
    pilot_items: tuple[int, ...] = ()
    pilot_positions: tuple[int, ...] = ()
    n_strata: int = 4
    prior_mean: float = 0.0
    prior_sd: float = 1.0
    n_nodes: int = 61

    def __post_init__(self) -> None:
        if self.selection not in ("mfi", "kl", "astrat", "random"):
            raise ValueError(f"unknown selection {self.selection!r}")
        if self.exposure not in ("none", "randomesque", "sympson-hetter"):
            raise ValueError(f"unknown exposure control {self.exposure!r}")
        if self.exposure == "sympson-hetter" and self.sh_parameters is None:
            raise ValueError("sympson-hetter needs sh_parameters")
        if self.min_items < 0 or self.max_items < max(1, self.min_items):
            raise ValueError("need 0 ≤ min_items ≤ max_items and max_items ≥ 1")
        if self.content_targets and self.item_skills is None:
            raise ValueError("content_targets need item_skills")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        out = asdict(self)
        out["content_targets"] = [list(t) for t in self.content_targets]
        out["enemies"] = [list(g) for g in self.enemies]
        for key in ("sh_parameters", "item_skills", "excluded", "pilot_items", "pilot_positions"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CATConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["content_targets"] = tuple((str(s), float(t)) for s, t in d.get("content_targets", ()))
        d["enemies"] = tuple(tuple(int(i) for i in g) for g in d.get("enemies", ()))
        for key in ("sh_parameters", "item_skills", "excluded", "pilot_items", "pilot_positions"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass(frozen=True)
class Decision:
    """One audited decision.

    Attributes:
        step: number of items administered before the decision.
        kind: ``select``, ``pilot``, ``response``, ``continue`` or ``stop``.
        item: the item concerned (``None`` for stop/continue).
        reason: human-readable explanation.
        value: criterion value, response or θ̂ depending on ``kind``.
    """

    step: int
    kind: str
    item: int | None
    reason: str
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))


@dataclass(frozen=True)
class CATState:
    """The whole state of one examinee's adaptive test.

    Attributes:
        seed: seed of the examinee's selection randomness.
        items: administered bank indices, in order.
        responses: responses to ``items``.
        pilot: whether each administered item was an unscored pilot.
        theta: current EAP estimate.
        se: current posterior SD.
        decisions: the audit log.
        finished: whether a stopping rule fired.
    """

    seed: int
    items: tuple[int, ...] = ()
    responses: tuple[int, ...] = ()
    pilot: tuple[bool, ...] = ()
    theta: float = 0.0
    se: float = 1.0
    decisions: tuple[Decision, ...] = field(default=())
    finished: bool = False

    @property
    def n_scored(self) -> int:
        """Number of scored (non-pilot) items."""
        return sum(1 for p in self.pilot if not p)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "seed": self.seed,
            "items": list(self.items),
            "responses": list(self.responses),
            "pilot": list(self.pilot),
            "theta": self.theta,
            "se": self.se,
            "decisions": [d.to_dict() for d in self.decisions],
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CATState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seed=int(data["seed"]),
            items=tuple(int(i) for i in data["items"]),
            responses=tuple(int(r) for r in data["responses"]),
            pilot=tuple(bool(p) for p in data["pilot"]),
            theta=float(data["theta"]),
            se=float(data["se"]),
            decisions=tuple(Decision.from_dict(d) for d in data["decisions"]),
            finished=bool(data["finished"]),
        )
