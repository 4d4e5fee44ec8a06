"""The optimised single-examinee CAT step against its pre-optimisation self, bit for bit.

``legacy_cat_step.py`` (beside this file) keeps the implementation from before the online-step
optimisation verbatim (``legacy_step`` and the functions it calls) as the oracle.  These tests drive both
through the same randomly drawn banks, configurations, seeds and answers and require every
outcome to be identical — items, pilot flags, reasons, criterion values, θ̂/SE bits, audit
logs, stop codes and reasons, candidate counts — and check the pieces that make the new path
fast (the Python ``SeedSequence``/``PCG64`` stream, the ranking shortcut, the memoised log
posterior) against numpy directly.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import numpy as np
import pytest

from apis.exams import adaptive
from psychometrics import ItemParameters
from psychometrics.cat import CATBank, CATConfig, CATState, check_stop, posterior, start
from psychometrics.cat import engine as current
from psychometrics.cat._rng import HASH_A, HASH_B, StepRandom, _seed_words
from psychometrics.cat.exposure import choose, rank_and_pick
from psychometrics.models import category_probabilities

LEGACY = Path(__file__).with_name("legacy_cat_step.py")


@pytest.fixture(scope="module")
def legacy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("legacy_cat_step", LEGACY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ randomness
SEEDS = [0, 1, 7, 2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 2**64, 2**96 - 1]
SEEDS += [2**96, 2**127 + 3, 2**200 + 11]  # entropy beyond the pool: numpy does the work


def test_step_random_is_default_rng_of_seed_and_position() -> None:
    r = random.Random(1)
    seeds = SEEDS + [r.getrandbits(r.choice([8, 31, 32, 33, 63, 64, 65])) for _ in range(400)]
    for seed in seeds:
        for position in (0, 1, 5, 29, 2**32 - 1, 2**32, r.randrange(200)):
            expected = np.random.default_rng([seed, position]).random(12).tolist()
            fast = StepRandom(seed, position)
            assert [fast.uniform() for _ in range(12)] == expected, (seed, position)
            # The numpy generator, handed over after some draws, continues the same stream.
            part = StepRandom(seed, position)
            assert [part.uniform(), part.uniform()] == expected[:2]
            assert part.generator().random(3).tolist() == expected[2:5]
            assert part.uniform() == expected[5]
            again = np.random.default_rng([seed, position]).integers(17, size=4)
            assert StepRandom(seed, position).generator().integers(17, size=4).tolist() == (
                again.tolist()
            )


def test_step_random_rejects_what_numpy_rejects() -> None:
    for bad in (-1, 1.5):
        with pytest.raises((ValueError, TypeError)) as fast:
            StepRandom(bad, 3)  # type: ignore[arg-type]
        with pytest.raises((ValueError, TypeError)) as ref:
            np.random.default_rng([bad, 3])
        assert type(fast.value) is type(ref.value)
    # numpy integers are accepted (by numpy itself)
    seed = np.int64(12345)
    assert StepRandom(seed, 2).uniform() == np.random.default_rng([seed, 2]).random()  # type: ignore[arg-type]


def test_unrolled_seed_sequence_constants() -> None:
    """``_seed_words`` is SeedSequence's mix_entropy + generate_state(8) with the running hash
    constants written out; a plain loop over the tabulated constants gives the same words."""

    def reference(entropy: list[int]) -> tuple[int, ...]:
        m32 = 0xFFFFFFFF
        a = iter(HASH_A)

        def hashmix(value: int) -> int:
            xor, mul = next(a)
            v = ((value ^ xor) * mul) & m32
            return v ^ (v >> 16)

        def mix(x: int, y: int) -> int:
            v = (0xCA01F9DD * x - 0x4973F715 * y) & m32
            return v ^ (v >> 16)

        pool = [hashmix(e) for e in entropy]
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        out = []
        for i, (xor, mul) in enumerate(HASH_B):
            v = ((pool[i % 4] ^ xor) * mul) & m32
            out.append(v ^ (v >> 16))
        return tuple(out)

    r = random.Random(2)
    for _ in range(300):
        entropy = [r.getrandbits(32) for _ in range(4)]
        assert _seed_words(*entropy) == reference(entropy)
        pool = np.random.SeedSequence(entropy).generate_state(8).tolist()
        assert list(_seed_words(*entropy)) == pool


# ------------------------------------------------------------------------------ kernels
def test_rank_and_pick_equals_choose() -> None:
    """One row through ``rank_and_pick`` = that row through the batch ``choose``, including
    ties, unavailable items, too few candidates and NaN."""
    rng = np.random.default_rng(4)
    for trial in range(600):
        n = int(rng.integers(1, 40))
        kind = trial % 4
        if kind == 0:
            crit = rng.random(n).astype(np.float32)
        elif kind == 1:  # heavy ties
            crit = rng.integers(0, 4, n).astype(np.float32)
        elif kind == 2:
            crit = rng.random(n)
            crit[rng.random(n) < 0.1] = np.nan
        else:
            crit = np.round(rng.random(n), 1)
        avail = rng.random(n) < rng.uniform(0.1, 1.0)
        avail[rng.integers(n)] = True
        sh = rng.uniform(0, 1, n)
        for method in ("none", "randomesque", "sympson-hetter"):
            k = int(rng.integers(1, 8))
            seed = int(rng.integers(2**40))
            items, values = choose(
                crit[None, :], avail[None, :], method, np.random.default_rng([seed, 3]), k=k, sh=sh
            )
            masked = np.where(avail, crit, -np.inf)
            item = rank_and_pick(-masked, method, StepRandom(seed, 3), k=k, sh=tuple(sh.tolist()))
            assert item == int(items[0]), (trial, method)
            assert np.float64(-(-masked)[item]).tobytes() == np.float64(values[0]).tobytes()


# ------------------------------------------------------------------------------ differential
def _random_bank(r: random.Random) -> ItemParameters:
    n = r.randint(4, 90)
    rng = np.random.default_rng(r.getrandbits(32))
    model = r.choice(["2pl", "2pl", "3pl", "grm", "rasch"])
    if r.random() < 0.25:  # repeated items: information ties
        distinct = max(1, n // r.randint(2, 4))
        rep = rng.integers(0, distinct, n)
        a0, b0 = rng.lognormal(0, 0.3, distinct), np.round(rng.normal(0, 1, distinct), 1)
        a, b = a0[rep], b0[rep]
    else:
        a, b = rng.lognormal(0, 0.3, n), rng.normal(0, 1, n)
    if model == "3pl":
        return ItemParameters.from_irt("3pl", a, b, rng.uniform(0.05, 0.3, n))
    if model == "grm":
        k = rng.integers(2, 5, n)
        bb = np.full((n, 3), np.nan)
        for j in range(n):
            bb[j, : k[j] - 1] = np.sort(b[j] + rng.normal(0, 0.7, k[j] - 1))
        return ItemParameters.from_irt("grm", a, bb)
    if model == "rasch":
        return ItemParameters.from_irt("rasch", np.ones(n), b)
    return ItemParameters.from_irt("2pl", a, b)


def _random_config(r: random.Random, n: int) -> CATConfig:
    kw: dict[str, Any] = {
        "selection": r.choice(["mfi", "mfi", "mfi", "kl", "astrat", "random"]),
        "exposure": r.choice(["none", "randomesque", "randomesque", "sympson-hetter"]),
        "randomesque_k": r.choice([1, 2, 3, 5, 5, 8, 100]),
        "min_items": r.choice([0, 1, 3, 10]),
        "max_items": r.choice([1, 5, 12, 20, 30, 200]),
        "se_target": r.choice([None, 0.25, 0.3, 0.5, 2.0]),
        "n_strata": r.choice([1, 3, 4]),
        "prior_mean": r.choice([0.0, 0.0, 0.5, -1]),
        "prior_sd": r.choice([1.0, 1.0, 1.4, 2]),
        "n_nodes": r.choice([61, 61, 41]),
    }
    kw["max_items"] = max(kw["max_items"], kw["min_items"], 1)
    if kw["exposure"] == "sympson-hetter":
        kw["sh_parameters"] = tuple(r.uniform(0.0, 1.0) for _ in range(n))
    if r.random() < 0.6:
        labels = r.choice(["ab", "abc", "abcd-", "a"])
        kw["item_skills"] = tuple(r.choice(labels) for _ in range(n))
        present = sorted({s for s in kw["item_skills"] if s != "-"})
        if present and r.random() < 0.85:
            kw["content_targets"] = tuple(
                (s, r.choice([0.0, 0.2, 0.3, 0.5, 1.0, 2.0])) for s in present
            )
    if r.random() < 0.3:
        kw["cut_score"] = r.choice([-0.5, 0.0, 0.8])
        kw["classification_z"] = r.choice([1.645, 1.96])
    if r.random() < 0.3 and n >= 6:
        pilots = tuple(r.sample(range(n), r.randint(1, min(4, n - 2))))
        kw["pilot_items"] = pilots
        kw["pilot_positions"] = tuple(sorted(r.sample(range(0, 12), r.randint(1, 5))))
    if r.random() < 0.2 and n >= 6:
        kw["excluded"] = tuple(r.sample(range(n), r.randint(1, 3)))
    if r.random() < 0.2 and n >= 8:
        kw["enemies"] = tuple(tuple(r.sample(range(n), r.randint(2, 4))) for _ in range(2))
    return CATConfig(**kw)


def _same(a: Any, b: Any) -> bool:
    """Equal, with floats compared by their bits."""
    return json.dumps(msgspec.to_builtins(a), default=float.hex) == json.dumps(
        msgspec.to_builtins(b), default=float.hex
    ) and repr(a) == repr(b)


def test_random_banks_and_configs_match_the_legacy_step(legacy: ModuleType) -> None:
    r = random.Random(20261126)
    steps = 0
    for _ in range(100):
        items = _random_bank(r)
        cfg = _random_config(r, items.n_items)
        bank = CATBank.build(items, cfg)
        for _ in range(3):
            seed = r.choice([r.getrandbits(63), r.getrandbits(20), 0])
            theta = r.uniform(-3, 3)
            probs = category_probabilities(items, np.array([theta]))[:, :, 0]
            state_new = state_old = start(seed, cfg)
            first_new = adaptive.advance(state_new, bank, cfg)
            first_old = legacy.advance(state_old, bank, cfg)
            assert _same(first_new, first_old)
            step_new, step_old = first_new, first_old
            while step_new.choice is not None:
                c = step_new.choice
                u, acc, resp = r.random(), 0.0, 0
                for k, p in enumerate(probs[c.item]):
                    acc += float(p)
                    if u < acc:
                        resp = k
                        break
                cold = CATState.from_dict(json.loads(json.dumps(state_new.to_dict())))
                old_after, step_old = legacy.legacy_step(state_old, c, resp, bank, cfg)
                new_after, step_new = current.record_response(state_new, c, resp, bank), None
                step_new = adaptive.advance(new_after, bank, cfg)
                cold_after, cold_step = legacy.current_step(cold, c, resp, bank, cfg)
                assert _same(new_after, old_after) and _same(cold_after, old_after)
                assert new_after.theta.hex() == old_after.theta.hex()
                assert new_after.se.hex() == old_after.se.hex()
                assert _same(step_new, step_old) and _same(cold_step, step_old)
                assert check_stop(new_after, bank, cfg) == legacy.check_stop(old_after, bank, cfg)
                assert (
                    posterior(new_after, bank).tobytes()
                    == legacy.posterior(old_after, bank).tobytes()
                )
                state_new, state_old = new_after, old_after
                steps += 1
    assert steps > 1500


def _outcome(f: Any, *args: Any) -> Any:
    try:
        return ("ok", f(*args))
    except Exception as exc:  # the exception itself is the outcome
        return ("raised", type(exc), str(exc))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_odd_states_and_configs_behave_like_the_legacy_step(legacy: ModuleType) -> None:
    """States the engine never produces (hand-made or tampered caches) and unusual configs
    give the same result or the same exception as before."""
    rng = np.random.default_rng(6)
    items = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.3, 30), rng.normal(0, 1, 30))
    configs = [
        CATConfig(max_items=8),
        CATConfig(exposure="randomesque", item_skills=("a", "b") * 15,
                  content_targets=(("a", float("nan")), ("b", 1.0))),
        CATConfig(exposure="randomesque", item_skills=("a", "b") * 15,
                  content_targets=(("a", 0.0), ("b", 0.0))),
        CATConfig(exposure="sympson-hetter", sh_parameters=(0.0,) * 30, randomesque_k=0),
        CATConfig(exposure="randomesque", randomesque_k=-1),
        CATConfig(exposure="randomesque", randomesque_k=0),
        CATConfig(selection="kl", excluded=tuple(range(29))),
        CATConfig(enemies=(tuple(range(30)),)),
    ]  # fmt: skip
    states = [
        CATState(seed=5),
        CATState(seed=5, items=(-1, 3), responses=(1, 0), pilot=(False, False), theta=0.3),
        CATState(seed=5, items=(29, -1), responses=(1, 0), pilot=(False, False)),
        CATState(seed=5, items=(1, 2), responses=(1,), pilot=(False, False)),
        CATState(seed=5, items=(1, 2), responses=(1, 0), pilot=(False,)),
        CATState(seed=5, items=(1, 2), responses=(1, 0), pilot=(False, True), theta=float("inf")),
        CATState(seed=5, items=(1,), responses=(0,), pilot=(False,), theta=float("nan")),
        CATState(seed=5, items=(1,), responses=(0,), pilot=(False,), theta=-1e300, se=0.1),
        CATState(seed=5, items=(40,), responses=(0,), pilot=(False,)),
        CATState(seed=-3, items=(1,), responses=(0,), pilot=(False,)),
        CATState(seed=2**70, items=tuple(range(29)), responses=(0,) * 29, pilot=(False,) * 29),
        CATState(seed=1, theta=0, se=1),
    ]
    for cfg in configs:
        bank = CATBank.build(items, cfg)
        for state in states:
            for new, old in [
                (current.select_next_item, legacy.select_next_item),
                (current.check_stop, legacy.check_stop),
            ]:
                assert repr(_outcome(new, state, bank, cfg)) == repr(
                    _outcome(old, state, bank, cfg)
                )
            assert repr(_outcome(adaptive.advance, state, bank, cfg)) == repr(
                _outcome(legacy.advance, state, bank, cfg)
            )
            for choice in (
                current.ItemChoice(7, False, "r", 0.5),
                current.ItemChoice(-2, True, "p", None),
                current.ItemChoice(1, False, "dup", 1.0),
            ):
                for resp in (0, 1, 2, -1):
                    a = _outcome(current.record_response, state, choice, resp, bank)
                    b = _outcome(legacy.record_response, state, choice, resp, bank)
                    assert repr(a) == repr(b)


# ------------------------------------------------------------------------------ the memo
def test_memoised_log_posterior_is_invisible_and_guarded() -> None:
    rng = np.random.default_rng(5)
    items = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.3, 50), rng.normal(0, 1, 50))
    cfg = CATConfig(max_items=10)
    bank = CATBank.build(items, cfg)
    other = CATBank.build(items, cfg)
    state = start(9, cfg)
    for resp in (1, 0, 1):
        state = current.record_response(
            state, current.select_next_item(state, bank, cfg), resp, bank
        )
    assert current._MEMO in state.__dict__
    plain = CATState.from_dict(state.to_dict())
    assert plain == state and repr(plain) == repr(state)
    assert msgspec.json.encode(plain) == msgspec.json.encode(state)
    assert current._MEMO not in dataclasses.replace(state, finished=True).__dict__
    # Another bank (even with equal tables) does not use it; neither do changed responses.
    assert current._memo_of(state, other) is None
    tampered = CATState(**{**dataclasses.asdict(state), "responses": (0, 0, 0)})
    tampered.__dict__[current._MEMO] = state.__dict__[current._MEMO]
    assert current._memo_of(tampered, bank) is None
    choice = current.select_next_item(state, bank, cfg)
    warm = current.record_response(state, choice, 1, bank)
    cold = current.record_response(plain, choice, 1, bank)
    assert warm == cold and warm.theta.hex() == cold.theta.hex() and warm.se.hex() == cold.se.hex()
