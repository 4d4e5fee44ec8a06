"""Person fit lz* (Snijders 2001).

lz* is checked against an independent computation written here (a per-person loop with the
3PL curve and its derivatives spelled out, for the ML, WLE and MAP corrections) to 1e-9.
Graded items (GRM) are checked the same way against a per-category loop (Sinharay 2016).
The Monte Carlo tests (20 replications × 500 simulees, 40 2PL items) check that the flag
``lz* < -1.645`` fires at the nominal 5 % under the model (band 0.035–0.065 for the mean rate)
and that guessing, careless and copied (spuriously high) patterns are flagged far more often;
they print type-I error and power.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from psychometrics.models import ItemParameters
from psychometrics.personfit import MIN_ITEMS, lz_star, person_fit
from psychometrics.scoring import ml_scores

J = 40
REPLICATIONS = 20
PERSONS = 500


def _bank(rng: np.random.Generator, model: str = "2pl", n: int = J) -> ItemParameters:
    a = rng.uniform(0.8, 2.0, n)
    b = rng.normal(0.0, 1.0, n)
    c = np.full(n, 0.2 if model == "3pl" else 0.0)
    return ItemParameters(model, a, -a * b, c)


def _simulate(rng: np.random.Generator, items: ItemParameters, theta: np.ndarray) -> np.ndarray:
    z = items.a[None, :] * theta[:, None] + items.d[None, :, 0]
    p = items.c + (1 - items.c) / (1 + np.exp(-z))
    return (rng.random(p.shape) < p).astype(np.float64)


def _independent_lz_star(
    x: list[float | None],
    items: ItemParameters,
    theta: float,
    estimator: str,
    prior: tuple[float, float] = (0.0, 1.0),
) -> float:
    """lz* of one pattern by Snijders' (2001) formulas, one item at a time."""  # fmt: skip
    w_sum = num_c = den_c = info = warm = 0.0
    terms = []
    for j, xj in enumerate(x):
        if xj is None:
            continue
        a, d, c = float(items.a[j]), float(items.d[j, 0]), float(items.c[j])
        s = 1.0 / (1.0 + math.exp(-(a * theta + d)))
        p = c + (1 - c) * s
        q = 1 - p
        dp = (1 - c) * a * s * (1 - s)
        d2p = (1 - c) * a * a * s * (1 - s) * (1 - 2 * s)
        w = math.log(p / q)
        r = dp / (p * q)
        w_sum += (xj - p) * w
        num_c += dp * w
        den_c += dp * r
        info += dp * dp / (p * q)
        warm += dp * d2p / (p * q)
        terms.append((w, r, p * q))
    cn = num_c / den_c
    r0 = {"ml": 0.0, "wle": warm / (2 * info), "map": -(theta - prior[0]) / prior[1] ** 2}[
        estimator
    ]
    tau2 = sum((w - cn * r) ** 2 * pq for w, r, pq in terms)
    return (w_sum + cn * r0) / math.sqrt(tau2)


@pytest.mark.parametrize(("model", "estimator"), [("2pl", "ml"), ("3pl", "wle"), ("2pl", "map")])
def test_lz_star_matches_an_independent_computation(model: str, estimator: str) -> None:
    rng = np.random.default_rng(7)
    items = _bank(rng, model, 25)
    theta = rng.normal(0, 1, 30)
    y = _simulate(rng, items, theta)
    y[rng.random(y.shape) < 0.3] = np.nan  # adaptive-like: each person a different subset
    prior = (0.3, 1.2)
    star, _ = lz_star(y, items, theta, estimator=estimator, prior_mean=prior[0], prior_sd=prior[1])
    for i in range(y.shape[0]):
        row = [None if np.isnan(v) else float(v) for v in y[i]]
        expected = _independent_lz_star(row, items, float(theta[i]), estimator, prior)
        assert star[i] == pytest.approx(expected, abs=1e-9, rel=1e-9)


def test_correction_is_zero_mean_at_the_ml_estimate_where_lz_is_not() -> None:
    """At θ̂_ML, W + c·r0 = Σ (x - P) w̃: lz* has unit variance, lz is shrunk (Snijders)."""
    rng = np.random.default_rng(3)
    items = _bank(rng)
    y = _simulate(rng, items, rng.normal(0, 1, 4000))
    fit = person_fit(y, items, estimator="ml")
    ok = np.isfinite(fit.lz_star)
    assert abs(float(np.mean(fit.lz_star[ok]))) < 0.15
    assert 0.9 < float(np.std(fit.lz_star[ok])) < 1.1
    assert float(np.std(fit.lz[ok])) < float(np.std(fit.lz_star[ok]))


def test_flag_rule_reasons_and_unassessable_patterns() -> None:
    rng = np.random.default_rng(5)
    items = _bank(rng, "2pl", 12)
    y = np.vstack(
        [
            np.ones(12),  # all right
            np.r_[np.ones(3), np.full(9, np.nan)],  # too few answers
            (items.b[:, 0] > 0).astype(float),  # right on the hard items, wrong on the easy
            (items.b[:, 0] < 0).astype(float),  # the Guttman pattern
        ]
    )
    fit = person_fit(y, items)
    assert fit.critical == pytest.approx(-1.6448536, abs=1e-6)
    assert np.isnan(fit.lz_star[:2]).all() and not fit.flagged[:2].any()
    assert "all answers right" in fit.reasons[0]
    assert f"at least {MIN_ITEMS}" in fit.reasons[1]
    assert fit.flagged[2] and fit.reasons[2].startswith("misfit: lz* = ")
    assert not fit.flagged[3] and fit.reasons[3].startswith("fits: ")
    assert list(fit.n_items) == [12, 3, 12, 12]


