"""Item response models: Rasch/1PL, 2PL, 3PL (logistic) and the graded response model.

All models share one slope–intercept parameterisation.  For item ``j`` with
``K_j`` ordered categories ``0 … K_j-1`` the cumulative ("boundary") curves are

    P*_jk(θ) = c_j + (1 - c_j) · σ(a_j θ + d_jk),   k = 1 … K_j-1,
    P*_j0 = 1,  P*_jK = 0,

and the category probabilities are ``P_jk = P*_jk - P*_j,k+1``.  Dichotomous
items have ``K = 2`` so ``P(correct) = c + (1-c)/(1+exp(-(aθ + d)))``; the
Rasch/1PL model shares one slope across items, the 2PL has ``c = 0``, the 3PL
(Birnbaum 1968) estimates ``c``.  Polytomous items follow Samejima's (1969)
graded response model with ``c = 0`` and decreasing intercepts
``d_1 > d_2 > …``.  The IRT ("difficulty") form is ``b_jk = -d_jk / a_j``.

Arrays are padded to the largest number of categories ``K``: intercepts have
shape ``(J, K-1)`` with ``NaN`` beyond an item's own categories, and category
probabilities have shape ``(J, K, Q)`` with zeros there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import expit

from psychometrics._types import FloatArray, IntArray

__all__ = [
    "MODELS",
    "ItemParameters",
    "ModelName",
    "category_probabilities",
    "item_information",
    "log_category_probabilities",
    "test_information",
]

ModelName = Literal["rasch", "1pl", "2pl", "3pl", "grm"]
MODELS: tuple[str, ...] = ("rasch", "1pl", "2pl", "3pl", "grm")

_EPS = 1e-12


def _as_float(x: Any, shape: tuple[int, ...] | None = None) -> FloatArray:
    arr = np.array(x, dtype=np.float64)
    if shape is not None:
        arr = arr.reshape(shape)
    return arr


@dataclass(frozen=True)
class ItemParameters:
    """Parameters of a bank of ``J`` items (immutable).

    Attributes:
        model: one of ``rasch``, ``1pl``, ``2pl``, ``3pl``, ``grm``.
        a: slopes, shape ``(J,)``.
        d: intercepts, shape ``(J, K-1)``; ``NaN`` pads items with fewer categories.
        c: lower asymptotes, shape ``(J,)`` (zero except for the 3PL).
        names: item names, length ``J``.
    """

    model: str
    a: FloatArray
    d: FloatArray
    c: FloatArray
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {MODELS}")
        a = _as_float(self.a).reshape(-1)
        d = _as_float(self.d)
        if d.ndim == 1:
            d = d[:, None]
        c = _as_float(self.c).reshape(-1)
        if not (a.shape[0] == d.shape[0] == c.shape[0]):
            raise ValueError("a, d and c must describe the same number of items")
        if np.isnan(d[:, 0]).any():
            raise ValueError("every item needs at least one intercept")
        names = tuple(self.names) if self.names else tuple(f"item{j + 1}" for j in range(a.size))
        if len(names) != a.size:
            raise ValueError("names must have one entry per item")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "names", names)

    # ------------------------------------------------------------------ shape
    @property
    def n_items(self) -> int:
        """Number of items ``J``."""
        return int(self.a.shape[0])

    @property
    def n_categories(self) -> IntArray:
        """Categories per item, shape ``(J,)`` (2 for dichotomous items)."""
        return np.asarray(1 + (~np.isnan(self.d)).sum(axis=1), dtype=np.int64)

    @property
    def max_categories(self) -> int:
        """Largest number of categories ``K``."""
        return int(self.d.shape[1] + 1)

    @property
    def b(self) -> FloatArray:
        """IRT difficulties / category thresholds ``-d/a``, shape ``(J, K-1)``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(-self.d / self.a[:, None], dtype=np.float64)

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_irt(
        cls,
        model: str,
        a: Sequence[float] | FloatArray,
        b: Sequence[float] | FloatArray | Sequence[Sequence[float]],
        c: Sequence[float] | FloatArray | None = None,
        names: Sequence[str] = (),
    ) -> ItemParameters:
        """Build from the IRT form ``a, b, c`` (``d = -a·b``).

        Args:
            model: model name.
            a: slopes, shape ``(J,)``.
            b: difficulties, shape ``(J,)`` or ``(J, K-1)`` (``NaN`` padded).
            c: lower asymptotes, shape ``(J,)``; zeros if omitted.
            names: optional item names.
        """
        a_arr = _as_float(a).reshape(-1)
        b_arr = _as_float(b)
        if b_arr.ndim == 1:
            b_arr = b_arr[:, None]
        c_arr = np.zeros_like(a_arr) if c is None else _as_float(c).reshape(-1)
        return cls(model, a_arr, -a_arr[:, None] * b_arr, c_arr, tuple(names))

    def subset(self, index: Sequence[int] | IntArray) -> ItemParameters:
        """The items at ``index`` (order kept), trimming unused category columns."""
        idx = np.asarray(index, dtype=np.int64)
        d = self.d[idx]
        kmax = int((~np.isnan(d)).sum(axis=1).max()) if idx.size else 1
        return ItemParameters(
            self.model, self.a[idx], d[:, :kmax], self.c[idx], tuple(self.names[i] for i in idx)
        )

    # --------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (``NaN`` padding becomes ``None``)."""
        items = []
        for j in range(self.n_items):
            dj = [float(x) for x in self.d[j] if not np.isnan(x)]
            items.append(
                {
                    "item": self.names[j],
                    "a": float(self.a[j]),
                    "d": dj if len(dj) > 1 else dj[0],
                    "b": [-x / self.a[j] if self.a[j] != 0 else None for x in dj]
                    if len(dj) > 1
                    else (-dj[0] / self.a[j] if self.a[j] != 0 else None),
                    "c": float(self.c[j]),
                }
            )
        return {"model": self.model, "items": items}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemParameters:
        """Inverse of :meth:`to_dict`."""
        rows = list(data["items"])
        ds = [[float(x) for x in (r["d"] if isinstance(r["d"], list) else [r["d"]])] for r in rows]
        width = max(len(x) for x in ds) if ds else 1
        d = np.full((len(rows), width), np.nan)
        for j, dj in enumerate(ds):
            d[j, : len(dj)] = dj
        return cls(
            str(data["model"]),
            np.array([float(r["a"]) for r in rows]),
            d,
            np.array([float(r.get("c", 0.0)) for r in rows]),
            tuple(str(r["item"]) for r in rows),
        )


