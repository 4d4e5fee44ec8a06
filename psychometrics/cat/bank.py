"""Precomputed tables of an item bank for fast, vectorised CAT decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psychometrics._types import AnyArray, BoolArray, FloatArray, IntArray
from psychometrics.cat.state import CATConfig
from psychometrics.models import (
    ItemParameters,
    category_probabilities,
    item_information,
)
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = ["CATBank", "OnlineTables"]

_FINE_STEP = 0.01
_FINE_LIMIT = 6.0


def _frozen(a: IntArray) -> IntArray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class OnlineTables:
    """Plain-Python views of a :class:`CATBank` for the single-examinee (online) step.

    Derived once per bank so that one CAT step needs no per-call numpy work on the whole
    bank beyond the selection kernels themselves.  Every value equals what the vectorised
    code computes from the bank's arrays.

    Attributes:
        n_items: bank size ``I``.
        n_categories: categories per item, length ``I``.
        operational_set: indices of the operational items.
        n_operational: number of operational items.
        skill: skill code per item (``-1`` none), length ``I``.
        balance: whether content balancing applies (targets set and summing above zero).
        targets: target share per skill code, length ``S``.
        target_positive: ``targets[s] > 0``, length ``S``.
        targets_finite: no target is ``NaN`` or infinite.
        blocked: items that are not operational, increasing.
        blocked_in_skill: per skill code, the items that are not operational items of
            that skill, increasing.
        eligible: the operational items, increasing.
        eligible_in_skill: per skill code, its operational items, increasing.
        eligible_sets: per skill code, its operational items as a set.
        fisher_orders: rankings by Fisher information, filled on first use, keyed by
            ``(skill code or -1, fine-grid index)``: the best 96 eligible items (int16
            indices) and the number eligible (see ``engine._fisher_ranked``); at most
            ``(S + 1) · G`` entries of ≈ 0.4 kB.
        nodes2: ``grid.nodes**2``, shape ``(Q,)``.
        sh: Sympson–Hetter ``K_i``, length ``I``.
        n_fine: size ``G`` of the fine θ grid.
        token: identifies the bank in per-state caches without keeping it alive.
        recent: one-entry cache of :meth:`CATBank.used_items` (a list so it can change).
    """

    n_items: int
    n_categories: tuple[int, ...]
    operational_set: frozenset[int]
    n_operational: int
    skill: tuple[int, ...]
    balance: bool
    targets: tuple[float, ...]
    target_positive: tuple[bool, ...]
    targets_finite: bool
    blocked: IntArray
    blocked_in_skill: tuple[IntArray, ...]
    eligible: IntArray
    eligible_in_skill: tuple[IntArray, ...]
    eligible_sets: tuple[frozenset[int], ...]
    fisher_orders: dict[tuple[int, int], tuple[IntArray, int]]
    nodes2: FloatArray
    sh: tuple[float, ...]
    n_fine: int
    token: object
    recent: list[tuple[Any, frozenset[int], int]]


@dataclass(frozen=True)
class CATBank:
    """An item bank with lookup tables (build once with :meth:`build`).

    Attributes:
        items: the ``I`` items.
        grid: EAP quadrature grid (``Q`` nodes, prior weights).
        log_p: ``log P_ik(θ_q)``, shape ``(I, K, Q)``.
        fine_theta: fine θ grid for lookups, shape ``(G,)``.
        info_table: Fisher information on the fine grid, shape ``(G, I)``.
        prob_table: category probabilities on the fine grid, shape ``(G, I, K)``.
        b_center: mean threshold per item (a-stratification), shape ``(I,)``.
        stratum: a-stratum of each item (0 = lowest a), shape ``(I,)``.
        skill_index: skill code per item (``-1`` none), shape ``(I,)``.
        skills: skill labels.
        targets: target share per skill code, shape ``(S,)``.
        operational: items eligible for scored selection, shape ``(I,)``.
        pilot: pilot items, shape ``(I,)``.
        enemy: enemy adjacency, shape ``(I, I)``, or ``None``.
        sh: Sympson–Hetter ``K_i``, shape ``(I,)``.
        online: plain-Python tables for the single-examinee step (derived, see
            :class:`OnlineTables`).
    """

    items: ItemParameters
    grid: QuadratureGrid
    log_p: FloatArray
    fine_theta: FloatArray
    info_table: AnyArray
    prob_table: FloatArray
    b_center: FloatArray
    stratum: IntArray
    skill_index: IntArray
    skills: tuple[str, ...]
    targets: FloatArray
    operational: BoolArray
    pilot: BoolArray
    enemy: AnyArray | None
    sh: FloatArray
    online: OnlineTables = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        targets = self.targets
        n_skills = int(targets.size)
        skill = tuple(int(x) for x in self.skill_index)
        eligible = _frozen(np.flatnonzero(self.operational))
        onehot = self.skill_index[None, :] == np.arange(n_skills)[:, None]  # (S, I)
        eligible_in_skill = tuple(
            _frozen(np.flatnonzero(self.operational & onehot[s])) for s in range(n_skills)
        )
        nodes2 = self.grid.nodes**2
        nodes2.setflags(write=False)
        tables = OnlineTables(
            n_items=self.items.n_items,
            n_categories=tuple(int(k) for k in self.items.n_categories),
            operational_set=frozenset(eligible.tolist()),
            n_operational=int(eligible.size),
            skill=skill,
            balance=not (targets.size == 0 or targets.sum() <= 0),
            targets=tuple(float(t) for t in targets),
            target_positive=tuple(bool(t > 0) for t in targets),
            targets_finite=bool(np.isfinite(targets).all()),
            blocked=_frozen(np.flatnonzero(~self.operational)),
            blocked_in_skill=tuple(
                _frozen(np.flatnonzero(~(self.operational & onehot[s]))) for s in range(n_skills)
            ),
            eligible=eligible,
            eligible_in_skill=eligible_in_skill,
            eligible_sets=tuple(frozenset(e.tolist()) for e in eligible_in_skill),
            fisher_orders={},
            nodes2=nodes2,
            sh=tuple(float(x) for x in self.sh),
            n_fine=int(self.fine_theta.size),
            token=object(),
            recent=[(None, frozenset(), 0)],
        )
        object.__setattr__(self, "online", tables)

    @property
    def n_items(self) -> int:
        """Bank size ``I``."""
        return self.items.n_items

    def _usage(self, items: Iterable[int]) -> tuple[Any, frozenset[int], int]:
        """``(items, distinct used indices, operational items left)``; the last tuple asked
        for is remembered (one online step asks three times about the same state)."""
        t = self.online
        last = t.recent[0]
        if last[0] is items:
            return last
        used = frozenset(items)
        n = t.n_items
        if used and (min(used) < 0 or max(used) >= n):
            used = frozenset(i + n if i < 0 else i for i in used)
            if min(used) < 0 or max(used) >= n:
                self.operational[list(items)]  # raises numpy's IndexError, as indexing did
                raise IndexError(f"item index out of range for a bank of {n} items")
        entry = (items, used, t.n_operational - len(t.operational_set.intersection(used)))
        if type(items) is tuple:  # immutable: safe to recognise by identity
            t.recent[0] = entry
        return entry

    def used_items(self, items: Iterable[int]) -> frozenset[int]:
        """The distinct bank indices among ``items``, negative ones counted from the end as
        numpy indexing does.

        Raises:
            IndexError: for an index outside ``-I … I-1``.
        """
        return self._usage(items)[1]

    def unused_operational(self, items: Iterable[int]) -> int:
        """Operational items not among ``items`` (enemies not considered).

        Equals ``operational`` with ``items`` cleared, summed; ``items`` may repeat.
        """
        return self._usage(items)[2]

    def fine_index(self, theta: FloatArray) -> IntArray:
        """Nearest fine-grid index for each θ, shape like ``theta``."""
        idx = np.rint((theta + _FINE_LIMIT) / _FINE_STEP).astype(np.int64)
        return np.clip(idx, 0, self.fine_theta.size - 1)

    @classmethod
    def build(cls, items: ItemParameters, config: CATConfig) -> CATBank:
        """Precompute the tables for ``items`` under ``config``."""
        n = items.n_items
        grid = normal_grid(config.n_nodes, 6.0, config.prior_mean, config.prior_sd)
        p = category_probabilities(items, grid.nodes)
        log_p = np.log(np.maximum(p, 1e-300))
        fine = np.arange(-_FINE_LIMIT, _FINE_LIMIT + _FINE_STEP / 2, _FINE_STEP)
        info = np.ascontiguousarray(item_information(items, fine).T, dtype=np.float32)
        probs = np.ascontiguousarray(np.transpose(category_probabilities(items, fine), (2, 0, 1)))
        b = items.b
        b_center = np.nanmean(np.where(np.isfinite(b), b, np.nan), axis=1)
        b_center = np.nan_to_num(b_center, nan=0.0)
        order = np.argsort(items.a, kind="stable")
        stratum = np.empty(n, dtype=np.int64)
        stratum[order] = np.arange(n) * max(1, config.n_strata) // max(n, 1)
        if config.item_skills is not None:
            if len(config.item_skills) != n:
                raise ValueError("item_skills must have one entry per item")
            skills = tuple(sorted(set(config.item_skills)))
            code = {s: i for i, s in enumerate(skills)}
            skill_index = np.array([code[s] for s in config.item_skills], dtype=np.int64)
        else:
            skills = ()
            skill_index = np.full(n, -1, dtype=np.int64)
        targets = np.zeros(len(skills))
        for s, t in config.content_targets:
            if s not in skills:
                raise ValueError(f"content target for unknown skill {s!r}")
            targets[skills.index(s)] = t
        if targets.sum() > 0:
            targets = targets / targets.sum()
        pilot = np.zeros(n, dtype=bool)
        pilot[list(config.pilot_items)] = True
        operational = ~pilot
        operational[list(config.excluded)] = False
        enemy = None
        if config.enemies:
            enemy = np.zeros((n, n), dtype=bool)
            for group in config.enemies:
                g = np.asarray(group, dtype=np.int64)
                enemy[np.ix_(g, g)] = True
            np.fill_diagonal(enemy, False)
        sh = (
            np.ones(n)
            if config.sh_parameters is None
            else np.clip(np.asarray(config.sh_parameters, dtype=np.float64), 0.0, 1.0)
        )
        if sh.shape[0] != n:
            raise ValueError("sh_parameters must have one entry per item")
        return cls(
            items,
            grid,
            log_p,
            fine,
            info,
            probs,
            b_center,
            stratum,
            skill_index,
            skills,
            targets,
            operational,
            pilot,
            enemy,
            sh,
        )
