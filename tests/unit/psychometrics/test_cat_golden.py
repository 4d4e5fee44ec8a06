"""The single-examinee CAT path reproduces the recorded trajectories bit for bit.

``fixtures/cat_golden.json`` was written by ``fixtures/make_cat_golden.py`` with the engine
as it was before the online-step optimisation.  Stored exams are replayed from their seed,
so every selected item, reason, criterion value, θ̂/SE float, stop code and reason must stay
*identical* (floats compared with ``==``; JSON keeps ``repr(float)``, which round-trips).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

FIXTURES = Path(__file__).with_name("fixtures")


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_cat_golden", FIXTURES / "make_cat_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], dict[str, Any]]:
    expected = json.loads((FIXTURES / "cat_golden.json").read_text())
    actual = json.loads(json.dumps(_maker().record_all()))
    return expected, actual


def test_every_scenario_is_present(recorded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = recorded
    assert sorted(actual["scenarios"]) == sorted(expected["scenarios"])
    assert actual["types_ok"] is True


def test_trajectories_are_identical(recorded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    expected, actual = recorded
    for name, exp in expected["scenarios"].items():
        act = actual["scenarios"][name]
        assert act["config"] == exp["config"], name
        assert len(act["runs"]) == len(exp["runs"]), name
        for run_a, run_e in zip(act["runs"], exp["runs"], strict=True):
            where = f"{name}, seed {run_e['seed']}"
            for n, (sa, se) in enumerate(zip(run_a["steps"], run_e["steps"], strict=False)):
                # [check_stop code, item, pilot, reason, criterion, candidates, response, θ̂, SE]
                assert sa == se, f"{where}, step {n}: {sa} != {se}"
                assert float.hex(sa[7]) == float.hex(se[7]) and float.hex(sa[8]) == float.hex(se[8])
            assert len(run_a["steps"]) == len(run_e["steps"]), where
            for key in ("stop", "replay", "rebuilt", "state_sha256", "posterior_sha256"):
                assert run_a[key] == run_e[key], f"{where}: {key}"


def test_batch_simulations_are_identical(
    recorded: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    expected, actual = recorded
    assert actual["simulations"] == expected["simulations"]
