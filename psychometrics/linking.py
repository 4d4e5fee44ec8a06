"""Scale linking through anchor items, and IRT true-score equating.

Two calibrations of the same (anchor) items on different groups put θ on different scales:
a free calibration fixes each group's ability distribution at N(0, 1).  The scales are related
by a linear transformation

    θ_target = A · θ_source + B,

which maps item parameters as ``b_target = A · b_source + B``, ``a_target = a_source / A``,
``c`` unchanged; in the slope–intercept form of :mod:`psychometrics.models`
``a_t = a_s / A`` and ``d_t = d_s - a_s · B / A``.  Four estimators of ``(A, B)`` from the
anchor items' two sets of estimates:

* mean/mean (Loyd & Hoover 1980): ``A = mean(a_s) / mean(a_t)``,
  ``B = mean(b_t) - A · mean(b_s)``;
* mean/sigma (Marco 1977): ``A = sd(b_t) / sd(b_s)``, ``B`` as above;
* Haebara (1980): minimise the squared differences of the *item* (category) characteristic
  curves, ``Σ_θ w(θ) Σ_j Σ_k [P_jk(θ; target) - P_jk((θ - B)/A; source)]²``;
* Stocking & Lord (1983): minimise the squared difference of the *test* characteristic
  curves, ``Σ_θ w(θ) [Σ_j E_j(θ; target) - Σ_j E_j((θ - B)/A; source)]²``.

The characteristic-curve criteria run over θ on the target scale (Kolen & Brennan 2014,
§6.5), N(0, 1)-weighted by default, comparing ``P(θ; target)`` with ``P((θ - B)/A; source)``;
``symmetric=True`` adds the same criterion over θ on the source scale (Haebara's own
proposal was symmetric).  Thresholds ``b`` of graded items take
part in the moment methods, every category curve in Haebara's, expected scores in
Stocking–Lord's.  Standard errors of the constants are jackknifed over the anchor items
(linking error due to the choice of anchors; Haberman, Lee & Qian 2009).

:func:`link_anchors` adds *purification*: anchors whose transformed curve still differs from
the target's by more than a threshold (item parameter drift) are dropped one at a time,
worst first, and the constants recomputed.

:func:`true_score_equating` is IRT true-score equating between two forms on one scale (Lord
1980; Kolen & Brennan 2014, §6.6): a number-correct true score ``τ_X`` on form X is mapped to
the θ with ``T_X(θ) = τ_X`` and then to ``τ_Y = T_Y(θ)``.

All functions are stateless: arrays (or :class:`~psychometrics.models.ItemParameters`, which
are arrays with a model name) in, arrays out.

References: Loyd, B. H. & Hoover, H. D. (1980). Vertical equating using the Rasch model. JEM
17(3). Marco, G. L. (1977). Item characteristic curve solutions to three intractable testing
problems. JEM 14(2). Haebara, T. (1980). Equating logistic ability scales by a weighted least
squares method. Japanese Psychological Research 22(3). Stocking, M. L. & Lord, F. M. (1983).
Developing a common metric in item response theory. APM 7(2). Lord, F. M. (1980).
Applications of item response theory to practical testing problems. Kolen, M. J. & Brennan,
R. L. (2014). Test equating, scaling, and linking (3rd ed.), ch. 6.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from psychometrics._types import BoolArray, FloatArray
from psychometrics.models import ItemParameters, category_derivatives, category_probabilities
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = [
    "LINKING_METHODS",
    "AnchorLink",
    "LinkingConstants",
    "TrueScoreEquating",
    "expected_score_rmsd",
    "haebara",
    "link",
    "link_anchors",
    "mean_mean",
    "mean_sigma",
    "stocking_lord",
    "transform_items",
    "transform_theta",
    "true_score_equating",
]

LINKING_METHODS: tuple[str, ...] = ("mean-mean", "mean-sigma", "haebara", "stocking-lord")


@dataclass(frozen=True)
class LinkingConstants:
    """``θ_target = A · θ_source + B``.

    Attributes:
        A: slope of the transformation (> 0).
        B: intercept.
        method: one of :data:`LINKING_METHODS` (or ``identity``).
        n_anchors: anchor items used.
        se_a: jackknife (over anchors) standard error of ``A``; ``NaN`` when not computed.
        se_b: the same for ``B``.
    """

    A: float
    B: float
    method: str
    n_anchors: int
    se_a: float = math.nan
    se_b: float = math.nan

    @classmethod
    def identity(cls, n_anchors: int = 0) -> LinkingConstants:
        """The transformation that changes nothing (``A = 1, B = 0``)."""
        return cls(1.0, 0.0, "identity", n_anchors, 0.0, 0.0)


def transform_items(items: ItemParameters, constants: LinkingConstants) -> ItemParameters:
    """Put items calibrated on the source scale on the target scale.

    ``a / A``, ``d - a·B/A`` (so ``b → A·b + B``), ``c`` unchanged; shapes as ``items``.
    """
    A, B = constants.A, constants.B
    return ItemParameters(
        items.model, items.a / A, items.d - (items.a * B / A)[:, None], items.c, items.names
    )


def transform_theta(theta: FloatArray | float, constants: LinkingConstants) -> FloatArray:
    """``A · θ + B``; any shape."""
    return np.asarray(constants.A * np.asarray(theta, dtype=np.float64) + constants.B)


def _check_pair(source: ItemParameters, target: ItemParameters) -> None:
    if source.n_items != target.n_items:
        raise ValueError(
            f"source and target must hold the same anchor items: {source.n_items} vs "
            f"{target.n_items}"
        )
    if source.n_items < 1:
        raise ValueError("linking needs at least one anchor item")
    if source.d.shape[1] != target.d.shape[1] or not np.array_equal(
        np.isnan(source.d), np.isnan(target.d)
    ):
        raise ValueError("each anchor item needs the same categories in source and target")


def _thresholds(items: ItemParameters) -> FloatArray:
    b = items.b
    return np.asarray(b[~np.isnan(b)], dtype=np.float64)


def mean_mean(source: ItemParameters, target: ItemParameters) -> LinkingConstants:
    """Mean/mean linking (Loyd & Hoover 1980).

    Args:
        source: the ``J`` anchor items as calibrated on the source scale.
        target: the same ``J`` items, in the same order, on the target scale.
    """
    _check_pair(source, target)
    A = float(np.mean(source.a) / np.mean(target.a))
    B = float(np.mean(_thresholds(target)) - A * np.mean(_thresholds(source)))
    return LinkingConstants(A, B, "mean-mean", source.n_items)


def mean_sigma(source: ItemParameters, target: ItemParameters) -> LinkingConstants:
    """Mean/sigma linking (Marco 1977): ``A`` from the SDs of the thresholds.

    Args: as :func:`mean_mean` (needs at least two distinct thresholds).
    """
    _check_pair(source, target)
    bs, bt = _thresholds(source), _thresholds(target)
    sd_s = float(np.std(bs))
    if bs.size < 2 or sd_s == 0.0:
        raise ValueError("mean/sigma linking needs anchors with different difficulties")
    A = float(np.std(bt) / sd_s)
    B = float(np.mean(bt) - A * np.mean(bs))
    return LinkingConstants(A, B, "mean-sigma", source.n_items)


# ------------------------------------------------------------ characteristic-curve criteria
def _curves(
    items: ItemParameters, theta: FloatArray, expected: bool
) -> tuple[FloatArray, FloatArray]:
    """Curves and their θ-derivatives at ``theta`` (Q,).

    Returns ``(J·K, Q)`` category curves for Haebara, or ``(1, Q)`` test expected score for
    Stocking–Lord, with their derivatives of the same shape.
    """
    p, p1, _ = category_derivatives(items, theta)  # (J, K, Q)
    if expected:
        k = np.arange(p.shape[1], dtype=np.float64)[None, :, None]
        return (k * p).sum(axis=(0, 1))[None, :], (k * p1).sum(axis=(0, 1))[None, :]
    return p.reshape(-1, theta.size), p1.reshape(-1, theta.size)


def _criterion(
    source: ItemParameters,
    target: ItemParameters,
    grid: QuadratureGrid,
    expected: bool,
    symmetric: bool,
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """The criterion in ``x = (log A, B)`` and its gradient."""
    th = grid.nodes
    w = grid.weights
    src_fixed, _ = _curves(source, th, expected)  # source curves on the source grid
    tgt_fixed, _ = _curves(target, th, expected)  # target curves on the target grid

    def f(x: FloatArray) -> tuple[float, FloatArray]:
        A = float(np.exp(x[0]))
        B = float(x[1])
        # source items at (θ - B)/A versus target items at θ (θ on the target scale)
        u = (th - B) / A
        s, s1 = _curves(source, u, expected)
        q = s - tgt_fixed
        val = float(((q * q) @ w).sum())
        g_a = 2.0 * float(((q * s1) @ (w * (-u))).sum())  # d/d log A
        g_b = 2.0 * float(((q * s1) @ w).sum()) * (-1.0 / A)
        if symmetric:
            # target items at Aθ + B versus source items at θ (θ on the source scale)
            t, t1 = _curves(target, A * th + B, expected)
            r = t - src_fixed
            val += float(((r * r) @ w).sum())
            g_a += 2.0 * float(((r * t1) @ (w * th)).sum()) * A
            g_b += 2.0 * float(((r * t1) @ w).sum())
        return val, np.array([g_a, g_b])

    return f


def _characteristic(
    source: ItemParameters,
    target: ItemParameters,
    method: str,
    grid: QuadratureGrid | None,
    symmetric: bool,
) -> LinkingConstants:
    _check_pair(source, target)
    grid = grid or normal_grid(41, 4.0)
    try:
        start = mean_sigma(source, target)
    except ValueError:
        start = mean_mean(source, target)
    A0 = start.A if np.isfinite(start.A) and start.A > 0 else 1.0
    B0 = start.B if np.isfinite(start.B) else 0.0
    f = _criterion(source, target, grid, method == "stocking-lord", symmetric)
    res = minimize(
        f,
        np.array([np.log(A0), B0]),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-10, "maxiter": 200},
    )
    return LinkingConstants(float(np.exp(res.x[0])), float(res.x[1]), method, source.n_items)


def haebara(
    source: ItemParameters,
    target: ItemParameters,
    *,
    grid: QuadratureGrid | None = None,
    symmetric: bool = False,
) -> LinkingConstants:
    """Haebara (1980) characteristic-curve linking.

    Args:
        source: ``J`` anchor items on the source scale.
        target: the same items on the target scale.
        grid: θ points and weights on the target scale (default 41 nodes on [-4, 4],
            N(0, 1) weights).
        symmetric: add the criterion over the same points on the source scale.
    """
    return _characteristic(source, target, "haebara", grid, symmetric)


def stocking_lord(
    source: ItemParameters,
    target: ItemParameters,
    *,
    grid: QuadratureGrid | None = None,
    symmetric: bool = False,
) -> LinkingConstants:
    """Stocking & Lord (1983) test-characteristic-curve linking.  Arguments as
    :func:`haebara`."""
    return _characteristic(source, target, "stocking-lord", grid, symmetric)


def link(
    source: ItemParameters,
    target: ItemParameters,
    method: str = "stocking-lord",
    *,
    grid: QuadratureGrid | None = None,
    symmetric: bool = False,
    standard_errors: bool = False,
) -> LinkingConstants:
    """Linking constants by ``method`` (one of :data:`LINKING_METHODS`).

    Args:
        source: ``J`` anchor items on the source scale.
        target: the same items on the target scale.
        method: ``mean-mean``, ``mean-sigma``, ``haebara`` or ``stocking-lord``.
        grid, symmetric: for the characteristic-curve methods.
        standard_errors: jackknife the constants over the anchors (``J`` more linkings).

    Returns:
        The constants (with ``se_a``, ``se_b`` when asked).
    """
    method = method.lower().replace("_", "-").replace("/", "-")
    if method not in LINKING_METHODS:
        raise ValueError(f"unknown linking method {method!r}; expected one of {LINKING_METHODS}")

    def one(s: ItemParameters, t: ItemParameters) -> LinkingConstants:
        if method == "mean-mean":
            return mean_mean(s, t)
        if method == "mean-sigma":
            return mean_sigma(s, t)
        return _characteristic(s, t, method, grid, symmetric)

    out = one(source, target)
    J = source.n_items
    if not standard_errors or J < 3:
        return out
    reps = np.empty((J, 2))
    for j in range(J):
        keep = np.delete(np.arange(J), j)
        c = one(source.subset(keep), target.subset(keep))
        reps[j] = (c.A, c.B)
    se = np.sqrt((J - 1) / J * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0))
    return replace(out, se_a=float(se[0]), se_b=float(se[1]))


def expected_score_rmsd(
    items: ItemParameters, reference: ItemParameters, grid: QuadratureGrid | None = None
) -> FloatArray:
    """Per item, the root mean squared difference of the expected-score curves (the ICC of a
    dichotomous item) of two parameter sets of the same items, over ``grid`` (default
    θ ~ N(0, 1), 61 nodes on [-6, 6]).

    Args:
        items, reference: the same ``J`` items (same categories).

    Returns:
        Shape ``(J,)``.
    """
    _check_pair(items, reference)
    grid = grid or normal_grid(61, 6.0)
    p = category_probabilities(items, grid.nodes)  # (J, K, Q)
    q = category_probabilities(reference, grid.nodes)
    k = np.arange(p.shape[1], dtype=np.float64)[None, :, None]
    diff = (k * p).sum(axis=1) - (k * q).sum(axis=1)  # (J, Q)
    return np.asarray(np.sqrt((diff * diff) @ grid.weights), dtype=np.float64)


@dataclass(frozen=True)
class AnchorLink:
    """Linking through purified anchors.

    Attributes:
        constants: the constants from the anchors kept.
        kept: ``(J,)`` which anchors were used.
        rmsd: ``(J,)`` expected-score RMSD of each transformed anchor against its target
            curve under the final constants (over θ ~ N(0, 1) on the target scale).
    """

    constants: LinkingConstants
    kept: BoolArray
    rmsd: FloatArray

    @property
    def dropped(self) -> int:
        """Anchors left out as drifted."""
        return int((~self.kept).sum())


def link_anchors(
    source: ItemParameters,
    target: ItemParameters,
    method: str = "stocking-lord",
    *,
    max_rmsd: float | None = None,
    min_anchors: int = 2,
    standard_errors: bool = False,
) -> AnchorLink:
    """Link, then drop drifted anchors one at a time and link again.

    An anchor whose transformed expected-score curve differs from its target curve by more
    than ``max_rmsd`` (RMSD over θ ~ N(0, 1) on the target scale) has changed between the
    calibrations (item parameter drift) and would bias the constants; the worst such anchor is
    dropped and the constants recomputed, until none exceeds ``max_rmsd`` or only
    ``min_anchors`` remain.

    Args:
        source, target: the ``J`` anchors on the two scales.
        method: see :func:`link`.
        max_rmsd: purification threshold (``None``: no purification).
        min_anchors: never link on fewer anchors than this.
        standard_errors: jackknife SEs of the final constants.
    """
    _check_pair(source, target)
    J = source.n_items
    kept = np.ones(J, dtype=bool)
    while True:
        idx = np.flatnonzero(kept)
        constants = link(source.subset(idx), target.subset(idx), method)
        rmsd = expected_score_rmsd(transform_items(source, constants), target)
        if max_rmsd is None or kept.sum() <= min_anchors:
            break
        worst = np.where(kept, rmsd, -np.inf)
        j = int(np.argmax(worst))
        if not worst[j] > max_rmsd:
            break
        kept[j] = False
    if standard_errors:
        idx = np.flatnonzero(kept)
        constants = link(source.subset(idx), target.subset(idx), method, standard_errors=True)
    return AnchorLink(constants, kept, rmsd)


# ------------------------------------------------------------------ true-score equating
@dataclass(frozen=True)
class TrueScoreEquating:
    """IRT true-score equating of form X to form Y.

    Attributes:
        scores: form-X summed scores ``0 … max_X``, shape ``(S,)``.
        theta: θ with ``T_X(θ) = score``, shape ``(S,)``; ``NaN`` where no θ exists (scores
            at or below the sum of the lower asymptotes, and the maximum score).
        equated: form-Y equivalents, shape ``(S,)``.
    """

    scores: FloatArray
    theta: FloatArray
    equated: FloatArray


def _true_score(items: ItemParameters, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    p, p1, _ = category_derivatives(items, theta)
    k = np.arange(p.shape[1], dtype=np.float64)[None, :, None]
    return (k * p).sum(axis=(0, 1)), (k * p1).sum(axis=(0, 1))


def _max_score(items: ItemParameters) -> int:
    return int((items.n_categories - 1).sum())


def true_score_equating(
    form_x: ItemParameters,
    form_y: ItemParameters,
    scores: FloatArray | None = None,
    *,
    tol: float = 1e-10,
) -> TrueScoreEquating:
    """Equate form-X true scores to form Y (both calibrated on one scale).

    For each ``τ`` strictly between ``Σ c_j`` and the maximum score, Newton–Raphson (bisection
    safeguarded) solves ``T_X(θ) = τ``; ``τ_Y = T_Y(θ)``.  Scores at or below ``Σ c_j`` are
    equated linearly between ``(0, 0)`` and ``(Σ c_X, Σ c_Y)``, the maximum score to the
    maximum of form Y (Kolen & Brennan 2014, §6.6).

    Args:
        form_x: the ``J_X`` items of form X.
        form_y: the ``J_Y`` items of form Y, on the same θ scale.
        scores: form-X scores to equate, shape ``(S,)`` (default ``0 … max_X``).
        tol: convergence of the θ solve, in score units.
    """
    max_x = _max_score(form_x)
    max_y = _max_score(form_y)
    tau = (
        np.arange(max_x + 1, dtype=np.float64)
        if scores is None
        else np.asarray(scores, dtype=np.float64).reshape(-1)
    )
    if np.any((tau < 0) | (tau > max_x)):
        raise ValueError(f"form-X scores must lie in [0, {max_x}]")
    c_x = float(form_x.c.sum())
    c_y = float(form_y.c.sum())
    inner = (tau > c_x) & (tau < max_x)
    theta = np.full(tau.shape, np.nan)
    equated = np.empty(tau.shape)
    low = tau <= c_x
    equated[low] = tau[low] * (c_y / c_x) if c_x > 0 else 0.0
    equated[tau >= max_x] = float(max_y)
    if inner.any():
        target = tau[inner]
        lo = np.full(target.shape, -40.0)
        hi = np.full(target.shape, 40.0)
        # start from the logit of the proportion of the reachable score range
        frac = (target - c_x) / (max_x - c_x)
        th = np.clip(np.log(frac / (1.0 - frac)), -10.0, 10.0)
        for _ in range(200):
            t, t1 = _true_score(form_x, th)
            r = t - target
            lo = np.where(r < 0, th, lo)
            hi = np.where(r > 0, th, hi)
            if np.all(np.abs(r) < tol):
                break
            step = th - r / np.where(t1 > 1e-300, t1, np.nan)
            bad = ~np.isfinite(step) | (step <= lo) | (step >= hi)
            th = np.where(bad, 0.5 * (lo + hi), step)
        theta[inner] = th
        equated[inner] = _true_score(form_y, th)[0]
    return TrueScoreEquating(tau, theta, equated)
