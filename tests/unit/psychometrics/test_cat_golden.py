"""The single-examinee CAT path reproduces the recorded trajectories.

``fixtures/cat_golden.json`` was written by ``fixtures/make_cat_golden.py`` (first with the
engine as it was before the online-step optimisation). Stored exams are replayed from their
seed, so every discrete outcome — selected item, pilot flag, reason, candidate count,
response, stop code and reason, replayed item list — must stay *identical*. Floats (criterion
values, θ̂, SE, posteriors) are compared to a tight relative tolerance: the BLAS kernels of
different CPUs round the last bit differently (e.g. -0.4931187985066251 against
-0.49311879850662504), and CI runs on whichever machine submits.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FIXTURES = Path(__file__).with_name("fixtures")
# A few ulps of drift per step across 30-item exams stay many orders of magnitude below this;
# an algorithmic change (another prior, quadrature or estimator) does not.
REL_TOL = 1e-9
ABS_TOL = 1e-12


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_cat_golden", FIXTURES / "make_cat_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """Discrete parts equal exactly, floats within the tolerance."""
    act_skeleton, act_floats = MAKER.split_floats(actual)
    exp_skeleton, exp_floats = MAKER.split_floats(expected)
    assert act_skeleton == exp_skeleton, f"{where}: {act_skeleton} != {exp_skeleton}"
    assert_floats_close(act_floats, exp_floats, where)


def assert_floats_close(actual: list[float], expected: list[float], where: str) -> None:
    assert len(actual) == len(expected), f"{where}: {len(actual)} floats, expected {len(expected)}"
    for n, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert math.isclose(a, e, rel_tol=REL_TOL, abs_tol=ABS_TOL), f"{where}[{n}]: {a} != {e}"


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], dict[str, Any]]:
    expected = json.loads((FIXTURES / "cat_golden.json").read_text())
    actual = json.loads(json.dumps(MAKER.record_all()))
    return expected, actual


def test_every_scenario_is_present(recorded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = recorded
    assert sorted(actual["scenarios"]) == sorted(expected["scenarios"])
    assert actual["types_ok"] is True


def test_trajectories_match(recorded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = recorded
    for name, exp in expected["scenarios"].items():
        act = actual["scenarios"][name]
        assert act["config"] == exp["config"], name
        assert len(act["runs"]) == len(exp["runs"]), name
        for run_a, run_e in zip(act["runs"], exp["runs"], strict=True):
            where = f"{name}, seed {run_e['seed']}"
            for n, (sa, se) in enumerate(zip(run_a["steps"], run_e["steps"], strict=False)):
                # [check_stop code, item, pilot, reason, criterion, candidates, response, θ̂, SE]
                assert_same(sa, se, f"{where}, step {n}")
            assert len(run_a["steps"]) == len(run_e["steps"]), where
            for key in ("stop", "replay", "rebuilt"):
                assert_same(run_a[key], run_e[key], f"{where}: {key}")
            assert run_a["state_skeleton_sha256"] == run_e["state_skeleton_sha256"], where
            assert_floats_close(run_a["state_floats"], run_e["state_floats"], f"{where}: state")
            assert_floats_close(run_a["posterior"], run_e["posterior"], f"{where}: posterior")


def test_batch_simulations_match(recorded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = recorded
    assert sorted(actual["simulations"]) == sorted(expected["simulations"])
    for name, exp in expected["simulations"].items():
        act = actual["simulations"][name]
        assert act["administered"] == exp["administered"], name
        assert act["stop_codes"] == exp["stop_codes"], name
        assert_floats_close(act["theta"], exp["theta"], f"{name}: theta")
        assert_floats_close(act["se"], exp["se"], f"{name}: se")


def test_float_drift_is_tolerated_and_discrete_change_is_not() -> None:
    """The comparison itself: one ulp passes, a changed item or a real shift fails."""
    step = [2, 84, False, "reason", 0.5417006015777588, 300, 0, -0.4931187985066251, 0.85]
    drifted = [*step[:7], -0.49311879850662504, 0.85]
    assert_same(drifted, step, "ulp")
    with pytest.raises(AssertionError):
        assert_same([*step[:1], 85, *step[2:]], step, "item")
    with pytest.raises(AssertionError):
        assert_same([*step[:7], -0.4931, 0.85], step, "theta")
