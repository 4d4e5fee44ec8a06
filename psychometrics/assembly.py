"""Automated test assembly (ATA): one fixed form by mixed-integer linear programming.

van der Linden, W. J. (2005). *Linear Models for Optimal Test Design*. New York: Springer.
(Ch. 3 constraints; ch. 5 objectives for a target test information function.)

Decision variables ``x_i ∈ {0, 1}`` (item ``i`` is on the form) and a real ``y ≥ 0``.
Constraints:

* length: ``Σ x_i = n``;
* blueprint: for each skill ``s``, ``lo_s ≤ Σ_{i ∈ s} x_i ≤ hi_s`` (an item with several
  skills counts for each of them);
* enemies: for each set ``E`` of mutually exclusive items, ``Σ_{i ∈ E} x_i ≤ 1``;
* exposure: items whose exposure rate exceeds the cap are fixed at ``x_i = 0``.

Objective at the chosen points ``θ_k`` with item information ``I_i(θ_k)``:

* **minimax** (absolute target ``T_k``, van der Linden 2005 §5.1.2): minimise ``y`` with
  ``|Σ I_i(θ_k) x_i - T_k| ≤ y`` for every ``k`` — the form whose information curve deviates
  least from the target at its worst point;
* **maximin** (relative target ``R_k``, §5.1.1; Ackerman 1989): maximise ``y`` with
  ``Σ I_i(θ_k) x_i ≥ R_k y`` — the most informative form with the target's shape.

Solved with HiGHS (Huangfu & Hall 2018) through ``highspy``.  An infeasible specification
raises :class:`InfeasibleAssembly` naming the constraint that cannot be met: each constraint
group is dropped in turn, and the first whose removal makes the model feasible is reported
with what the others allow (e.g. "skill 'algebra' needs 12 items, at most 9 can be chosen").

Arrays: ``items`` has ``J`` items; ``skills`` one tuple of labels per item; ``exposure
(J,)`` rates in ``[0, 1]``; ``theta (K,)``; results index the bank (``selected (n,)``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psychometrics._types import FloatArray, IntArray
from psychometrics.models import ItemParameters, item_information

__all__ = ["Assembly", "AssemblySpec", "InfeasibleAssembly", "assemble"]

_INF = np.inf  # HiGHS reads ±inf as no bound
# Minimax stops once the worst deviation is within this share of the largest target: the
# LP bound is usually 0, so a relative gap would never close.
MINIMAX_TOLERANCE = 0.005


class InfeasibleAssembly(ValueError):
    """No form meets the specification; ``constraint`` names the group that cannot be met
    (``length``, ``skill:<name>``, ``enemies`` or ``exposure``)."""

    def __init__(self, constraint: str, message: str) -> None:
        super().__init__(message)
        self.constraint = constraint


@dataclass(frozen=True)
class AssemblySpec:
    """What the form must satisfy.

    Attributes:
        length: items on the form ``n``.
        theta: ``(K,)`` ability points where the information is controlled.
        target: ``(K,)`` absolute target information (minimax) or ``None`` (maximin).
        relative: ``(K,)`` relative target shape for maximin (default all ones).
        blueprint: skill → exact count, or ``(min, max)``.
        enemies: sets of bank indices of which at most one may be chosen.
        max_exposure: exposure-rate cap (items above it are excluded); ``None``: no cap.
        time_limit: solver seconds; the best form found by then is returned.
        mip_gap: relative optimality gap at which the solver stops (maximin).
        abs_gap: absolute gap in information units at which minimax stops (default
            :data:`MINIMAX_TOLERANCE` × the largest target).
    """

    length: int
    theta: Sequence[float]
    target: Sequence[float] | None = None
    relative: Sequence[float] | None = None
    blueprint: Mapping[str, int | tuple[int, int]] = field(default_factory=dict)
    enemies: Sequence[Sequence[int]] = ()
    max_exposure: float | None = None
    time_limit: float = 30.0
    mip_gap: float = 1e-4
    abs_gap: float | None = None


@dataclass(frozen=True)
class Assembly:
    """The assembled form.

    Attributes:
        selected: ``(n,)`` bank indices, ascending.
        information: ``(K,)`` test information of the form at ``theta``.
        theta: ``(K,)``.
        target: ``(K,)`` the target (minimax) or ``None``.
        objective: ``minimax`` or ``maximin``; ``value`` is its ``y``.
        status: ``optimal`` or ``time limit`` (feasible, maybe not optimal).
        gap: the solver's relative MIP gap at the end.
        skill_counts: items per blueprint skill on the form.
        seconds: wall time of the solve.
    """

    selected: IntArray
    information: FloatArray
    theta: FloatArray
    target: FloatArray | None
    objective: str
    value: float
    status: str
    gap: float
    skill_counts: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (what an exam keeps as its assembly provenance)."""
        return {
            "objective": self.objective,
            "value": self.value,
            "status": self.status,
            "gap": self.gap,
            "theta": self.theta.tolist(),
            "target": None if self.target is None else self.target.tolist(),
            "information": self.information.tolist(),
            "skill_counts": dict(self.skill_counts),
            "seconds": self.seconds,
        }


