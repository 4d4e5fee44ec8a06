"""DIF: Mantel–Haenszel (ETS classes, purification), multiple-group calibration and IRT
likelihood-ratio DIF.

The statistics are checked against independent computations written here (MH by loops over
the 2×2 tables; G² from two separate multiple-group calibrations; the multigroup
log-likelihood from the single-group E-step).  The Monte Carlo test (200 replications, 10
items of which two have DIF, 500 + 500 examinees, focal group 0.5 SD lower) checks that the
type-I error of both tests at α = 0.05 lies within 0.05 ± 0.02 and that both find the DIF
items; it prints the figures (bench/psychometrics/dif.py runs more conditions).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from psychometrics import calibrate
from psychometrics.calibration.estep import log_likelihood
from psychometrics.data import prepare_responses
from psychometrics.dif import ets_class, lr_dif, mantel_haenszel_dif
from psychometrics.models import ItemParameters, log_category_probabilities
from psychometrics.multigroup import calibrate_multigroup
from psychometrics.quadrature import normal_grid, normal_log_weights


def _simulate(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b)))
    return (rng.random(p.shape) < p).astype(float)


def _two_groups(
    seed: int, n: int = 600, shift: tuple[float, ...] = (0.8, -0.8), impact: float = -0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 0.25, 10)
    b = np.linspace(-1.5, 1.5, 10)
    bf = b.copy()
    bf[: len(shift)] += np.asarray(shift)
    y = np.vstack(
        [_simulate(rng, a, b, rng.normal(0, 1, n)), _simulate(rng, a, bf, rng.normal(impact, 1, n))]
    )
    return y, np.r_[np.zeros(n), np.ones(n)], a, b


# ------------------------------------------------------------------ Mantel–Haenszel
def _mh_by_loops(
    y: np.ndarray, focal: np.ndarray, j: int, matching: list[int]
) -> tuple[float, ...]:
    """α_MH, D-DIF, SE (Robins-Breslow-Greenland) and χ² written stratum by stratum."""
    score = y[:, matching].sum(axis=1) + (0 if j in matching else y[:, j])
    num = den = sum_a = sum_e = sum_v = 0.0
    p_r = ps_qr = q_s = 0.0
    strata = []
    for s in np.unique(score):
        m = score == s
        A = float(np.sum(m & (focal == 0) & (y[:, j] == 1)))
        B = float(np.sum(m & (focal == 0) & (y[:, j] == 0)))
        C = float(np.sum(m & (focal == 1) & (y[:, j] == 1)))
        D = float(np.sum(m & (focal == 1) & (y[:, j] == 0)))
        T = A + B + C + D
        if T < 2:
            continue
        strata.append((A, B, C, D, T))
        num += A * D / T
        den += B * C / T
        sum_a += A
        sum_e += (A + B) * (A + C) / T
        sum_v += (A + B) * (C + D) * (A + C) * (B + D) / (T * T * (T - 1))
    for A, B, C, D, T in strata:
        R, S, P, Q = A * D / T, B * C / T, (A + D) / T, (B + C) / T
        p_r += P * R / (2 * num * num)
        ps_qr += (P * S + Q * R) / (2 * num * den)
        q_s += Q * S / (2 * den * den)
    odds = num / den
    x2 = max(abs(sum_a - sum_e) - 0.5, 0.0) ** 2 / sum_v
    return odds, -2.35 * math.log(odds), 2.35 * math.sqrt(p_r + ps_qr + q_s), x2


def test_mantel_haenszel_matches_a_stratum_by_stratum_computation() -> None:
    y, g, _, _ = _two_groups(1)
    res = mantel_haenszel_dif(y, g, purify=False)
    for j in range(10):
        odds, delta, se, x2 = _mh_by_loops(y, g, j, list(range(10)))
        assert res.odds_ratio[j] == pytest.approx(odds, rel=1e-10)
        assert res.delta[j] == pytest.approx(delta, rel=1e-10)
        assert res.se_delta[j] == pytest.approx(se, rel=1e-10)
        assert res.chi2[j] == pytest.approx(x2, rel=1e-10)
    assert res.matching.all() and res.rounds == 1
    assert (res.n_reference, res.n_focal) == (600, 600)
    # item 0 is harder for the focal group: favours the reference group, negative D
    assert res.delta[0] < -1 and res.delta[1] > 1 and res.flagged[:2].all()


def test_purification_leaves_flagged_items_out_of_the_matching_score() -> None:
    y, g, _, _ = _two_groups(2, shift=(1.0, 1.0, 1.0))  # three items against the focal group
    res = mantel_haenszel_dif(y, g)
    assert res.rounds >= 2
    assert not res.matching[:3].any()
    kept = list(np.flatnonzero(res.matching))
    for j in (0, 4):
        _, delta, _, x2 = _mh_by_loops(y, g, j, kept)
        assert res.delta[j] == pytest.approx(delta, rel=1e-10)
        assert res.chi2[j] == pytest.approx(x2, rel=1e-10)
    # with three items against the focal group in the score, the clean items look biased
    # the other way; purification removes most of that
    raw = mantel_haenszel_dif(y, g, purify=False)
    assert np.mean(raw.delta[3:]) > np.mean(res.delta[3:])


def test_given_strata_use_each_item_s_respondents() -> None:
    y, g, _, _ = _two_groups(3)
    score = y.sum(axis=1).astype(int)
    # strata = the summed score of all items: the same as unpurified summed-score matching
    full = mantel_haenszel_dif(y, g, strata=score)
    unpurified = mantel_haenszel_dif(y, g, purify=False)
    np.testing.assert_allclose(full.chi2, unpurified.chi2, rtol=1e-12)
    np.testing.assert_allclose(full.delta, unpurified.delta, rtol=1e-12)
    # an item that some did not answer is tested on its respondents only
    holes = y.copy()
    holes[::7, 4] = np.nan
    res = mantel_haenszel_dif(holes, g, strata=score)
    rows = ~np.isnan(holes[:, 4])
    alone = mantel_haenszel_dif(y[rows], g[rows], strata=score[rows])
    assert res.chi2[4] == pytest.approx(alone.chi2[4], rel=1e-12)
    assert res.delta[4] == pytest.approx(alone.delta[4], rel=1e-12)
    assert res.chi2[0] == pytest.approx(full.chi2[0], rel=1e-12)


@pytest.mark.parametrize(
    ("delta", "se", "p", "expected"),
    [
        (-0.9, 0.1, 0.0001, "A"),  # small
        (-1.7, 0.3, 0.2, "A"),  # not significant
        (-1.2, 0.2, 0.001, "B"),
        (-1.6, 0.5, 0.0001, "B"),  # large, but not significantly above 1
        (1.6, 0.2, 0.0001, "C"),
        (-2.5, 0.3, 0.0001, "C"),
    ],
)
def test_ets_classes(delta: float, se: float, p: float, expected: str) -> None:
    assert ets_class(delta, se, p) == expected


# ------------------------------------------------------------------ multiple groups, LR
def test_multigroup_calibration_recovers_the_focal_distribution() -> None:
    rng = np.random.default_rng(4)
    a = rng.lognormal(0, 0.25, 15)
    b = rng.normal(0, 1, 15)
    y = np.vstack(
        [
            _simulate(rng, a, b, rng.normal(0, 1, 3000)),
            _simulate(rng, a, b, rng.normal(0.6, 1.3, 3000)),
        ]
    )
    g = np.array(["ref"] * 3000 + ["foc"] * 3000)
    res = calibrate_multigroup(y, g, reference="ref")
    assert res.groups == ("ref", "foc") and res.converged
    assert res.latent_mean[0] == 0 and res.latent_sd[0] == 1
    assert abs(res.latent_mean[1] - 0.6) < 0.08 and abs(res.latent_sd[1] - 1.3) < 0.08
    assert math.sqrt(np.mean((res.items[0].b[:, 0] - b) ** 2)) < 0.1
    np.testing.assert_array_equal(res.items[0].a, res.items[1].a)
    assert res.n_parameters == 2 * 15 + 2
    # the log-likelihood is the single-group E-step's, summed over the two groups
    grid = normal_grid(61, 6.0)
    total = 0.0
    for i, (mu, sd) in enumerate(zip(res.latent_mean, res.latent_sd, strict=True)):
        data = prepare_responses(y[g == res.groups[i]], dtype=np.float64)
        total += log_likelihood(
            data,
            log_category_probabilities(res.items[i], grid.nodes),
            normal_log_weights(grid.nodes, mu, sd),
            np.float64,
        )
    assert res.log_likelihood == pytest.approx(total, abs=1e-6)
    # one normal for everybody is the special case of equal group distributions: the
    # multiple-group model fits at least as well, here much better
    pooled = calibrate(y, "2pl", tol=1e-6)
    assert res.log_likelihood > pooled.log_likelihood + 10


def test_multigroup_graded_items() -> None:
    rng = np.random.default_rng(5)
    items = ItemParameters.from_irt(
        "grm", rng.lognormal(0, 0.2, 8), np.sort(rng.normal(0, 1, (8, 2)), axis=1)
    )
    from psychometrics.models import category_probabilities

    def draw(theta: np.ndarray) -> np.ndarray:
        cum = np.cumsum(category_probabilities(items, theta), axis=1)
        u = rng.random((8, theta.size))
        return (u[:, None, :] > cum[:, :-1, :]).sum(axis=1).T.astype(float)

    y = np.vstack([draw(rng.normal(0, 1, 2000)), draw(rng.normal(-0.5, 0.8, 2000))])
    res = calibrate_multigroup(y, np.r_[np.zeros(2000), np.ones(2000)], "grm")
    assert abs(res.latent_mean[1] + 0.5) < 0.1 and abs(res.latent_sd[1] - 0.8) < 0.1
    assert res.n_parameters == 8 * 3 + 2


def test_lr_g2_is_twice_the_difference_of_two_separate_calibrations() -> None:
    y, g, _, _ = _two_groups(6)
    res = lr_dif(y, g, purify=False, tol=1e-5)
    compact = calibrate_multigroup(y, g, tol=1e-5)
    for j in (0, 3):
        augmented = calibrate_multigroup(y, g, group_specific=[j], tol=1e-5)
        g2 = 2 * (augmented.log_likelihood - compact.log_likelihood)
        assert res.g2[j] == pytest.approx(g2, abs=0.01)
        assert augmented.n_parameters - compact.n_parameters == res.df[j] == 2
    assert res.flagged[:2].all() and res.rounds == 1
    assert abs(res.latent_mean[1] + 0.5) < 0.15


def test_lr_purification_and_a_subset_of_studied_items() -> None:
    y, g, _, _ = _two_groups(7, shift=(1.0, 1.0, 1.0))
    res = lr_dif(y, g)
    assert res.flagged[:3].all() and not res.anchors[:3].any()
    # testing items 0 and 5 only: items 1 and 2 stay anchors and contaminate the scale, so
    # the clean item 5 looks more different than once the DIF items left the anchor set
    some = lr_dif(y, g, items=[0, 5])
    assert np.isnan(some.g2[[1, 2, 3, 4, 6, 7, 8, 9]]).all()
    assert some.flagged[0] and some.anchors[[1, 2]].all()
    assert some.g2[5] > res.g2[5]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 200 replications of MH and LR: minutes when the machine is loaded
def test_monte_carlo_type_i_error_and_power() -> None:
    """200 replications; items 0 and 5 have DIF (b shifted by +0.6 and -0.6 for the focal
    group, which is 0.5 SD lower); the other 8 items give 1,600 null tests per method."""
    reps, n, J = 200, 500, 10
    rng = np.random.default_rng(20261202)
    a = rng.lognormal(0, 0.25, J)
    b = np.linspace(-1.5, 1.5, J)
    bf = b.copy()
    bf[0] += 0.6
    bf[5] -= 0.6
    dif_items = np.zeros(J, dtype=bool)
    dif_items[[0, 5]] = True
    groups = np.r_[np.zeros(n), np.ones(n)]
    grid = normal_grid(21, 5.0)  # a 10-item posterior is wide: 21 nodes integrate it exactly
    mh = np.zeros((reps, J), dtype=bool)
    lr = np.zeros((reps, J), dtype=bool)
    ets_c = 0
    started = time.process_time()
    for r in range(reps):
        y = np.vstack(
            [
                _simulate(rng, a, b, rng.normal(0, 1, n)),
                _simulate(rng, a, bf, rng.normal(-0.5, 1, n)),
            ]
        )
        m = mantel_haenszel_dif(y, groups)
        mh[r] = m.flagged
        ets_c += sum(c == "C" for j, c in enumerate(m.ets) if not dif_items[j])
        lr[r] = lr_dif(y, groups, grid=grid).flagged
    cpu = time.process_time() - started
    type1_mh = float(mh[:, ~dif_items].mean())
    type1_lr = float(lr[:, ~dif_items].mean())
    power_mh = mh[:, dif_items].mean(axis=0)
    power_lr = lr[:, dif_items].mean(axis=0)
    print(
        f"\nDIF Monte Carlo ({reps} replications, {J} items, {n}+{n} examinees, impact -0.5 SD,"
        f" |Δb| = 0.6): type-I MH {type1_mh:.4f}, LR {type1_lr:.4f}; power MH"
        f" {power_mh.round(3).tolist()}, LR {power_lr.round(3).tolist()}; null items in ETS C:"
        f" {ets_c}; CPU {cpu:.1f} s"
    )
    assert abs(type1_mh - 0.05) <= 0.02, type1_mh
    assert abs(type1_lr - 0.05) <= 0.02, type1_lr
    assert np.all(power_mh >= 0.5) and np.all(power_lr >= 0.5), (power_mh, power_lr)
