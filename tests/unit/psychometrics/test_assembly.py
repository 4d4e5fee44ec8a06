"""Automated test assembly (van der Linden 2005) with HiGHS.

Every constraint is checked on the returned form (length, blueprint counts, enemies, exposure
cap), the information is recomputed here from the 2PL formula, a small bank is solved by
brute force to show the MILP optimum is the true one, and infeasible specifications name the
constraint that cannot be met.  The 1,000-item case prints its solve time (no timing assert;
bench/psychometrics/assembly.py reports it against the 5 s goal).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from psychometrics.assembly import (
    MINIMAX_TOLERANCE,
    Assembly,
    AssemblySpec,
    InfeasibleAssembly,
    assemble,
)
from psychometrics.models import ItemParameters

SKILLS = ("algebra", "geometry", "numbers", "data")


def _bank(n: int, seed: int = 0) -> tuple[ItemParameters, list[tuple[str, ...]], np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.3, n)
    b = rng.normal(0.0, 1.0, n)
    skills = [(SKILLS[i % 4],) for i in range(n)]
    return ItemParameters("2pl", a, -a * b, np.zeros(n)), skills, rng.beta(2, 8, n)


def _information(items: ItemParameters, chosen: np.ndarray, theta: list[float]) -> np.ndarray:
    """Σ a² P (1 - P) over the chosen items, written out (not models.item_information)."""
    out = []
    for t in theta:
        p = 1 / (1 + np.exp(-(items.a[chosen] * t + items.d[chosen, 0])))
        out.append(float(np.sum(items.a[chosen] ** 2 * p * (1 - p))))
    return np.array(out)


def _check_every_constraint(
    form: Assembly,
    spec: AssemblySpec,
    items: ItemParameters,
    skills: list[tuple[str, ...]],
    exposure: np.ndarray | None,
) -> None:
    chosen = form.selected
    assert len(set(chosen.tolist())) == chosen.size == spec.length
    for skill, want in spec.blueprint.items():
        lo, hi = (want, want) if isinstance(want, int) else want
        count = sum(1 for i in chosen if skill in skills[int(i)])
        assert lo <= count <= hi, skill
        assert form.skill_counts[skill] == count
    for enemy in spec.enemies:
        assert len(set(enemy) & set(chosen.tolist())) <= 1, enemy
    if spec.max_exposure is not None and exposure is not None:
        assert (exposure[chosen] <= spec.max_exposure).all()
    info = _information(items, chosen, list(spec.theta))
    np.testing.assert_allclose(form.information, info, rtol=1e-9)


def test_a_40_item_form_from_1000_items_meets_blueprint_enemies_exposure_and_target() -> None:
    items, skills, exposure = _bank(1000)
    rng = np.random.default_rng(1)
    enemies = [rng.choice(1000, 3, replace=False).tolist() for _ in range(50)]
    spec = AssemblySpec(
        length=40,
        theta=[-1.0, 0.0, 1.0],
        target=[10.0, 12.0, 10.0],
        blueprint={"algebra": 10, "geometry": 10, "numbers": (8, 12), "data": (8, 12)},
        enemies=enemies,
        max_exposure=0.4,
    )
    form = assemble(items, skills, spec, exposure)
    print(f"\n1000 items -> 40: {form.seconds:.2f} s, information {form.information.round(3)}")
    _check_every_constraint(form, spec, items, skills, exposure)
    assert form.objective == "minimax" and form.status == "optimal"
    deviation = np.abs(form.information - np.asarray(spec.target))
    assert deviation.max() == pytest.approx(form.value, abs=1e-6)
    assert deviation.max() <= MINIMAX_TOLERANCE * 12.0
    assert form.to_dict()["skill_counts"] == form.skill_counts


def test_maximin_gives_the_most_information_with_the_target_shape() -> None:
    items, skills, _ = _bank(300, seed=4)
    spec = AssemblySpec(
        length=20, theta=[-1.0, 1.0], relative=[1.0, 2.0], blueprint={s: 5 for s in SKILLS}
    )
    form = assemble(items, skills, spec)
    _check_every_constraint(form, spec, items, skills, None)
    assert form.value == pytest.approx(min(form.information / [1.0, 2.0]), rel=1e-6)
    # Any single swap within a skill cannot raise the objective (local optimality check).
    info = np.stack([_information(items, np.array([i]), [-1.0, 1.0]) for i in range(300)])
    chosen = set(form.selected.tolist())
    for out in list(chosen)[:5]:
        for new in range(300):
            if new in chosen or skills[new] != skills[out]:
                continue
            swapped = form.information - info[out] + info[new]
            assert min(swapped / [1.0, 2.0]) <= form.value + 1e-6


def test_minimax_optimum_equals_brute_force_on_a_small_bank() -> None:
    items, skills, _ = _bank(12, seed=9)
    spec = AssemblySpec(
        length=4,
        theta=[-0.5, 0.5],
        target=[1.5, 1.2],
        blueprint={"algebra": (1, 2)},
        enemies=[[0, 4], [1, 5, 9]],
        abs_gap=1e-9,
        mip_gap=1e-9,
    )
    form = assemble(items, skills, spec)
    _check_every_constraint(form, spec, items, skills, None)
    best = np.inf
    for combo in itertools.combinations(range(12), 4):
        if not 1 <= sum(skills[i] == ("algebra",) for i in combo) <= 2:
            continue
        if len({0, 4} & set(combo)) > 1 or len({1, 5, 9} & set(combo)) > 1:
            continue
        dev = np.abs(_information(items, np.array(combo), [-0.5, 0.5]) - [1.5, 1.2]).max()
        best = min(best, float(dev))
    assert form.value == pytest.approx(best, abs=1e-7)


@pytest.mark.parametrize(
    ("change", "constraint", "words"),
    [
        ({"blueprint": {"algebra": 30}}, "skill:algebra", "skill 'algebra' needs 30 items"),
        ({"length": 60, "max_exposure": 0.1}, "length", "60 items requested"),
        ({"length": 2, "blueprint": {"algebra": 2}, "enemies": [list(range(0, 100, 4))]},
         "skill:algebra", "at most 1 can be chosen"),
    ],
)  # fmt: skip
def test_an_infeasible_blueprint_names_the_constraint(
    change: dict[str, object], constraint: str, words: str
) -> None:
    items, skills, exposure = _bank(100)
    base: dict[str, object] = {"length": 10, "theta": [0.0], "target": [3.0]}
    with pytest.raises(InfeasibleAssembly) as err:
        assemble(items, skills, AssemblySpec(**{**base, **change}), exposure)  # type: ignore[arg-type]
    assert err.value.constraint == constraint
    assert words in str(err.value)


def test_malformed_specifications_are_refused() -> None:
    items, skills, _ = _bank(10)
    with pytest.raises(InfeasibleAssembly, match="length"):
        assemble(items, skills, AssemblySpec(length=11, theta=[0.0]))
    with pytest.raises(ValueError, match="target"):
        assemble(items, skills, AssemblySpec(length=2, theta=[0.0, 1.0], target=[1.0]))
    with pytest.raises(ValueError, match="enemies"):
        assemble(items, skills, AssemblySpec(length=2, theta=[0.0], enemies=[[0, 10]]))
    with pytest.raises(ValueError, match="blueprint"):
        assemble(items, skills, AssemblySpec(length=2, theta=[0.0], blueprint={"data": (3, 1)}))
