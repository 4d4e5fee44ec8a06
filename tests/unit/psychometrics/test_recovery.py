"""Parameter recovery on simulated data (2PL, 3PL, GRM; 50 and 200 items; complete and 30 %).

"Sampling floor": the RMSE of the estimates must be close to the average standard
error predicted by the information for that sample size (within 50 %),
i.e. the estimator adds no error of its own beyond sampling noise.
"""

from __future__ import annotations

import numpy as np
import pytest

from psychometrics.calibration import calibrate
from psychometrics.models import ItemParameters, category_probabilities


def simulate(items: ItemParameters, n: int, observed: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n)
    p = category_probabilities(items, theta)  # (J, K, N)
    cum = np.cumsum(p, axis=1)
    u = rng.random((items.n_items, n))
    y = (u[:, None, :] > cum[:, :-1, :]).sum(axis=1).T.astype(float)
    if observed < 1:
        y[rng.random(y.shape) > observed] = np.nan
    return y


def bank(model: str, j: int, seed: int) -> ItemParameters:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.25, j)
    if model == "grm":
        b = np.sort(rng.normal(0, 1, (j, 3)), axis=1) + np.array([-0.6, 0.0, 0.6])
        return ItemParameters.from_irt("grm", a, b)
    b = rng.normal(0, 1, j)
    c = rng.uniform(0.1, 0.25, j) if model == "3pl" else None
    return ItemParameters.from_irt(model, a * (1.3 if model == "3pl" else 1.0), b, c)


def floor_ratio(
    res_items: ItemParameters, true: ItemParameters, se: np.ndarray, what: str
) -> float:
    est = getattr(res_items, what)
    tru = getattr(true, what)
    err = (est - tru)[~np.isnan(tru)]
    return float(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(se[~np.isnan(se)] ** 2)))


def complete_data_se(y: np.ndarray, true: ItemParameters, model: str) -> tuple[np.ndarray, ...]:
    """SEs from the item information given the posterior at the true values.

    Accurate for long tests (little missing information about θ); cheap for 200 items.
    """
    from psychometrics.calibration.estep import estep, expected_counts
    from psychometrics.calibration.mstep import Priors, item_gradient_and_information
    from psychometrics.data import prepare_responses
    from psychometrics.models import log_category_probabilities
    from psychometrics.quadrature import normal_grid

    data = prepare_responses(y, dtype=np.float64)
    grid = normal_grid(61, 6.0)
    res = estep(data, log_category_probabilities(true, grid.nodes), grid.log_weights, np.float64)
    k = int(data.n_categories.max())
    counts = expected_counts(res, data, k)
    _, info = item_gradient_and_information(true.a, true.d, None, counts, grid.nodes, Priors())
    cov = np.linalg.inv(info)
    return np.sqrt(cov[:, 0, 0]), np.sqrt(np.stack([cov[:, i, i] for i in range(1, k)], axis=1))


@pytest.mark.parametrize(
    ("model", "j", "observed", "n"),
    [
        ("2pl", 50, 1.0, 3000),
        ("2pl", 50, 0.3, 6000),
        ("grm", 50, 1.0, 2000),
        ("grm", 50, 0.3, 4000),
    ],
)
def test_recovery_50_items_reaches_sampling_floor(
    model: str, j: int, observed: float, n: int
) -> None:
    true = bank(model, j, seed=j)
    y = simulate(true, n, observed, seed=j + 1)
    res = calibrate(y, model, standard_errors=True)
    assert res.converged
    se = res.standard_errors
    assert se is not None
    # observed-information (Oakes) SEs are the sampling floor of this sample size
    assert floor_ratio(res.items, true, se.a, "a") < 1.5
    assert floor_ratio(res.items, true, se.d, "d") < 1.5


@pytest.mark.parametrize(
    ("model", "observed", "n"),
    [("2pl", 1.0, 2000), ("2pl", 0.3, 3000), ("grm", 1.0, 1500), ("grm", 0.3, 3000)],
)
def test_recovery_200_items_reaches_sampling_floor(model: str, observed: float, n: int) -> None:
    true = bank(model, 200, seed=200)
    y = simulate(true, n, observed, seed=201)
    res = calibrate(y, model)
    assert res.converged
    se_a, se_d = complete_data_se(y, true, model)
    assert floor_ratio(res.items, true, se_a, "a") < 1.5
    assert floor_ratio(res.items, true, se_d, "d") < 1.5


@pytest.mark.parametrize(("j", "observed", "n"), [(50, 1.0, 4000), (200, 0.3, 4000)])
def test_recovery_3pl(j: int, observed: float, n: int) -> None:
    true = bank("3pl", j, seed=3 + j)
    y = simulate(true, n, observed, seed=4 + j)
    res = calibrate(y, "3pl", guessing_prior=(5.0, 17.0), slope_prior=(0.0, 0.5))
    assert res.converged
    # with a Beta(5,17) prior the lower asymptote shrinks toward 0.23; check overall accuracy
    assert np.sqrt(np.mean((res.items.b[:, 0] - true.b[:, 0]) ** 2)) < 0.25
    assert np.sqrt(np.mean((res.items.c - true.c) ** 2)) < 0.06
    assert np.corrcoef(res.items.a, true.a)[0, 1] > 0.8


def test_grid_resolution_is_not_a_bias_source() -> None:
    # 200 items: posterior SD ~ 0.2; the default grid must agree with a 161-node grid
    from psychometrics.quadrature import normal_grid

    true = bank("2pl", 200, seed=11)
    y = simulate(true, 2000, 1.0, seed=12)
    fast = calibrate(y, "2pl", n_nodes=41)
    fine = calibrate(y, "2pl", grid=normal_grid(161, 6.0))
    assert np.abs(fast.items.a - fine.items.a).max() < 0.01
    assert np.abs(fast.items.d - fine.items.d).max() < 0.01


def test_sparse_default_grid_matches_a_fine_grid() -> None:
    # ~30 responses per person: the default grid is coarse (h ≈ 0.57, 22 nodes) because
    # each posterior is wide (SD ≈ 0.36); it must agree with a 161-node grid far below
    # the sampling error of a (≈ 0.05 here).
    from psychometrics.calibration.em import default_n_nodes
    from psychometrics.data import prepare_responses
    from psychometrics.quadrature import normal_grid

    true = bank("2pl", 100, seed=21)
    y = simulate(true, 12_000, 0.3, seed=22)
    data = prepare_responses(y)
    assert data.is_sparse
    assert default_n_nodes(data, true.a) <= 25
    assert default_n_nodes(prepare_responses(np.nan_to_num(y)), true.a) >= 37
    fast = calibrate(data, "2pl")
    fine = calibrate(data, "2pl", grid=normal_grid(161, 6.0))
    assert fast.converged and fine.converged
    assert np.abs(fast.items.a - fine.items.a).max() < 0.003
    assert np.abs(fast.items.d - fine.items.d).max() < 0.003
    rmse_a = float(np.sqrt(np.mean((fast.items.a - true.a) ** 2)))
    assert rmse_a == pytest.approx(float(np.sqrt(np.mean((fine.items.a - true.a) ** 2))), abs=5e-4)
