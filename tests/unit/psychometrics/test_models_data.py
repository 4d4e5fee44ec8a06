from __future__ import annotations

import json

import numpy as np
import pytest

from psychometrics.data import prepare_responses, responses_from_triples
from psychometrics.models import (
    ItemParameters,
    category_derivatives,
    category_probabilities,
    item_information,
)
from psychometrics.models import (
    test_information as total_information,
)
from psychometrics.quadrature import normal_grid


def grm_items() -> ItemParameters:
    d = np.array([[1.0, 0.0, -1.0], [2.0, -0.5, np.nan]])
    return ItemParameters("grm", np.array([1.2, 0.8]), d, np.zeros(2), ("x", "y"))


def test_probabilities_sum_to_one_and_match_formula() -> None:
    items = grm_items()
    th = np.linspace(-3, 3, 7)
    p = category_probabilities(items, th)
    assert p.shape == (2, 4, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(p[1, 3] == 0)
    three = ItemParameters.from_irt("3pl", [1.5], [0.5], [0.2])
    p1 = category_probabilities(three, 0.5)[0, 1, 0]
    assert p1 == pytest.approx(0.2 + 0.8 * 0.5)
    assert three.b[0, 0] == pytest.approx(0.5)


def test_information_matches_numerical_derivative() -> None:
    items = ItemParameters.from_irt("3pl", [1.3, 0.7], [0.0, 1.0], [0.2, 0.1])
    th = np.array([-1.0, 0.3, 2.0])
    p, p1, p2 = category_derivatives(items, th)
    h = 1e-5
    num = (category_probabilities(items, th + h) - category_probabilities(items, th - h)) / (2 * h)
    np.testing.assert_allclose(p1, num, atol=1e-7)
    num2 = (
        category_probabilities(items, th + h) - 2 * p + category_probabilities(items, th - h)
    ) / h**2
    np.testing.assert_allclose(p2, num2, atol=1e-4)
    info = item_information(items, th)
    np.testing.assert_allclose(total_information(items, th), info.sum(axis=0))
    # 2PL closed form a² P Q
    two = ItemParameters.from_irt("2pl", [1.7], [0.2])
    pp = category_probabilities(two, th)[0, 1]
    np.testing.assert_allclose(item_information(two, th)[0], 1.7**2 * pp * (1 - pp))


def test_item_parameters_round_trip_and_validation() -> None:
    items = grm_items()
    blob = json.loads(json.dumps(items.to_dict()))
    back = ItemParameters.from_dict(blob)
    np.testing.assert_allclose(back.d, items.d)
    assert back.names == items.names
    assert list(items.n_categories) == [4, 3]
    assert items.max_categories == 4
    sub = items.subset([1])
    assert sub.d.shape == (1, 2) and sub.names == ("y",)
    with pytest.raises(ValueError):
        ItemParameters("4pl", np.ones(1), np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError):
        ItemParameters("2pl", np.ones(2), np.zeros(1), np.zeros(2))
    with pytest.raises(ValueError):
        ItemParameters("2pl", np.ones(1), np.array([np.nan]), np.zeros(1))
    with pytest.raises(ValueError):
        ItemParameters("2pl", np.ones(1), np.zeros(1), np.zeros(1), ("a", "b"))
    zero = ItemParameters("2pl", np.zeros(1), np.ones(1), np.zeros(1))
    assert zero.to_dict()["items"][0]["b"] is None


def test_grid() -> None:
    g = normal_grid(11, 4.0)
    assert g.size == 11
    assert g.weights.sum() == pytest.approx(1.0)
    g2 = g.with_normal_prior(1.0, 0.5)
    assert g2.nodes[g2.log_weights.argmax()] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        normal_grid(2)
    with pytest.raises(ValueError):
        normal_grid(11, -1.0)


def test_prepare_dense_sparse_and_triples_agree() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (40, 6)).astype(float)
    y[rng.random(y.shape) < 0.3] = np.nan
    dense = prepare_responses(y, collapse=False, sparse=False)
    sparse = prepare_responses(y, collapse=False, sparse=True)
    assert sparse.is_sparse and not dense.is_sparse
    # CSR designs have one column per (item, category), so one non-zero per response
    assert sparse.full_categories and sparse.design.nnz == int((~np.isnan(y)).sum())
    assert sparse.mean_observed == pytest.approx((~np.isnan(y)).sum() / 40)
    rows, cols = np.nonzero(~np.isnan(y))
    trip = responses_from_triples(rows, cols, y[rows, cols].astype(int), 40, 6)
    assert trip.n_persons == 40 and trip.n_items == 6
    assert (trip.design != sparse.design).nnz == 0
    # log-likelihood tables give the same per-person totals in both layouts
    from psychometrics.calibration.estep import EStepResult, design_weights, expected_counts

    logp = np.log(rng.dirichlet(np.ones(3), (6, 5)).transpose(0, 2, 1))
    for data in (dense, sparse, trip):
        wt, const = design_weights(logp, data)
        tot = data.matmul(wt) + const
        expect = np.zeros((40, 5))
        for i, j in zip(rows, cols, strict=True):
            expect[i] += logp[j, int(y[i, j])]
        np.testing.assert_allclose(tot, expect, rtol=1e-5, atol=1e-5)
    # and the backward product gives the same expected category counts
    post = rng.random((40, 5))
    counts = [
        expected_counts(EStepResult(d.rmatmul(post), post.sum(axis=0), 0.0), d, 3)
        for d in (dense, sparse, trip)
    ]
    expect_counts = np.zeros((6, 3, 5))
    for i, j in zip(rows, cols, strict=True):
        expect_counts[j, int(y[i, j])] += post[i]
    for c in counts:
        np.testing.assert_allclose(c, expect_counts, rtol=1e-5, atol=1e-6)
    sub = sparse.take_rows(np.arange(5))
    assert sub.n_persons == 5 and sub.design_t is not None
    assert dense.astype(np.float64).design.dtype == np.float64
    assert dense.astype(np.float32) is dense