def _independent_grm_lz_star(
    x: list[int], a: np.ndarray, d: np.ndarray, theta: float, prior: tuple[float, float] | None
) -> float:
    """lz* of one graded pattern (Sinharay 2016), categories written out one by one."""  # fmt: skip
    terms = []
    num_c = den_c = w_sum = 0.0
    for j, xj in enumerate(x):
        s = [1.0] + [1 / (1 + math.exp(-(a[j] * theta + dk))) for dk in d[j]] + [0.0]
        ds = [0.0] + [a[j] * sk * (1 - sk) for sk in s[1:-1]] + [0.0]
        cats = []
        for k in range(len(d[j]) + 1):
            p, dp = s[k] - s[k + 1], ds[k] - ds[k + 1]
            w, r = math.log(p), dp / p
            w_sum += ((1.0 if k == xj else 0.0) - p) * w
            num_c += dp * w
            den_c += dp * r
            cats.append((p, w, r))
        terms.append(cats)
    cn = num_c / den_c
    r0 = 0.0 if prior is None else -(theta - prior[0]) / prior[1] ** 2
    tau2 = 0.0
    for cats in terms:
        mean = sum(p * (w - cn * r) for p, w, r in cats)
        tau2 += sum(p * (w - cn * r) ** 2 for p, w, r in cats) - mean**2
    return (w_sum + cn * r0) / math.sqrt(tau2)


@pytest.mark.parametrize("estimator", ["ml", "map"])
def test_graded_lz_star_matches_an_independent_computation(estimator: str) -> None:
    rng = np.random.default_rng(11)
    n_items = 15
    a = rng.uniform(0.8, 2.0, n_items)
    d = np.sort(rng.normal(0, 1, (n_items, 2)), axis=1)[:, ::-1] * a[:, None]
    items = ItemParameters("grm", a, d, np.zeros(n_items))
    theta = rng.normal(0, 1, 10)
    y = rng.integers(0, 3, (10, n_items)).astype(float)
    prior = (0.0, 1.0) if estimator == "map" else None
    star, _ = lz_star(y, items, theta, estimator=estimator)
    for i in range(10):
        expected = _independent_grm_lz_star([int(v) for v in y[i]], a, d, float(theta[i]), prior)
        assert star[i] == pytest.approx(expected, abs=1e-9, rel=1e-9)


def test_graded_patterns_flag_near_the_nominal_rate() -> None:
    rng = np.random.default_rng(8)
    n_items, n = 20, 3000
    a = rng.uniform(0.8, 2.0, n_items)
    b = np.sort(rng.normal(0, 1, (n_items, 2)), axis=1)
    items = ItemParameters("grm", a, -a[:, None] * b, np.zeros(n_items))
    theta = rng.normal(0, 1, n)
    s = 1 / (1 + np.exp(-(a[None, :, None] * (theta[:, None, None] - b[None, :, :]))))
    y = (rng.random((n, n_items, 1)) < s).sum(axis=2).astype(float)
    rate = float(person_fit(y, items, estimator="ml").flagged.mean())
    print(f"\ngraded lz* < -1.645, {n} simulees: type-I {rate:.4f}")
    assert 0.025 <= rate <= 0.08


def test_bad_input_is_refused() -> None:
    items = _bank(np.random.default_rng(1), "2pl", 6)
    with pytest.raises(ValueError, match="0, 1"):
        person_fit([[0, 1, 2, 0, 1, 0]], items)
    with pytest.raises(ValueError, match="estimator"):
        lz_star([[0, 1, 1, 0, 1, 0]], items, [0.0], estimator="eap")


def _aberrant(kind: str, rng: np.random.Generator, items: ItemParameters) -> np.ndarray:
    """Patterns of one aberrance type (Karabatsos 2003 style), model-consistent elsewhere."""
    b = items.b[:, 0]
    if kind == "guessing":  # low ability, half of the answers guessed among 4 options
        theta = rng.normal(-1.0, 0.5, PERSONS)
        y = _simulate(rng, items, theta)
        m = rng.random(y.shape) < 0.5
        y[m] = rng.random(int(m.sum())) < 0.25
        return y
    if kind == "careless":  # able students answering 30 % of the items wrong at random
        y = _simulate(rng, items, rng.normal(1.0, 0.5, PERSONS))
        y[rng.random(y.shape) < 0.3] = 0.0
        return y
    # copying: weak students with the 12 hardest answers copied from a strong neighbour
    y = _simulate(rng, items, rng.normal(-1.0, 0.5, PERSONS))
    y[:, np.argsort(b)[-12:]] = 1.0
    return y


def test_flags_at_the_nominal_rate_under_the_model_and_detect_aberrance() -> None:
    rng = np.random.default_rng(2026)
    items = _bank(rng)
    type_one = []
    power: dict[str, list[float]] = {"guessing": [], "careless": [], "copying": []}
    for _ in range(REPLICATIONS):
        y = _simulate(rng, items, rng.normal(0, 1, PERSONS))
        theta = ml_scores(y, items).theta
        type_one.append(float(person_fit(y, items, theta).flagged.mean()))
        for kind, rates in power.items():
            rates.append(float(person_fit(_aberrant(kind, rng, items), items).flagged.mean()))
    rate = float(np.mean(type_one))
    print(f"\nlz* < -1.645 over {REPLICATIONS}×{PERSONS}: type-I {rate:.4f}; power " +
          ", ".join(f"{k} {np.mean(v):.3f}" for k, v in power.items()))  # fmt: skip
    assert 0.035 <= rate <= 0.065
    assert np.mean(power["guessing"]) > 0.35
    assert np.mean(power["careless"]) > 0.4
    assert np.mean(power["copying"]) > 0.9
