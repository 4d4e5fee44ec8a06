from __future__ import annotations

import json

import numpy as np
import pytest

from psychometrics.cat import (
    CATBank,
    CATConfig,
    CATState,
    check_stop,
    choose,
    finish,
    posterior,
    record_response,
    select_next_item,
    simulate_cat,
    start,
    stop_codes,
    sympson_hetter_calibrate,
)
from psychometrics.cat.engine import ItemChoice
from psychometrics.cat.selection import (
    astrat_criterion,
    content_mask,
    fisher_criterion,
    kl_criterion,
)
from psychometrics.models import ItemParameters, item_information


def bank_items(n: int = 120, seed: int = 0) -> ItemParameters:
    rng = np.random.default_rng(seed)
    return ItemParameters.from_irt("2pl", rng.lognormal(0, 0.3, n), rng.normal(0, 1, n))


def run(state: CATState, bank: CATBank, cfg: CATConfig, true_theta: float) -> CATState:
    rng = np.random.default_rng(state.seed + 1000)
    while True:
        stop = check_stop(state, bank, cfg)
        if stop.stop:
            return finish(state, stop)
        choice = select_next_item(state, bank, cfg)
        p = 1 / (
            1 + np.exp(-(bank.items.a[choice.item] * true_theta + bank.items.d[choice.item, 0]))
        )
        state = record_response(state, choice, int(rng.random() < p), bank)


def test_fisher_selection_picks_most_informative_item() -> None:
    items = bank_items()
    cfg = CATConfig()
    bank = CATBank.build(items, cfg)
    crit = fisher_criterion(bank, np.array([0.37]))
    np.testing.assert_allclose(crit[0], item_information(items, np.array([0.37]))[:, 0], rtol=1e-4)
    state = start(1, cfg)
    choice = select_next_item(state, bank, cfg)
    assert choice.item == int(item_information(items, np.array([0.0]))[:, 0].argmax())
    assert "Fisher" in choice.reason and not choice.pilot


def test_kl_and_astrat_criteria() -> None:
    items = bank_items()
    bank = CATBank.build(items, CATConfig())
    post = np.exp(bank.grid.log_weights)[None, :]
    kl = kl_criterion(bank, post, np.array([0.0]))
    assert kl.shape == (1, 120) and np.all(kl >= -1e-12)
    # KL is increasing in the slope for items at the same difficulty
    two = ItemParameters.from_irt("2pl", [0.5, 1.0, 2.0], [0.0, 0.0, 0.0])
    b2 = CATBank.build(two, CATConfig())
    k2 = kl_criterion(b2, np.exp(b2.grid.log_weights)[None, :], np.array([0.0]))[0]
    assert k2[0] < k2[1] < k2[2]
    crit = astrat_criterion(bank, np.array([0.0, 0.0]), np.array([0, 29]), 30, 4)
    first = bank.stratum[crit[0].argmax()]
    last = bank.stratum[crit[1].argmax()]
    assert first == 0 and last == 3
    assert items.a[bank.stratum == 0].max() <= items.a[bank.stratum == 3].min()


def test_exposure_choices() -> None:
    rng = np.random.default_rng(0)
    crit = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]] * 2000)
    avail = np.ones_like(crit, dtype=bool)
    avail[:, 0] = False
    best, val = choose(crit, avail, "none", rng)
    assert np.all(best == 1) and np.all(val == 4.0)
    rand, _ = choose(crit, avail, "randomesque", rng, k=3)
    assert set(np.unique(rand)) == {1, 2, 3}
    sh = np.array([1.0, 0.5, 1.0, 1.0, 1.0])
    pick, _ = choose(crit, avail, "sympson-hetter", rng, sh=sh)
    share = np.mean(pick == 1)
    assert 0.45 < share < 0.55 and set(np.unique(pick)) == {1, 2}
    zero = np.zeros(5)
    pick0, _ = choose(crit[:3], avail[:3], "sympson-hetter", rng, sh=zero)
    assert np.all(pick0 == 4)  # all rejected → last ranked candidate
    with pytest.raises(ValueError):
        choose(crit, avail, "sympson-hetter", rng)

    def fake(kpar: np.ndarray) -> np.ndarray:
        return np.array([0.9, 0.1, 0.5])

    k = sympson_hetter_calibrate(fake, 3, r_max=0.3, iterations=2)
    np.testing.assert_allclose(k, [0.3 / 0.9, 1.0, 0.6])


