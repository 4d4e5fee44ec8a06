from __future__ import annotations

import numpy as np
import pytest

from psychometrics.calibration import calibrate
from psychometrics.data import responses_from_triples
from psychometrics.models import ItemParameters, category_probabilities


def sim(items: ItemParameters, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n)
    p = category_probabilities(items, theta)
    cum = np.cumsum(p, axis=1)
    u = rng.random((items.n_items, n))
    return (u[:, None, :] > cum[:, :-1, :]).sum(axis=1).T.astype(float)


def test_fixed_anchor_calibration_recovers_pilots_and_latent_shift() -> None:
    rng = np.random.default_rng(3)
    bank = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.2, 25), rng.normal(0, 1, 25))
    # population with mean 0.5 and SD 1.2 on the bank scale
    theta = 0.5 + 1.2 * rng.standard_normal(4000)
    p = category_probabilities(bank, theta)[:, 1, :].T
    y = (rng.random(p.shape) < p).astype(float)
    anchors = np.arange(20)
    res = calibrate(y, "2pl", anchors=anchors, anchor_parameters=bank.subset(anchors))
    np.testing.assert_allclose(res.items.a[:20], bank.a[:20])
    assert res.latent_mean == pytest.approx(0.5, abs=0.08)
    assert res.latent_sd == pytest.approx(1.2, abs=0.08)
    assert np.abs(res.items.b[20:, 0] - bank.b[20:, 0]).max() < 0.25
    with pytest.raises(ValueError):
        calibrate(y, "2pl", anchors=[0, 1], anchor_parameters=bank.subset([0]))


def test_options_priors_no_acceleration_and_result_fields(
    lsat7: tuple[np.ndarray, np.ndarray],
) -> None:
    x, w = lsat7
    plain = calibrate(x, "2pl", weights=w, accelerate=False)
    fast = calibrate(x, "2pl", weights=w)
    np.testing.assert_allclose(plain.items.a, fast.items.a, atol=2e-3)
    assert plain.aic == pytest.approx(-2 * plain.log_likelihood + 20)
    assert plain.bic > plain.aic
    assert plain.n_persons == 1000
    prior = calibrate(x, "2pl", weights=w, slope_prior=(0.0, 0.2), intercept_prior=(0.0, 1.0))
    assert np.abs(np.log(prior.items.a)).max() < np.abs(np.log(fast.items.a)).max()
    assert prior.log_likelihood <= fast.log_likelihood + 1e-6
    short = calibrate(x, "2pl", weights=w, max_iter=2, accelerate=False)
    assert not short.converged and "not converged" in short.convergence.message
    short2 = calibrate(x, "2pl", weights=w, max_iter=4)
    assert not short2.converged
    started = calibrate(x, "2pl", weights=w, start=fast.items)
    assert started.iterations <= 3
    d = fast.to_dict()
    assert d["model"] == "2pl" and d["converged"] and d["items"][0]["se"] == {}
    assert len(fast.history) == fast.iterations + 1


def test_3pl_with_se_and_guessing_prior(lsat7: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = lsat7
    res = calibrate(x, "3pl", weights=w, guessing_prior=(5, 17), standard_errors=True)
    assert res.converged
    assert res.standard_errors is not None
    assert np.all(np.isfinite(res.standard_errors.c))
    assert np.all(res.items.c > 0.05)


def test_grm_missing_sparse_triples_and_errors() -> None:
    rng = np.random.default_rng(5)
    b = np.sort(rng.normal(0, 1, (12, 2)), axis=1)
    items = ItemParameters.from_irt("grm", rng.lognormal(0, 0.2, 12), b)
    y = sim(items, 1500, 6)
    y[rng.random(y.shape) < 0.5] = np.nan
    res = calibrate(y, "grm")
    assert res.converged
    assert np.corrcoef(res.items.a, items.a)[0, 1] > 0.7
    rows, cols = np.nonzero(~np.isnan(y))
    trip = responses_from_triples(rows, cols, y[rows, cols].astype(int), 1500, 12)
    res2 = calibrate(trip, "grm", dtype=np.float64)
    np.testing.assert_allclose(res2.items.d, res.items.d, atol=5e-3)
    with pytest.raises(ValueError):
        calibrate(y, "2pl")
    with pytest.raises(ValueError):
        calibrate(y, "nope")
    with pytest.raises(ValueError):
        calibrate(y, "grm", item_names=["a"])


def test_warm_start_path_matches_direct_fit() -> None:
    rng = np.random.default_rng(9)
    items = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.2, 30), rng.normal(0, 1, 30))
    y = sim(items, 12000, 10)
    warm = calibrate(y, "2pl", warm_start=True, n_nodes=41)
    cold = calibrate(y, "2pl", warm_start=False, n_nodes=41)
    assert warm.convergence.warm_start_iterations > 0
    np.testing.assert_allclose(warm.items.a, cold.items.a, atol=2e-3)
