"""The adaptive-exam logic without I/O: configuration, bank, rebuild, replay, scoring, CSV."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from apis.content.transfer import parse_csv, to_csv
from apis.exams import adaptive
from core.errors import InvalidInput
from psychometrics import CATBank, CATConfig, record_response, start

SETTINGS: dict[str, Any] = {
    "selection": "mfi",
    "exposure": {"method": "randomesque", "randomesque_k": 4, "max_rate": 0.3},
    "blueprint": {"a": 0.5, "b": 0.5},
    "stopping": {
        "min_items": 4, "max_items": 12, "se_target": 0.3, "cut_score": None,
        "classification_z": 1.96,
    },
    "pilot_share": 0.15,
}  # fmt: skip


def _pool(n: int = 40, pilots: int = 4) -> list[adaptive.PoolItem]:
    return [
        adaptive.PoolItem(
            f"i{j}", "pilot" if j >= n else "operational", ("a",) if j % 2 else ("b",), 4,
            "key", j < n,
        )
        for j in range(n + pilots)
    ]  # fmt: skip


def _bank(pool: list[adaptive.PoolItem], cfg: CATConfig) -> CATBank:
    rng = np.random.default_rng(5)
    rows = [
        adaptive.ParamRow(f"p{j}", "2pl", float(rng.uniform(0.8, 2)), (float(rng.normal()),), 0.0)
        if p.has_parameters
        else None
        for j, p in enumerate(pool)
    ]
    return CATBank.build(adaptive.item_parameters(rows, [p.n_options for p in pool]), cfg)


def _run(
    cfg: CATConfig, bank: CATBank, seed: int, theta: float
) -> tuple[list[adaptive.StoredStep], str]:
    """The live loop, as the service runs it, with simulated 2PL answers."""
    rng = random.Random(seed)
    state = start(seed, cfg)
    steps = []
    while True:
        step = adaptive.advance(state, bank, cfg)
        if step.choice is None:
            return steps, step.stop_reason or ""
        c = step.choice
        p = 1 / (1 + np.exp(-(bank.items.a[c.item] * theta + bank.items.d[c.item, 0])))
        score = int(rng.random() < p)
        steps.append(adaptive.StoredStep(len(steps), c.item, c.pilot, c.reason, c.value, score))
        state = record_response(state, c, score, bank)


def test_pilot_positions_spread_the_share_and_never_take_the_first_item() -> None:
    assert adaptive.pilot_positions(0, 0.2, 20) == ()
    assert adaptive.pilot_positions(5, 0.0, 20) == ()
    positions = adaptive.pilot_positions(10, 0.2, 20)
    assert len(positions) == 5 and 0 not in positions and max(positions) < 25
    assert adaptive.pilot_positions(1, 0.3, 10) == (6,)


def test_config_translation_and_its_errors() -> None:
    pool = _pool()
    cfg = adaptive.build_cat_config(SETTINGS, pool)
    assert cfg.pilot_items == (40, 41, 42, 43) and cfg.pilot_positions
    assert cfg.content_targets == (("a", 0.5), ("b", 0.5)) and cfg.item_skills is not None
    uncalibrated = [replace(p, has_parameters=False) if p.item_id == "i3" else p for p in pool]
    with pytest.raises(InvalidInput, match="i3"):
        adaptive.build_cat_config(SETTINGS, uncalibrated)
    with pytest.raises(InvalidInput, match=r"\['zz'\]"):
        adaptive.build_cat_config({**SETTINGS, "blueprint": {"a": 1, "zz": 1}}, pool)
    bad_stop = {**SETTINGS, "stopping": {**SETTINGS["stopping"], "min_items": 20}}
    with pytest.raises(InvalidInput, match="max_items"):
        adaptive.build_cat_config(bad_stop, pool)
    with pytest.raises(InvalidInput, match="retired"):
        adaptive.build_cat_config(SETTINGS, [replace(pool[0], status="retired"), *pool[1:]])


def test_placeholder_parameters_for_uncalibrated_pilots_and_the_bank_key() -> None:
    items = adaptive.item_parameters(
        [adaptive.ParamRow("p", "grm", 1.3, (1.0, -1.0), 0.0), None, None], [3, 3, 2]
    )
    assert items.model == "grm" and items.n_categories.tolist() == [3, 3, 2]
    assert adaptive.bank_key("e", ["x", None]) != adaptive.bank_key("e", ["x", "y"])


def test_rebuilt_state_equals_the_live_state_and_replay_reproduces_the_sequence() -> None:
    pool = _pool()
    cfg = adaptive.build_cat_config(SETTINGS, pool)
    bank = _bank(pool, cfg)
    for seed, theta in [(1, -1.0), (2, 0.4), (3, 1.8)]:
        steps, stop = _run(cfg, bank, seed, theta)
        assert stop.startswith("stop:") and any(s.pilot for s in steps)
        rebuilt = adaptive.rebuild_state(seed, cfg, bank, steps)
        assert rebuilt.items == tuple(s.bank_index for s in steps)
        report = adaptive.replay(seed, cfg, bank, steps, stop)
        assert report.matches, report.detail
        assert report.replayed_items == report.stored_items
        assert report.theta == rebuilt.theta
        # A different seed or a tampered log is detected at the exact position.
        assert (
            not adaptive.replay(seed + 100, cfg, bank, steps, stop).matches
            or cfg.exposure == "none"
        )
        tampered = list(steps)
        tampered[2] = replace(tampered[2], bank_index=(tampered[2].bank_index + 1) % 40)
        bad = adaptive.replay(seed, cfg, bank, tampered, stop)
        assert not bad.matches and bad.first_mismatch == 2
        assert not adaptive.replay(seed, cfg, bank, steps, "stop: item bank exhausted").matches


def test_score_scale_percentile_and_skill_profile() -> None:
    pool = _pool()
    cfg = adaptive.build_cat_config(SETTINGS, pool)
    bank = _bank(pool, cfg)
    steps, _ = _run(cfg, bank, 9, 0.5)
    state = adaptive.rebuild_state(9, cfg, bank, steps)
    correct = [s.score == 1 for s in steps]
    sc = adaptive.score(
        state, bank, cfg, {"mean": 500, "sd": 100}, [p.skills for p in pool], correct
    )
    assert sc.scale_score == round(500 + 100 * state.theta, 1)
    assert sc.percentile == adaptive.percentile_of(state.theta, 0.0, 1.0)
    assert adaptive.percentile_of(0.0, 0.0, 1.0) == 50.0
    scored = [s for s in steps if not s.pilot]
    assert sum(x["items"] for x in sc.skills) == len(scored)
    assert {x["skill"] for x in sc.skills} == {"a", "b"}


def test_sympson_hetter_parameters_bring_exposure_down() -> None:
    pool = _pool(60, 0)
    cfg = adaptive.build_cat_config({**SETTINGS, "pilot_share": 0.0, "blueprint": {}}, pool)
    bank = _bank(pool, cfg)
    k = adaptive.sympson_hetter_parameters(bank.items, cfg, 0.3, examinees=200)
    assert len(k) == 60 and min(k) < 1.0 and all(0 <= x <= 1 for x in k)


def test_csv_round_trip_and_errors() -> None:
    rows = [
        {
            "item_id": "0190b8a8-0000-7000-8000-000000000001", "stem": "2+2?",
            "options": ["3", "4"], "answer_key": 1, "scoring": "key", "skills": ["x", "y"],
            "status": "operational", "media": [],
            "parameters": {"model": "2pl", "a": 1.2, "b": -0.4, "c": 0.0, "calibration_id": "c1"},
        },
        {
            "item_id": "0190b8a8-0000-7000-8000-000000000002", "stem": "Mood",
            "options": ["lo", "mid", "hi"], "answer_key": None, "scoring": "graded",
            "skills": [], "status": "pilot", "media": [{"uri": "s3://x", "kind": "image", "alt": ""}],
        },
    ]  # fmt: skip
    parsed = parse_csv(to_csv(rows))
    assert [p.stem for p in parsed] == ["2+2?", "Mood"]
    assert parsed[0].parameters is not None and parsed[0].parameters.b == -0.4
    assert parsed[1].scoring == "graded" and parsed[1].answer_key is None
    with pytest.raises(InvalidInput, match="unknown CSV columns"):
        parse_csv("stem,options,bogus\n")
    with pytest.raises(InvalidInput, match="line 2"):
        parse_csv('stem,options\nq,"not json"\n')
