"""Multiple-group calibration: one scale, several groups, group means and SDs free.

Bock & Zimowski (1997): examinees of group ``g`` have θ ~ N(μ_g, σ_g²); the reference group
fixes the scale (μ = 0, σ = 1) and the other groups' μ and σ are estimated with the items.
An item is either *common* (one set of parameters in every group: an anchor of the common
scale) or *group-specific* (its own parameters in each group).  Marginal maximum likelihood by
EM (Bock & Aitkin 1981): one E-step per group with its own prior, the M-step of common items
on the expected counts summed over groups, of group-specific items on each group's counts, and
μ_g, σ_g from each group's posterior mass; SQUAREM (Varadhan & Roland 2008) accelerates it.

The engine fits ``M`` such *models* - the same data, different choices of group-specific
items - in one batch: the E-step of every model is one matrix product with the design (the
models' log-probability tables side by side) and the M-step runs over all models' items at
once.  Likelihood-ratio DIF (:func:`psychometrics.dif.lr_dif`) fits the compact model and one
augmented model per studied item this way.

Models: 2PL, 3PL (with an optional Beta prior on ``c``) and the graded response model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logit

from psychometrics._types import BoolArray, FloatArray, IntArray
from psychometrics.calibration.mstep import Priors, mstep_items
from psychometrics.calibration.start import classical_start
from psychometrics.data import ResponseData, prepare_responses
from psychometrics.models import ItemParameters
from psychometrics.quadrature import QuadratureGrid, normal_grid

__all__ = [
    "MULTIGROUP_MODELS",
    "MultigroupResult",
    "calibrate_multigroup",
    "fit_models",
    "group_index",
    "n_item_parameters",
]

MULTIGROUP_MODELS: tuple[str, ...] = ("2pl", "3pl", "grm")
_LOG_FLOOR = -80.0


@dataclass(frozen=True)
class MultigroupResult:
    """A multiple-group calibration.

    Attributes:
        groups: the group labels, reference first, length ``G``.
        items: per group, the ``J`` items on the common scale (common items are identical).
        latent_mean: ``(G,)`` group means (reference 0).
        latent_sd: ``(G,)`` group SDs (reference 1).
        group_specific: ``(J,)`` items with parameters of their own in each group.
        log_likelihood: marginal log-likelihood summed over groups.
        n_parameters: free parameters (items and latent distributions).
        converged: the EM met its tolerance.
        iterations: EM map evaluations.
    """

    groups: tuple[Any, ...]
    items: tuple[ItemParameters, ...]
    latent_mean: FloatArray
    latent_sd: FloatArray
    group_specific: BoolArray
    log_likelihood: float
    n_parameters: int
    converged: bool
    iterations: int


@dataclass(frozen=True)
class _Fit:
    """Batch result: per model ``a (M, G, J)``, ``d (M, G, J, K-1)``, ``c (M, G, J)``,
    ``mu``/``sd`` ``(M, G)``, ``log_likelihood (M,)``."""

    a: FloatArray
    d: FloatArray
    c: FloatArray
    mu: FloatArray
    sd: FloatArray
    log_likelihood: FloatArray
    converged: BoolArray
    iterations: int
    n_categories: IntArray


def n_item_parameters(model: str, n_categories: IntArray) -> IntArray:
    """Free parameters of each item: slope, ``K-1`` intercepts, and ``c`` for the 3PL."""
    return np.asarray(n_categories - 1 + 1 + (1 if model == "3pl" else 0), dtype=np.int64)


class _Batch:
    """``M`` models over the same ``G`` groups; parameters packed per model as one row."""

    def __init__(
        self,
        data: Sequence[ResponseData],
        kcat: IntArray,
        free: BoolArray,
        model: str,
        grid: QuadratureGrid,
        priors: Priors,
    ) -> None:
        self.data = list(data)
        self.kcat = kcat
        self.free = free  # (M, J)
        self.model = model
        self.grid = grid
        self.priors = priors
        self.G = len(self.data)
        self.M, self.J = free.shape
        self.K1 = int(kcat.max()) - 1
        self.dmask = np.arange(self.K1)[None, :] < (kcat - 1)[:, None]  # (J, K1)
        self.three = model == "3pl"
        self.evaluations = 0
        self.cat_groups = [np.flatnonzero(kcat == k) for k in np.unique(kcat)]

    # ---- packing: a, d (valid entries), g (3PL), mu, log_sd -- per model
    def pack(
        self, a: FloatArray, d: FloatArray, g: FloatArray | None, mu: FloatArray, lsd: FloatArray
    ) -> FloatArray:
        M, G = self.M, self.G
        parts = [a.reshape(M, -1), d[:, :, self.dmask].reshape(M, -1)]
        if self.three and g is not None:
            parts.append(g.reshape(M, -1))
        parts += [mu.reshape(M, G), lsd.reshape(M, G)]
        return np.concatenate(parts, axis=1)

    def unpack(
        self, x: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray, FloatArray]:
        M, G, J = self.M, self.G, self.J
        i = 0
        a = x[:, i : i + G * J].reshape(M, G, J)
        i += G * J
        nd = int(self.dmask.sum())
        d = np.full((M, G, J, self.K1), np.nan)
        d[:, :, self.dmask] = x[:, i : i + G * nd].reshape(M, G, nd)
        i += G * nd
        g = None
        if self.three:
            g = x[:, i : i + G * J].reshape(M, G, J)
            i += G * J
        mu = x[:, i : i + G]
        lsd = x[:, i + G : i + 2 * G]
        return a.copy(), d, None if g is None else g.copy(), mu.copy(), lsd.copy()

    def log_p(self, a: FloatArray, d: FloatArray, g: FloatArray | None, grp: int) -> FloatArray:
        """``log P_jk(θ_q)`` of every model for one group, shape ``(M, J, K, Q)`` (the
        curves of :mod:`psychometrics.models`, vectorised over models)."""
        th = self.grid.nodes
        valid = self.dmask[None, :, :, None]
        z = a[:, grp, :, None, None] * th + np.where(np.isnan(d[:, grp]), 0.0, d[:, grp])[..., None]
        star = np.where(valid, expit(z), 0.0)  # (M, J, K-1, Q)
        if g is not None:
            c = expit(g[:, grp])[:, :, None, None]
            star = np.where(valid, c + (1.0 - c) * star, 0.0)
        M, J, _, Q = star.shape
        full = np.concatenate([np.ones((M, J, 1, Q)), star, np.zeros((M, J, 1, Q))], axis=2)
        p = full[:, :, :-1] - full[:, :, 1:]
        return np.asarray(np.log(np.maximum(p, 1e-12)))

    # ---- E-step over all models for one group: one product with the design
    def estep(
        self,
        a: FloatArray,
        d: FloatArray,
        g: FloatArray | None,
        mu: FloatArray,
        lsd: FloatArray,
        grp: int,
        counts: bool = True,
    ) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
        data = self.data[grp]
        Q = self.grid.size
        log_p = self.log_p(a, d, g, grp)  # (M, J, K, Q)
        ci, cc = data.col_item, data.col_cat
        if data.full_categories:
            w = log_p[:, ci, cc]  # (M, C, Q)
            const = np.zeros((self.M, Q))
        else:
            cat = cc >= 0
            w = np.empty((self.M, ci.size, Q))
            w[:, cat] = log_p[:, ci[cat], cc[cat]] - log_p[:, ci[cat], 0]
            w[:, ~cat] = log_p[:, ci[~cat], 0]
            const = log_p[:, np.asarray(data.complete, dtype=bool), 0].sum(axis=1)
        z = (self.grid.nodes[None, :] - mu[:, grp, None]) / np.exp(lsd[:, grp, None])
        prior = -0.5 * z * z
        prior -= np.log(np.exp(prior).sum(axis=1, keepdims=True))
        wide = np.moveaxis(w, 0, 1).reshape(ci.size, self.M * Q)  # (C, M·Q)
        post = data.matmul(wide).reshape(-1, self.M, Q)
        post += (const + prior)[None, :, :]
        top = post.max(axis=2)
        post -= top[:, :, None]
        np.maximum(post, _LOG_FLOOR, out=post)
        np.exp(post, out=post)
        s = np.einsum("nmq->nm", post)
        ll = np.einsum("n,nm->m", data.weights, top + np.log(s))  # (M,)
        if not counts:
            return ll, None, None
        post *= (data.weights[:, None] / s)[:, :, None]
        nq = np.einsum("nmq->mq", post)
        r = data.rmatmul(post.reshape(-1, self.M * Q)).reshape(-1, self.M, Q)  # (C, M, Q)
        return ll, nq, self._counts(r, nq, data)

    def _counts(self, r: FloatArray, nq: FloatArray, data: ResponseData) -> FloatArray:
        """Expected category counts ``(M, J, K, Q)`` from design-column counts."""
        M, Q = nq.shape
        out = np.zeros((M, self.J, self.K1 + 1, Q))
        ci, cc = data.col_item, data.col_cat
        if data.full_categories:
            out[:, ci, cc] = np.moveaxis(r, 1, 0)
            return out
        n = np.repeat(nq[:, None, :], self.J, axis=1)  # (M, J, Q)
        obs = cc < 0
        n[:, ci[obs]] = np.moveaxis(r[obs], 1, 0)
        out[:, ci[~obs], cc[~obs]] = np.moveaxis(r[~obs], 1, 0)
        out[:, :, 0] = n - out[:, :, 1:].sum(axis=2)
        np.maximum(out, 0.0, out=out)
        return out

    # ---- one EM map for every model
    def fmap(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        self.evaluations += 1
        a, d, g, mu, lsd = self.unpack(x)
        ll = np.zeros(self.M)
        counts = np.empty((self.G, self.M, self.J, self.K1 + 1, self.grid.size))
        nq = np.empty((self.G, self.M, self.grid.size))
        for grp in range(self.G):
            llg, nqg, cg = self.estep(a, d, g, mu, lsd, grp)
            assert nqg is not None and cg is not None
            ll += llg
            nq[grp] = nqg
            counts[grp] = cg
        a, d, g = self._mstep(a, d, g, counts)
        th = self.grid.nodes
        tot = nq.sum(axis=2)  # (G, M)
        mean = (nq * th).sum(axis=2) / tot
        var = (nq * (th[None, None, :] - mean[:, :, None]) ** 2).sum(axis=2) / tot
        mu = mean.T.copy()
        lsd = 0.5 * np.log(np.maximum(var.T, 1e-6))
        mu[:, 0] = 0.0
        lsd[:, 0] = 0.0
        return self.pack(a, d, g, mu, lsd), ll

    def _mstep(
        self, a: FloatArray, d: FloatArray, g: FloatArray | None, counts: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        G = self.G
        a, d = a.copy(), d.copy()
        g = None if g is None else g.copy()
        for items in self.cat_groups:
            k = int(self.kcat[items[0]])
            fr = self.free[:, items]  # (M, n)
            # instances: common (m, j) on counts summed over groups; free (m, grp, j)
            cm, cj = np.nonzero(~fr)
            fm, fj = np.nonzero(fr)
            jc, jf = items[cj], items[fj]
            inst_a = [a[cm, 0, jc]] + [a[fm, grp, jf] for grp in range(G)]
            inst_d = [d[cm, 0, jc, : k - 1]] + [d[fm, grp, jf, : k - 1] for grp in range(G)]
            inst_c = [counts[:, cm, jc, :k].sum(axis=0)] + [
                counts[grp, fm, jf, :k] for grp in range(G)
            ]
            inst_g = (
                None
                if g is None
                else np.concatenate([g[cm, 0, jc]] + [g[fm, grp, jf] for grp in range(G)])
            )
            na, nd, ng = mstep_items(
                np.concatenate(inst_a),
                np.concatenate(inst_d),
                inst_g,
                np.concatenate(inst_c),
                self.grid.nodes,
                self.priors,
                max_steps=1,
            )
            n_c = cm.size
            for grp in range(G):
                a[cm, grp, jc] = na[:n_c]
                d[cm, grp, jc, : k - 1] = nd[:n_c]
                if g is not None and ng is not None:
                    g[cm, grp, jc] = ng[:n_c]
            n_f = fm.size
            for grp in range(G):
                lo = n_c + grp * n_f
                a[fm, grp, jf] = na[lo : lo + n_f]
                d[fm, grp, jf, : k - 1] = nd[lo : lo + n_f]
                if g is not None and ng is not None:
                    g[fm, grp, jf] = ng[lo : lo + n_f]
        return a, d, g

    def log_likelihood(self, x: FloatArray) -> FloatArray:
        a, d, g, mu, lsd = self.unpack(x)
        ll = np.zeros(self.M)
        for grp in range(self.G):
            ll += self.estep(a, d, g, mu, lsd, grp, counts=False)[0]
        return ll

    def valid(self, x: FloatArray) -> BoolArray:
        a, d, _, _, lsd = self.unpack(x)
        ok = np.all(np.isfinite(x), axis=1) & np.all(np.abs(lsd) < 5, axis=1)
        if self.K1 > 1:
            dd = np.where(np.isnan(d), -np.inf, d)
            gaps = np.diff(np.where(self.dmask[None, None], dd, -np.inf), axis=3)
            ok &= ~np.any(gaps >= 0, axis=(1, 2, 3)) | ~np.any(self.dmask[:, 1:])
        del a
        return np.asarray(ok)


def _squarem(
    batch: _Batch, x: FloatArray, tol: float, max_iter: int
) -> tuple[FloatArray, BoolArray]:
    """SqS3 (Varadhan & Roland 2008) with a step length of each model's own."""
    M = x.shape[0]
    done = np.zeros(M, dtype=bool)
    step_max = np.ones(M)
    while batch.evaluations < max_iter:
        x1, _ = batch.fmap(x)
        ch1 = np.abs(x1 - x).max(axis=1)
        x2, ll1 = batch.fmap(x1)
        ch2 = np.abs(x2 - x1).max(axis=1)
        done = (ch1 < tol) | (ch2 < tol)
        if done.all():
            return x2, done
        r = x1 - x
        v = x2 - x1 - r
        nv = np.linalg.norm(v, axis=1)
        nr = np.linalg.norm(r, axis=1)
        alpha = np.where(nv > 0, -nr / np.where(nv > 0, nv, 1.0), -1.0)
        alpha = np.minimum(-1.0, np.maximum(alpha, -step_max))
        step_max = np.where(alpha == -step_max, step_max * 4.0, step_max)
        xp = x - 2.0 * alpha[:, None] * r + (alpha * alpha)[:, None] * v
        ok = batch.valid(xp) & ~done
        xp = np.where(ok[:, None], xp, x2)
        with np.errstate(all="ignore"):
            xn, llp = batch.fmap(xp)
        good = ok & np.isfinite(llp) & (llp >= ll1 - 1e-10 * np.abs(ll1)) & batch.valid(xn)
        step_max = np.where(ok & ~good, np.maximum(1.0, step_max / 4.0), step_max)
        x = np.where(good[:, None], xn, x2)
    return x, done


