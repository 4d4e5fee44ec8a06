"""Linking (mean/mean, mean/sigma, Haebara, Stocking–Lord) and IRT true-score equating.

* Exact recovery: anchors put on another scale by a known transformation give it back.
* The characteristic-curve optima agree with an independent, loop-written criterion minimised
  by Nelder–Mead (so the analytic gradient and the vectorised curves are right).
* On simulated data two free calibrations of the same items on different populations are linked
  within the anchor set's sampling error (jackknife SE), against the constants the two samples
  actually realised (MML fixes each sample's own ability distribution at N(0, 1)); the
  population constants are met within that error plus the examinee sampling error.
* Purification drops drifted anchors; θ of one response pattern is the same on both linked
  scales.
* True-score equating matches a root found by brentq for each score.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq, minimize

from psychometrics import calibrate, eap_scores
from psychometrics.linking import (
    LINKING_METHODS,
    LinkingConstants,
    expected_score_rmsd,
    link,
    link_anchors,
    transform_items,
    transform_theta,
    true_score_equating,
)
from psychometrics.models import ItemParameters
from psychometrics.quadrature import normal_grid

TRUE = LinkingConstants(1.25, -0.4, "truth", 0)


def _to_source(target: ItemParameters, c: LinkingConstants) -> ItemParameters:
    """The target items as a calibration on the source scale would give them."""
    return transform_items(target, LinkingConstants(1 / c.A, -c.B / c.A, "inverse", 0))


def _bank(model: str, j: int, seed: int) -> ItemParameters:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 0.3, j)
    if model == "grm":
        return ItemParameters.from_irt("grm", a, np.sort(rng.normal(0, 1, (j, 3)), axis=1))
    c = rng.uniform(0.05, 0.25, j) if model == "3pl" else None
    return ItemParameters.from_irt(model, a, rng.normal(0, 1, j), c)


def _simulate(items: ItemParameters, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-(items.a[None, :] * theta[:, None] + items.d[None, :, 0])))
    return (rng.random(p.shape) < p).astype(float)


@pytest.mark.parametrize("model", ["2pl", "3pl", "grm"])
@pytest.mark.parametrize("method", LINKING_METHODS)
def test_exact_parameters_give_the_transformation_back(model: str, method: str) -> None:
    target = _bank(model, 15, 3)
    source = _to_source(target, TRUE)
    got = link(source, target, method)
    assert pytest.approx(TRUE.A, abs=1e-6) == got.A
    assert pytest.approx(TRUE.B, abs=1e-6) == got.B
    assert got.method == method and got.n_anchors == 15
    back = transform_items(source, got)
    np.testing.assert_allclose(back.a, target.a, atol=1e-6)
    np.testing.assert_allclose(back.b, target.b, atol=1e-6)
    np.testing.assert_allclose(back.c, target.c, atol=0)


def test_transform_theta_and_items_agree() -> None:
    items = _bank("3pl", 5, 1)
    theta = np.linspace(-2, 2, 7)
    moved = transform_items(items, TRUE)
    # P(θ; source) == P(Aθ + B; target)
    from psychometrics.models import category_probabilities

    np.testing.assert_allclose(
        category_probabilities(items, theta),
        category_probabilities(moved, transform_theta(theta, TRUE)),
        atol=1e-12,
    )


def _independent_criterion(
    source: ItemParameters, target: ItemParameters, method: str, A: float, B: float
) -> float:
    """The criteria written out item by item over θ on the target scale (no shared code)."""
    nodes = np.linspace(-4, 4, 41)
    w = np.exp(-0.5 * nodes**2)
    w /= w.sum()
    total = 0.0
    for q, th in enumerate(nodes):
        u = (th - B) / A
        tcc_t = tcc_s = 0.0
        for j in range(source.n_items):
            pt = target.c[j] + (1 - target.c[j]) / (
                1 + math.exp(-(target.a[j] * th + target.d[j, 0]))
            )
            ps = source.c[j] + (1 - source.c[j]) / (
                1 + math.exp(-(source.a[j] * u + source.d[j, 0]))
            )
            if method == "haebara":
                total += w[q] * ((pt - ps) ** 2 + ((1 - pt) - (1 - ps)) ** 2)
            tcc_t += pt
            tcc_s += ps
        if method == "stocking-lord":
            total += w[q] * (tcc_t - tcc_s) ** 2
    return total


@pytest.mark.parametrize("method", ["haebara", "stocking-lord"])
def test_characteristic_curve_optimum_matches_an_independent_minimiser(method: str) -> None:
    rng = np.random.default_rng(11)
    target = _bank("3pl", 12, 5)
    exact = _to_source(target, TRUE)
    # estimation noise: the optimum is no longer the exact transformation
    source = ItemParameters(
        "3pl",
        exact.a * rng.lognormal(0, 0.1, 12),
        exact.d + rng.normal(0, 0.15, (12, 1)),
        exact.c,
    )
    ours = link(source, target, method)
    ref = minimize(
        lambda x: _independent_criterion(source, target, method, x[0], x[1]),
        np.array([1.0, 0.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-14, "maxiter": 4000},
    )
    assert pytest.approx(ref.x[0], abs=1e-4) == ours.A
    assert pytest.approx(ref.x[1], abs=1e-4) == ours.B
    assert abs(ours.A - TRUE.A) > 1e-3  # the noise did move it: the comparison means something


@pytest.mark.parametrize("seed", [0, 1])
def test_linking_recovers_known_constants_within_the_anchor_sampling_error(seed: int) -> None:
    """Two free calibrations of a 30-item 2PL test: 3,000 examinees from N(0, 1) and 3,000
    from N(0.5, 1.2²).  Target = group 1's scale; the population constants are A = 1.2,
    B = 0.5."""
    rng = np.random.default_rng(seed)
    true = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.25, 30), rng.normal(0, 1, 30))
    th1 = rng.normal(0.0, 1.0, 3000)
    th2 = rng.normal(0.5, 1.2, 3000)
    r1 = calibrate(_simulate(true, th1, rng), "2pl")
    r2 = calibrate(_simulate(true, th2, rng), "2pl")
    # the constants these two samples realise: each calibration standardises its own sample
    A_real = th2.std() / th1.std()
    B_real = (th2.mean() - th1.mean()) / th1.std()
    # examinee sampling error of the population constants (SD and mean of 3,000 draws each)
    se_pop_A = 1.2 * math.sqrt(1 / (2 * 3000) + 1 / (2 * 3000))
    se_pop_B = math.sqrt(1 / 3000 + 1.2**2 / 3000)
    for method in LINKING_METHODS:
        c = link(r2.items, r1.items, method, standard_errors=True)
        assert 0.005 < c.se_a < 0.08 and 0.005 < c.se_b < 0.08, c
        assert abs(c.A - A_real) < 3 * c.se_a, (method, c, A_real)
        assert abs(c.B - B_real) < 3 * c.se_b, (method, c, B_real)
        assert abs(c.A - 1.2) < 3 * math.hypot(c.se_a, se_pop_A), (method, c)
        assert abs(c.B - 0.5) < 3 * math.hypot(c.se_b, se_pop_B), (method, c)


def test_purification_drops_drifted_anchors_and_theta_is_stable_across_linked_scales() -> None:
    rng = np.random.default_rng(7)
    true = ItemParameters.from_irt("2pl", rng.lognormal(0, 0.25, 30), rng.normal(0, 1, 30))
    drifted = ItemParameters.from_irt("2pl", true.a, true.b[:, 0] + np.r_[np.ones(3), np.zeros(27)])
    r1 = calibrate(_simulate(true, rng.normal(0, 1, 3000), rng), "2pl")
    r2 = calibrate(_simulate(drifted, rng.normal(0.5, 1.2, 3000), rng), "2pl")
    naive = link(r2.items, r1.items, "stocking-lord")
    robust = link_anchors(r2.items, r1.items, "stocking-lord", max_rmsd=0.05)
    assert robust.dropped == 3 and not robust.kept[:3].any()
    assert robust.constants.n_anchors == 27
    assert abs(robust.constants.B - 0.5) < abs(naive.B - 0.5)
    assert abs(robust.constants.B - 0.5) < 0.1 and abs(robust.constants.A - 1.2) < 0.1
    assert np.all(robust.rmsd[3:] <= 0.05) and np.all(robust.rmsd[:3] > 0.05)
    # one response pattern on the unchanged items: the same θ on the target scale whether
    # scored with version 1 or with version 2 linked onto version 1's scale
    linked = transform_items(r2.items, robust.constants)
    keep = np.arange(3, 30)
    patterns = _simulate(true.subset(keep), np.array([-1.5, -0.5, 0.0, 0.7, 1.6]), rng)
    v1 = eap_scores(patterns, r1.items.subset(keep), grid=normal_grid(121, 6.0))
    v2 = eap_scores(patterns, linked.subset(keep), grid=normal_grid(121, 6.0))
    raw = eap_scores(patterns, r2.items.subset(keep), grid=normal_grid(121, 6.0))
    assert np.max(np.abs(v1.theta - v2.theta)) < 0.1
    assert np.max(np.abs(v1.theta - raw.theta)) > 0.2  # unlinked, the scales disagree


def test_expected_score_rmsd_is_zero_for_equal_items_and_grows_with_a_shift() -> None:
    items = _bank("2pl", 4, 2)
    assert np.all(expected_score_rmsd(items, items) == 0)
    shifted = ItemParameters.from_irt("2pl", items.a, items.b[:, 0] + np.array([0, 0.1, 0.3, 1]))
    r = expected_score_rmsd(shifted, items)
    assert r[0] == 0 and np.all(np.diff(r) > 0)


def test_link_rejects_mismatched_anchor_sets() -> None:
    with pytest.raises(ValueError, match="same anchor items"):
        link(_bank("2pl", 4, 1), _bank("2pl", 5, 1))
    with pytest.raises(ValueError, match="unknown linking method"):
        link(_bank("2pl", 4, 1), _bank("2pl", 4, 1), "fixed")


# ------------------------------------------------------------------ true-score equating
def _tcc(items: ItemParameters, th: float) -> float:
    p = items.c + (1 - items.c) / (1 + np.exp(-(items.a * th + items.d[:, 0])))
    return float(p.sum())


def test_true_score_equating_matches_an_independent_root_finder() -> None:
    form_x = _bank("3pl", 20, 21)
    form_y = _bank("3pl", 25, 22)
    eq = true_score_equating(form_x, form_y)
    c_x, c_y = float(form_x.c.sum()), float(form_y.c.sum())
    assert eq.scores.tolist() == list(range(21))
    for s, th, e in zip(eq.scores, eq.theta, eq.equated, strict=True):
        if s <= c_x:
            assert math.isnan(th)
            assert e == pytest.approx(s * c_y / c_x, abs=1e-12)
        elif s >= 20:
            assert e == 25.0
        else:
            root = brentq(lambda t, s=s: _tcc(form_x, t) - s, -40, 40, xtol=1e-12)
            assert th == pytest.approx(root, abs=1e-6)
            assert e == pytest.approx(_tcc(form_y, root), abs=1e-6)
    inner = ~np.isnan(eq.theta)
    assert np.all(np.diff(eq.equated[inner]) > 0)


def test_true_score_equating_of_a_form_with_itself_is_the_identity() -> None:
    form = _bank("2pl", 10, 4)
    eq = true_score_equating(form, form, np.array([0.5, 3.25, 9.9]))
    np.testing.assert_allclose(eq.equated, [0.5, 3.25, 9.9], atol=1e-8)
    grm = _bank("grm", 6, 4)
    eq = true_score_equating(grm, grm)
    assert eq.scores.size == 6 * 3 + 1
    np.testing.assert_allclose(eq.equated, eq.scores, atol=1e-8)