@dataclass
class _Rows:
    """Constraint rows in CSR form, with a group name per row (for the diagnosis)."""

    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    group: list[str] = field(default_factory=list)

    def add(
        self, group: str, cols: Sequence[int], vals: Sequence[float], lo: float, hi: float
    ) -> None:
        self.starts.append(len(self.index))
        self.index.extend(int(c) for c in cols)
        self.value.extend(float(v) for v in vals)
        self.lower.append(lo)
        self.upper.append(hi)
        self.group.append(group)


def _bounds(spec: AssemblySpec, skill: str) -> tuple[int, int]:
    want = spec.blueprint[skill]
    lo, hi = (want, want) if isinstance(want, int) else (int(want[0]), int(want[1]))
    if lo < 0 or hi < lo:
        raise ValueError(f"blueprint[{skill!r}]: need 0 <= min <= max, got {want!r}")
    return lo, hi


def _validate(items: ItemParameters, skills: Sequence[Sequence[str]], spec: AssemblySpec) -> None:
    n_items = items.n_items
    if len(skills) != n_items:
        raise ValueError("skills must have one entry per item")
    if not 1 <= spec.length <= n_items:
        raise InfeasibleAssembly(
            "length", f"length: {spec.length} items requested from a bank of {n_items}"
        )
    theta = np.asarray(spec.theta, dtype=np.float64)
    if theta.ndim != 1 or theta.size == 0 or not np.isfinite(theta).all():
        raise ValueError("theta: give one or more finite ability points")
    for name, values in (("target", spec.target), ("relative", spec.relative)):
        if values is not None:
            v = np.asarray(values, dtype=np.float64)
            if v.shape != theta.shape or not (np.isfinite(v).all() and (v > 0).all()):
                raise ValueError(f"{name}: one positive value per theta point")
    for e, enemy in enumerate(spec.enemies):
        if any(not 0 <= int(i) < n_items for i in enemy):
            raise ValueError(f"enemies[{e}]: an index is outside the bank")


def _structure(
    skills: Sequence[Sequence[str]], spec: AssemblySpec, n_items: int
) -> tuple[_Rows, np.ndarray]:
    """Length, blueprint and enemy rows over the x columns; the x upper bounds (exposure)."""
    rows = _Rows()
    rows.add("length", range(n_items), [1.0] * n_items, spec.length, spec.length)
    for skill in spec.blueprint:
        lo, hi = _bounds(spec, skill)
        cols = [i for i, labels in enumerate(skills) if skill in labels]
        rows.add(f"skill:{skill}", cols, [1.0] * len(cols), lo, hi)
    for enemy in spec.enemies:
        cols = sorted({int(i) for i in enemy})
        rows.add("enemies", cols, [1.0] * len(cols), 0.0, 1.0)
    return rows, np.ones(n_items)


def _highs(time_limit: float, mip_gap: float, abs_gap: float) -> Any:
    import highspy  # only assembly needs the solver: `import psychometrics` stays light

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("mip_abs_gap", float(abs_gap))
    h.setOptionValue("threads", 1)
    return h


def _run(
    rows: _Rows,
    upper: np.ndarray,
    cost: np.ndarray,
    sense: str,
    time_limit: float,
    mip_gap: float,
    keep: set[str] | None = None,
    abs_gap: float = 1e-6,
) -> tuple[str, np.ndarray, float]:
    """Solve; columns ``0..J-1`` are binary, any further ones continuous ``≥ 0``.
    ``keep``: only these row groups (the rest dropped). Returns (status, x, gap)."""
    import highspy

    n_cols = cost.size
    h = _highs(time_limit, mip_gap, abs_gap)
    lower_cols = np.zeros(n_cols)
    upper_cols = np.concatenate([upper, np.full(n_cols - upper.size, _INF)])
    h.addVars(n_cols, lower_cols, upper_cols)
    n_bin = upper.size
    h.changeColsIntegrality(
        n_bin, np.arange(n_bin, dtype=np.int32), np.full(n_bin, highspy.HighsVarType.kInteger)
    )
    h.changeColsCost(n_cols, np.arange(n_cols, dtype=np.int32), cost)
    if sense == "max":
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    picked = [r for r, g in enumerate(rows.group) if keep is None or g in keep]
    ends = [*rows.starts[1:], len(rows.index)]
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    for r in picked:
        starts.append(len(index))
        index.extend(rows.index[rows.starts[r] : ends[r]])
        value.extend(rows.value[rows.starts[r] : ends[r]])
    if picked:
        h.addRows(
            len(picked),
            np.array([rows.lower[r] for r in picked]),
            np.array([rows.upper[r] for r in picked]),
            len(index),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=np.float64),
        )
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible", np.empty(0), np.nan
    if h.getInfo().primal_solution_status != 2:  # 2 = feasible
        if status == highspy.HighsModelStatus.kTimeLimit:
            raise TimeoutError(f"no feasible form found within {time_limit:g} s")
        return "infeasible", np.empty(0), np.nan
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    label = "optimal" if status == highspy.HighsModelStatus.kOptimal else "time limit"
    return label, x, float(h.getInfo().mip_gap)


