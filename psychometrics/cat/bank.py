"""Precomputed tables of an item bank for fast, vectorised CAT decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psychometrics._types import AnyArray, BoolArray, FloatArray, IntArray
from psychometrics.cat.state import CATConfig
from psychometrics.models import (
    ItemParameters,
    category_probabilities,
    item_information,
)
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = ["CATBank"]

_FINE_STEP = 0.01
_FINE_LIMIT = 6.0


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

    @property
    def n_items(self) -> int:
        """Bank size ``I``."""
        return self.items.n_items

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