def group_index(groups: Any, reference: Any | None) -> tuple[tuple[Any, ...], IntArray]:
    """The distinct labels (reference first, then sorted) and each row's group index."""
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError("groups must be one label per row")
    uniq = list(dict.fromkeys(sorted(labels.tolist())))
    if reference is not None:
        if reference not in uniq:
            raise ValueError(f"reference group {reference!r} is not among the groups")
        uniq.remove(reference)
        uniq.insert(0, reference)
    if len(uniq) < 2:
        raise ValueError("multiple-group calibration needs at least two groups")
    index = {v: i for i, v in enumerate(uniq)}
    return tuple(uniq), np.array([index[v] for v in labels.tolist()], dtype=np.int64)


def fit_models(
    responses: Any,
    groups: Any,
    free: BoolArray,
    model: str = "2pl",
    *,
    reference: Any | None = None,
    weights: FloatArray | None = None,
    n_categories: IntArray | None = None,
    grid: QuadratureGrid | None = None,
    guessing_prior: tuple[float, float] | None = None,
    start: _Fit | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> tuple[tuple[Any, ...], _Fit]:
    """Fit ``M`` multiple-group models in one batch.

    Args:
        responses: ``(N, J)`` categories (``NaN``/negative = missing).
        groups: ``(N,)`` group labels.
        free: ``(M, J)``: item ``j`` is group-specific in model ``m``.
        model: ``2pl``, ``3pl`` or ``grm``.
        reference: the label whose θ is N(0, 1) (default: the smallest label).
        weights: ``(N,)`` frequency weights.
        n_categories: ``(J,)`` categories per item (inferred otherwise).
        grid: quadrature grid (default 61 nodes on [-6, 6]).
        guessing_prior: Beta prior on the 3PL ``c``.
        start: a previous fit whose first model starts every model.
        tol: convergence when no parameter changes by more than ``tol``.
        max_iter: maximum EM map evaluations.

    Returns:
        The group labels (reference first) and the batch fit.
    """
    model = model.lower()
    if model not in MULTIGROUP_MODELS:
        raise ValueError(f"multiple-group models: {MULTIGROUP_MODELS}, not {model!r}")
    labels, gidx = group_index(groups, reference)
    y = np.asarray(responses, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] != gidx.size:
        raise ValueError("responses must be (N, J) with one group label per row")
    free = np.atleast_2d(np.asarray(free, dtype=bool))
    J = y.shape[1]
    if free.shape[1] != J:
        raise ValueError("free must have one column per item")
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    full = prepare_responses(y, w, n_categories, dtype=np.float64, collapse=False)
    kcat = full.n_categories
    if model != "grm" and np.any(kcat > 2):
        raise ValueError(f"model {model!r} needs dichotomous responses; use 'grm'")
    data = [
        prepare_responses(y[gidx == i], w[gidx == i], kcat, dtype=np.float64, collapse=True)
        for i in range(len(labels))
    ]
    grid = grid or normal_grid(61, 6.0)
    batch = _Batch(data, kcat, free, model, grid, Priors(guessing=guessing_prior))
    M, G = free.shape[0], len(labels)
    if start is None:
        codes = full.codes
        assert codes is not None
        a0, d0 = classical_start(codes, w, kcat)
        g0 = None
        if model == "3pl":
            cm = 0.15 if guessing_prior is None else guessing_prior[0] / sum(guessing_prior)
            g0 = np.full((M, G, J), float(logit(cm)))
            d0 = d0 - 0.5
        a = np.broadcast_to(a0, (M, G, J)).copy()
        d = np.broadcast_to(d0, (M, G, J, d0.shape[1])).copy()
        mu = np.zeros((M, G))
        lsd = np.zeros((M, G))
    else:
        a = np.broadcast_to(start.a[0], (M, G, J)).copy()
        d = np.broadcast_to(start.d[0], (M, G, J, start.d.shape[3])).copy()
        g0 = None
        if model == "3pl":
            g0 = np.broadcast_to(logit(np.clip(start.c[0], 1e-6, 1 - 1e-6)), (M, G, J)).copy()
        mu = np.broadcast_to(start.mu[0], (M, G)).copy()
        lsd = np.log(np.broadcast_to(start.sd[0], (M, G))).copy()
    x = batch.pack(a, d, g0, mu, lsd)
    x, converged = _squarem(batch, x, tol, max_iter)
    ll = batch.log_likelihood(x)
    a, d, g, mu, lsd = batch.unpack(x)
    c = np.zeros_like(a) if g is None else np.asarray(expit(g))
    return labels, _Fit(a, d, c, mu, np.exp(lsd), ll, converged, batch.evaluations, kcat)


def calibrate_multigroup(
    responses: Any,
    groups: Any,
    model: str = "2pl",
    *,
    reference: Any | None = None,
    group_specific: Sequence[int] | IntArray = (),
    weights: FloatArray | None = None,
    n_categories: IntArray | None = None,
    item_names: Sequence[str] | None = None,
    grid: QuadratureGrid | None = None,
    guessing_prior: tuple[float, float] | None = None,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> MultigroupResult:
    """Multiple-group calibration: items common across groups except ``group_specific``; the
    reference group's θ ~ N(0, 1), every other group's mean and SD estimated.

    Args:
        responses: ``(N, J)`` categories (``NaN``/negative = missing).
        groups: ``(N,)`` group labels (any hashable values).
        model: ``2pl``, ``3pl`` or ``grm``.
        reference: the reference group's label (default: the smallest).
        group_specific: indices of items with parameters of their own in each group.
        weights, n_categories, grid, guessing_prior, tol, max_iter: see :func:`fit_models`.
        item_names: ``J`` names.

    Returns:
        The :class:`MultigroupResult`.
    """
    y = np.asarray(responses, dtype=np.float64)
    J = y.shape[1]
    free = np.zeros((1, J), dtype=bool)
    free[0, np.asarray(group_specific, dtype=np.int64)] = True
    labels, fit = fit_models(
        y,
        groups,
        free,
        model,
        reference=reference,
        weights=weights,
        n_categories=n_categories,
        grid=grid,
        guessing_prior=guessing_prior,
        tol=tol,
        max_iter=max_iter,
    )
    G = len(labels)
    names = tuple(item_names) if item_names is not None else ()
    items = tuple(
        ItemParameters(model, fit.a[0, i], fit.d[0, i], fit.c[0, i], names) for i in range(G)
    )
    kcat = items[0].n_categories
    per_item = n_item_parameters(model, kcat)
    n_par = int(per_item[~free[0]].sum() + G * per_item[free[0]].sum() + 2 * (G - 1))
    return MultigroupResult(
        groups=labels,
        items=items,
        latent_mean=fit.mu[0].copy(),
        latent_sd=fit.sd[0].copy(),
        group_specific=free[0].copy(),
        log_likelihood=float(fit.log_likelihood[0]),
        n_parameters=n_par,
        converged=bool(fit.converged[0]),
        iterations=fit.iterations,
    )