def test_content_balancing_mask() -> None:
    items = bank_items(6)
    cfg = CATConfig(
        item_skills=("a", "a", "b", "b", "c", "c"), content_targets=(("a", 1), ("b", 1))
    )
    bank = CATBank.build(items, cfg)
    avail = np.ones((2, 6), dtype=bool)
    counts = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    m = content_mask(bank, avail, counts)
    np.testing.assert_array_equal(m[0], [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(m[1], [1, 1, 0, 0, 0, 0])
    avail[0, 2:4] = False  # skill b exhausted → next deficit
    m = content_mask(bank, avail, counts)
    np.testing.assert_array_equal(m[0], [1, 1, 0, 0, 0, 0])
    nob = CATBank.build(items, CATConfig())
    assert content_mask(nob, avail, np.zeros((2, 0))) is avail


def test_stopping_rules() -> None:
    cfg = CATConfig(se_target=0.3, min_items=3, max_items=10, cut_score=0.5)
    codes = stop_codes(
        cfg,
        theta=np.array([0.0, 0.0, 0.0, 2.0, -2.0, 0.4, 0.4]),
        se=np.array([0.5, 0.2, 0.2, 0.4, 0.4, 0.4, 0.4]),
        n_scored=np.array([10, 2, 5, 5, 5, 5, 5]),
        n_available=np.array([5, 5, 5, 5, 5, 5, 0]),
    )
    np.testing.assert_array_equal(codes, [1, 2, 3, 4, 5, 0, 6])
    both = stop_codes(CATConfig(min_items=5), np.zeros(1), np.ones(1), np.array([1]), np.array([0]))
    assert both[0] == 6


def test_state_serialisation_and_replay() -> None:
    items = bank_items()
    cfg = CATConfig(
        exposure="randomesque",
        randomesque_k=4,
        se_target=0.35,
        max_items=25,
        pilot_items=(0, 1, 2),
        pilot_positions=(1, 3),
        enemies=((5, 6, 7),),
    )
    bank = CATBank.build(items, cfg)
    state = run(start(42, cfg), bank, cfg, true_theta=0.8)
    assert state.finished and state.decisions[-1].kind == "stop"
    assert state.pilot[1] and state.pilot[3] and sum(state.pilot) == 2
    assert state.n_scored == len(state.items) - 2
    assert len({5, 6, 7} & set(state.items)) <= 1
    blob = json.dumps(state.to_dict())
    again = CATState.from_dict(json.loads(blob))
    assert again == state
    cfg2 = CATConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert cfg2 == cfg
    # replay: same seed and responses → same items and decisions
    replay = start(42, cfg)
    for item, resp in zip(state.items, state.responses, strict=True):
        choice = select_next_item(replay, bank, cfg)
        assert choice.item == item
        replay = record_response(replay, choice, resp, bank)
    assert replay.items == state.items and replay.theta == state.theta
    # posterior is normalised and EAP is its mean
    post = posterior(state, bank)
    assert post.sum() == pytest.approx(1.0)
    assert post @ bank.grid.nodes == pytest.approx(state.theta)
    kinds = {d.kind for d in state.decisions}
    assert {"select", "pilot", "response", "stop"} <= kinds


def test_engine_errors_and_options() -> None:
    items = bank_items(4)
    cfg = CATConfig(
        max_items=4,
        se_target=None,
        selection="kl",
        excluded=(3,),
        exposure="sympson-hetter",
        sh_parameters=(1.0, 1.0, 1.0, 1.0),
        item_skills=("a", "a", "b", "b"),
        content_targets=(("a", 0.5), ("b", 0.5)),
    )
    bank = CATBank.build(items, cfg)
    s = start(0, cfg)
    ch = select_next_item(s, bank, cfg)
    assert "KL" in ch.reason and "Sympson" in ch.reason and "content" in ch.reason
    s = record_response(s, ch, 1, bank)
    with pytest.raises(ValueError):
        record_response(s, ch, 1, bank)
    with pytest.raises(ValueError):
        record_response(s, ItemChoice(2 if ch.item != 2 else 1, False, "", None), 5, bank)
    for _ in range(2):
        s = record_response(s, select_next_item(s, bank, cfg), 0, bank)
    assert 3 not in s.items
    stop = check_stop(s, bank, cfg)
    assert stop.stop and stop.code == 6
    with pytest.raises(ValueError):
        select_next_item(s, bank, cfg)
    for sel in ("astrat", "random"):
        c = CATConfig(selection=sel, se_target=0.5, max_items=10)
        b = CATBank.build(bank_items(), c)
        assert not select_next_item(start(1, c), b, c).pilot


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        CATConfig(selection="x")
    with pytest.raises(ValueError):
        CATConfig(exposure="x")
    with pytest.raises(ValueError):
        CATConfig(exposure="sympson-hetter")
    with pytest.raises(ValueError):
        CATConfig(min_items=5, max_items=3)
    with pytest.raises(ValueError):
        CATConfig(content_targets=(("a", 1.0),))
    items = bank_items(3)
    with pytest.raises(ValueError):
        CATBank.build(items, CATConfig(item_skills=("a",)))
    with pytest.raises(ValueError):
        CATBank.build(items, CATConfig(item_skills=("a", "a", "a"), content_targets=(("z", 1),)))
    with pytest.raises(ValueError):
        CATBank.build(items, CATConfig(exposure="sympson-hetter", sh_parameters=(1.0,)))


def test_batch_simulation() -> None:
    items = bank_items(300, seed=3)
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(400)
    cfg = CATConfig(se_target=0.3, max_items=40)
    res = simulate_cat(items, theta, cfg, seed=5)
    assert res.rmse < 0.4 and abs(res.bias) < 0.1
    assert np.all(res.se[res.stop_codes == 3] < 0.3)
    assert res.mean_length < 30
    assert res.exposure.max() <= 1.0 and res.exposure.sum() == pytest.approx(res.lengths.mean())
    assert res.microseconds_per_step > 0
    again = simulate_cat(CATBank.build(items, cfg), theta, cfg, seed=5)
    np.testing.assert_array_equal(again.administered, res.administered)
    rich = CATConfig(
        se_target=0.3,
        max_items=30,
        exposure="randomesque",
        selection="kl",
        item_skills=tuple("ab"[i % 2] for i in range(300)),
        content_targets=(("a", 0.5), ("b", 0.5)),
        enemies=((0, 1),),
        pilot_items=(2, 3, 4),
        pilot_positions=(0, 2),
        cut_score=0.0,
    )
    r2 = simulate_cat(items, theta, rich, seed=6)
    pil = np.isin(r2.administered, [2, 3, 4]).sum(axis=1)
    assert np.all(pil == 2)
    assert set(np.unique(r2.stop_codes)) <= {1, 3, 4, 5}
    strat = simulate_cat(
        items, theta[:50], CATConfig(selection="astrat", max_items=20, se_target=None), seed=1
    )
    assert np.all(strat.lengths == 20) and np.all(strat.stop_codes == 1)
    grm = ItemParameters.from_irt(
        "grm", [1.0] * 20, np.tile([[-1.0, 0.0, 1.0]], (20, 1)) + np.linspace(-2, 2, 20)[:, None]
    )
    rg = simulate_cat(grm, theta[:100], CATConfig(max_items=10, se_target=0.4), seed=2)
    assert rg.responses.max() == 3