# ----------------------------------------------------------------------------- curves
def _boundaries(items: ItemParameters, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Logistic boundary curves ``s_jk(θ) = σ(a_j θ + d_jk)``.

    Returns:
        ``s`` and the padded mask of valid boundaries; ``s`` has shape
        ``(J, K-1, Q)`` with zeros where the item has no such boundary.
    """
    z = items.a[:, None, None] * theta[None, None, :] + items.d[:, :, None]
    valid = ~np.isnan(items.d)
    s = expit(np.where(valid[:, :, None], z, -np.inf))
    return np.asarray(s, dtype=np.float64), valid


def category_probabilities(items: ItemParameters, theta: FloatArray | float) -> FloatArray:
    """Category probabilities ``P_jk(θ)``.

    Args:
        items: item parameters (``J`` items, up to ``K`` categories).
        theta: shape ``(Q,)`` (a scalar is treated as ``(1,)``).

    Returns:
        Shape ``(J, K, Q)``; rows for categories an item does not have are zero.
    """
    th = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    s, _ = _boundaries(items, th)
    c = items.c[:, None, None]
    inner = np.where(s > 0, c + (1.0 - c) * s, 0.0)
    J, _, Q = s.shape
    star = np.concatenate([np.ones((J, 1, Q)), inner, np.zeros((J, 1, Q))], axis=1)
    p = star[:, :-1, :] - star[:, 1:, :]
    return np.asarray(np.clip(p, 0.0, 1.0), dtype=np.float64)


def log_category_probabilities(items: ItemParameters, theta: FloatArray | float) -> FloatArray:
    """``log P_jk(θ)`` clipped at ``log(1e-12)``; shape ``(J, K, Q)``."""
    return np.asarray(np.log(np.maximum(category_probabilities(items, theta), _EPS)))


def category_derivatives(
    items: ItemParameters, theta: FloatArray | float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Category probabilities and their first two θ-derivatives.

    Returns:
        ``(P, P', P'')`` each of shape ``(J, K, Q)``.
    """
    th = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    s, _ = _boundaries(items, th)
    c = items.c[:, None, None]
    a = items.a[:, None, None]
    w = s * (1.0 - s)
    inner = np.where(s > 0, c + (1.0 - c) * s, 0.0)
    d1 = (1.0 - c) * a * w
    d2 = (1.0 - c) * a * a * w * (1.0 - 2.0 * s)
    J, _, Q = s.shape
    one = np.ones((J, 1, Q))
    zero = np.zeros((J, 1, Q))
    star = np.concatenate([one, inner, zero], axis=1)
    star1 = np.concatenate([zero, d1, zero], axis=1)
    star2 = np.concatenate([zero, d2, zero], axis=1)
    p = np.clip(star[:, :-1] - star[:, 1:], 0.0, 1.0)
    return p, star1[:, :-1] - star1[:, 1:], star2[:, :-1] - star2[:, 1:]


def item_information(items: ItemParameters, theta: FloatArray | float) -> FloatArray:
    """Fisher information ``I_j(θ) = Σ_k P'_jk(θ)² / P_jk(θ)``.

    Args:
        items: ``J`` items.
        theta: shape ``(Q,)``.

    Returns:
        Shape ``(J, Q)``.
    """
    p, p1, _ = category_derivatives(items, theta)
    return np.asarray((p1 * p1 / np.maximum(p, _EPS)).sum(axis=1), dtype=np.float64)


def test_information(items: ItemParameters, theta: FloatArray | float) -> FloatArray:
    """Test information ``Σ_j I_j(θ)``; shape ``(Q,)``."""
    return np.asarray(item_information(items, theta).sum(axis=0), dtype=np.float64)
