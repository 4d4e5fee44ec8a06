from __future__ import annotations

import numpy as np
import pytest

from psychometrics.classical import cronbach_alpha, item_analysis
from psychometrics.fit import (
    empirical_reliability,
    lord_wingersky,
    marginal_reliability,
    sx2_item_fit,
)
from psychometrics.models import ItemParameters, category_probabilities
from psychometrics.scoring import eap_scores, map_scores, ml_scores, score, wle_scores


def bank() -> ItemParameters:
    rng = np.random.default_rng(1)
    return ItemParameters.from_irt("2pl", rng.lognormal(0, 0.2, 20), rng.normal(0, 1, 20))


def test_scores_recover_theta_and_extremes() -> None:
    items = bank()
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 1, 300)
    p = category_probabilities(items, theta)[:, 1, :].T
    y = (rng.random(p.shape) < p).astype(float)
    y[0] = 1
    y[1] = 0
    y[2, :10] = np.nan
    for method in ("eap", "map", "mle", "wle"):
        est = score(y, items, method)
        assert est.theta.shape == (300,)
        assert np.corrcoef(est.theta[3:], theta[3:])[0, 1] > 0.85
        assert np.all(np.isfinite(est.theta)) and np.all(est.se > 0)
    ml = ml_scores(y, items)
    assert ml.theta[0] == 6.0 and ml.theta[1] == -6.0 and ml.at_bound[0] and ml.at_bound[1]
    wle = wle_scores(y, items)
    assert -6 < wle.theta[1] < wle.theta[0] < 6 and not wle.at_bound[0]
    mp = map_scores(y, items, prior_mean=0.0, prior_sd=1.0)
    assert abs(mp.theta[0]) < 4
    # MLE solves the score equation
    from psychometrics.scoring import _codes, _terms

    s, info, _, _ = _terms(_codes(y[3:8], items), items, ml.theta[3:8])
    np.testing.assert_allclose(s, 0.0, atol=1e-6)
    # EAP: single pattern as a vector; WLE solves S + J/(2I) = 0
    one = eap_scores(y[5], items)
    assert one.theta.shape == (1,)
    s, info, jt, _ = _terms(_codes(y[3:8], items), items, wle.theta[3:8])
    np.testing.assert_allclose(s + jt / (2 * info), 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        score(y, items, "nope")
    with pytest.raises(ValueError):
        eap_scores(y[:, :3], items)
    with pytest.raises(ValueError):
        eap_scores(np.full((1, 20), 3.0), items)


def test_grm_and_3pl_scoring() -> None:
    items = ItemParameters.from_irt("grm", [1.0, 1.5], [[-1.0, 0.5], [0.0, 1.0]])
    est = score(np.array([[2, 2], [0, 0], [1, 1]]), items, "wle")
    assert est.theta[0] > est.theta[2] > est.theta[1]
    three = ItemParameters.from_irt("3pl", [1.2] * 5, np.linspace(-1, 1, 5), [0.2] * 5)
    res = score(np.array([[1, 1, 1, 0, 0]]), three, "mle")
    assert -3 < res.theta[0] < 3


def test_classical_statistics() -> None:
    y = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1.0]])
    ia = item_analysis(y)
    np.testing.assert_allclose(ia.facility, [0.8, 0.6, 0.4])
    assert ia.alpha == pytest.approx(cronbach_alpha(y))
    var_items = y.var(axis=0).sum()
    var_tot = y.sum(axis=1).var()
    assert ia.alpha == pytest.approx(1.5 * (1 - var_items / var_tot))
    assert ia.point_biserial.shape == (3,) and ia.alpha_if_deleted.shape == (3,)
    y2 = y.copy()
    y2[0, 0] = np.nan
    ia2 = item_analysis(y2, weights=np.ones(5), n_categories=[2, 2, 2])
    assert ia2.n_observed[0] == 4
    allmiss = np.array([[np.nan, 1.0], [np.nan, 0.0]])
    assert np.isnan(item_analysis(allmiss).facility[0])
    assert np.isnan(cronbach_alpha(np.ones((3, 1))))
    assert np.isnan(cronbach_alpha(np.ones((3, 2))))
    with pytest.raises(ValueError):
        item_analysis(np.ones(3))


def test_fit_and_reliability() -> None:
    items = bank()
    rng = np.random.default_rng(4)
    theta = rng.standard_normal(2000)
    p = category_probabilities(items, theta)[:, 1, :].T
    y = (rng.random(p.shape) < p).astype(float)
    fit = sx2_item_fit(y, items)
    assert fit.sx2.shape == (20,) and np.all(fit.df > 0)
    assert np.mean(fit.p_value < 0.01) < 0.2  # the true model fits
    rel = marginal_reliability(items)
    eap = eap_scores(y, items)
    emp = empirical_reliability(eap.theta, eap.se)
    assert 0.6 < rel < 0.95 and abs(rel - emp) < 0.05
    dist = lord_wingersky(category_probabilities(items, np.array([0.0])))
    assert dist.shape == (21, 1) and dist.sum() == pytest.approx(1.0)
    grm = ItemParameters.from_irt("grm", [1.0, 1.2, 0.8], [[-1, 0.5], [0, 1], [-0.5, np.nan]])
    pg = category_probabilities(grm, theta)
    cum = np.cumsum(pg, axis=1)
    yg = (rng.random((3, 2000))[:, None, :] > cum[:, :-1, :]).sum(axis=1).T
    fg = sx2_item_fit(yg, grm, min_expected=5.0)
    assert fg.sx2.shape == (3,)