def _diagnose(
    rows: _Rows, upper: np.ndarray, spec: AssemblySpec, excluded: int
) -> InfeasibleAssembly:
    """Name the constraint that cannot be met: the first group whose removal restores
    feasibility, with the most the other constraints allow."""
    groups = [g for g in dict.fromkeys(rows.group) if g != "information"]  # never infeasible
    n_items = upper.size
    feasible = np.zeros(n_items)
    for g in [*groups[1:], "length"]:
        others = set(groups) - {g}
        status, _, _ = _run(rows, upper, feasible, "min", spec.time_limit, 1.0, others)
        if status == "infeasible":
            continue
        # the most of this group's items the other constraints allow
        r = rows.group.index(g)
        end = rows.starts[r + 1] if r + 1 < len(rows.starts) else len(rows.index)
        cost = np.zeros(n_items)
        cost[rows.index[rows.starts[r] : end]] = 1.0
        if g == "enemies":
            return InfeasibleAssembly(
                g, "enemies: the enemy sets leave too few items to meet the length and blueprint"
            )
        _, x, _ = _run(rows, upper, cost, "max", spec.time_limit, 1.0, others)
        most = round(float(cost @ x[:n_items]))
        if g == "length":
            return InfeasibleAssembly(
                g, f"length: {spec.length} items requested, at most {most} can be chosen"
                f" under the blueprint, enemies and exposure caps ({excluded} items over the cap)",
            )  # fmt: skip
        skill = g.split(":", 1)[1]
        lo, hi = _bounds(spec, skill)
        need = f"{lo}" if lo == hi else f"{lo}-{hi}"
        return InfeasibleAssembly(
            g, f"blueprint: skill {skill!r} needs {need} items, at most {most} can be chosen"
            f" with the other constraints (length {spec.length}, enemies,"
            f" {excluded} items over the exposure cap)",
        )  # fmt: skip
    return InfeasibleAssembly(
        "exposure",
        f"exposure: {excluded} items are over the cap {spec.max_exposure}; the rest cannot"
        " meet the length, blueprint and enemies together",
    )


def assemble(
    items: ItemParameters,
    skills: Sequence[Sequence[str]],
    spec: AssemblySpec,
    exposure: Sequence[float] | FloatArray | None = None,
) -> Assembly:
    """The form that meets ``spec`` with the best information objective (module docstring).

    Raises:
        InfeasibleAssembly: no form meets the constraints (its message names which).
        ValueError: malformed specification.
        TimeoutError: no feasible form found within the time limit.
    """
    started = time.perf_counter()
    _validate(items, skills, spec)
    n_items = items.n_items
    theta = np.asarray(spec.theta, dtype=np.float64)
    info = item_information(items, theta)  # (J, K)
    rows, upper = _structure(skills, spec, n_items)
    excluded = 0
    if spec.max_exposure is not None and exposure is not None:
        rate = np.asarray(exposure, dtype=np.float64).reshape(-1)
        if rate.shape[0] != n_items:
            raise ValueError("exposure must have one rate per item")
        upper = np.where(rate > spec.max_exposure, 0.0, 1.0)
        excluded = int((upper == 0).sum())
    y = n_items  # the column index of y
    cols = [*range(n_items), y]
    if spec.target is not None:
        target = np.asarray(spec.target, dtype=np.float64)
        for k in range(theta.size):
            vals = [*info[:, k], -1.0]
            rows.add("information", cols, vals, -_INF, float(target[k]))
            rows.add("information", cols, [*info[:, k], 1.0], float(target[k]), _INF)
        objective, sense = "minimax", "min"
        abs_gap = spec.abs_gap if spec.abs_gap is not None else MINIMAX_TOLERANCE * target.max()
    else:
        target = None
        rel = np.ones(theta.size) if spec.relative is None else np.asarray(spec.relative, float)
        for k in range(theta.size):
            rows.add("information", cols, [*info[:, k], -float(rel[k])], 0.0, _INF)
        objective, sense = "maximin", "max"
        abs_gap = spec.abs_gap if spec.abs_gap is not None else 1e-6
    cost = np.zeros(n_items + 1)
    cost[y] = 1.0
    status, x, gap = _run(rows, upper, cost, sense, spec.time_limit, spec.mip_gap, None, abs_gap)
    if status == "infeasible":
        raise _diagnose(rows, upper, spec, excluded)
    selected = np.flatnonzero(x[:n_items] > 0.5).astype(np.int64)
    return Assembly(
        selected=selected,
        information=np.asarray(info[selected].sum(axis=0), dtype=np.float64),
        theta=theta,
        target=target,
        objective=objective,
        value=float(x[y]),
        status=status,
        gap=gap,
        skill_counts={s: sum(1 for i in selected if s in skills[int(i)]) for s in spec.blueprint},
        seconds=time.perf_counter() - started,
    )