def test_prepare_validation_and_collapse() -> None:
    with pytest.raises(ValueError):
        prepare_responses(np.zeros(3))
    with pytest.raises(ValueError):
        prepare_responses(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError):
        prepare_responses(np.zeros((2, 2)), weights=[1.0])
    with pytest.raises(ValueError):
        prepare_responses(np.zeros((2, 2)), weights=[1.0, -1.0])
    with pytest.raises(ValueError):
        prepare_responses(np.zeros((2, 2)), n_categories=[2])
    with pytest.raises(ValueError):
        prepare_responses(np.full((2, 2), 2), n_categories=[2, 2])
    with pytest.raises(ValueError):
        responses_from_triples([0], [0, 1], [1], 1, 2)
    y = np.tile(np.array([[0, 1, -1], [1, 1, 0]]), (50, 1))
    data = prepare_responses(y, collapse=True)
    assert data.n_persons == 2
    np.testing.assert_allclose(data.weights, [50, 50])
    trip = responses_from_triples([0, 1], [0, 1], [1, 2], 2, 2, n_categories=[2, 3], weights=[1, 2])
    assert list(trip.n_categories) == [2, 3]


def test_blocks_of_rows_give_the_same_estep_for_any_block_size() -> None:
    # compact int8 codes are used as they are; the E-step runs block by block of rows and
    # must not depend on the block size (sizes that do not divide N included)
    from psychometrics.calibration.estep import estep, expected_counts, log_likelihood

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, (53, 7)).astype(np.int8)
    y[rng.random(y.shape) < 0.25] = -1
    compact = prepare_responses(y, collapse=False, sparse=False)
    assert compact.is_compact and compact.codes is y
    rows, cols = np.nonzero(y >= 0)
    layouts = {
        "compact": compact,
        "sparse": prepare_responses(y, collapse=False, sparse=True),
        "triples": responses_from_triples(rows, cols, y[rows, cols], 53, 7),
    }
    logp = np.log(rng.dirichlet(np.ones(3), (7, 9)).transpose(0, 2, 1))
    prior = np.log(np.full(9, 1 / 9))
    whole = estep(compact.with_block_rows(10_000), logp, prior, np.float64)
    counts = expected_counts(whole, compact, 3)
    for name, data in layouts.items():
        for block in (1, 7, 10, 53, 60):
            part = estep(data.with_block_rows(block), logp, prior, np.float64)
            np.testing.assert_allclose(part.nq, whole.nq, rtol=1e-10, err_msg=name)
            np.testing.assert_allclose(
                expected_counts(part, data, 3), counts, rtol=1e-10, atol=1e-12, err_msg=name
            )
            assert part.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-12)
            ll = log_likelihood(data.with_block_rows(block), logp, prior, np.float64)
            assert ll == pytest.approx(whole.log_likelihood, rel=1e-12)
        sizes = [b.shape[0] for b, _ in data.with_block_rows(7).blocks(np.float32)]
        assert sizes == [7] * 7 + [4]
    with pytest.raises(ValueError):
        compact.with_block_rows(0)
