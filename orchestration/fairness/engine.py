"""DIF of the item bank by a grouping column: pure code (no I/O).

Unit of analysis: one exam (its items answered by its attempts), so the matching score of
Mantel–Haenszel is the summed score over the same items for everyone. The largest group is the
reference; every other group with at least `min_group_size` complete response rows is a focal
group, compared with the reference alone:

* Mantel–Haenszel with the ETS A/B/C classes, the summed-score matching purified
  (psychometrics.dif.mantel_haenszel_dif);
* IRT likelihood-ratio DIF by two-group calibration with a purified anchor set
  (psychometrics.dif.lr_dif), when `likelihood_ratio` is on.

An item in several exams gets the row of the exam with the most examinees for that focal group.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from psychometrics.dif import lr_dif, mantel_haenszel_dif


@dataclass(frozen=True)
class DifConfig:
    """Thresholds of a DIF run."""

    grouping: str = "class_id"
    min_group_size: int = 100  # complete response rows per group and exam
    min_items: int = 5  # an exam with fewer items has no usable matching score
    alpha: float = 0.05
    likelihood_ratio: bool = True


@dataclass(frozen=True)
class DifRow:
    """One (item, focal group) result; becomes a row of content.item_dif."""

    item_id: str
    exam_id: str
    grouping: str
    reference_group: str
    focal_group: str
    n_reference: int
    n_focal: int
    mh_delta: float | None
    mh_p_value: float | None
    ets_class: str
    lr_g2: float | None
    lr_df: int | None
    lr_p_value: float | None
    is_mh_flagged: bool
    is_lr_flagged: bool


@dataclass
class DifRun:
    rows: list[DifRow] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def c_level(self) -> list[DifRow]:
        return [r for r in self.rows if r.ets_class == "C"]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _matrix(exam: pa.Table) -> tuple[list[str], list[str], np.ndarray]:
    """Attempts × items of one exam, 1/0 and NaN where not answered."""
    attempts = sorted(set(exam.column("attempt_id").to_pylist()))
    items = sorted(set(exam.column("item_id").to_pylist()))
    row = {a: i for i, a in enumerate(attempts)}
    col = {it: j for j, it in enumerate(items)}
    y = np.full((len(attempts), len(items)), np.nan)
    for a, it, ok in zip(
        exam.column("attempt_id").to_pylist(),
        exam.column("item_id").to_pylist(),
        exam.column("is_correct").to_pylist(),
        strict=True,
    ):
        y[row[a], col[it]] = 1.0 if ok else 0.0
    return attempts, items, y


def _compare(
    exam_id: str,
    items: list[str],
    y: np.ndarray,
    labels: np.ndarray,
    reference: str,
    focal: str,
    config: DifConfig,
) -> list[DifRow]:
    keep = (labels == reference) | (labels == focal)
    yy, gg = y[keep], labels[keep]
    mh = mantel_haenszel_dif(yy, gg, reference=reference, alpha=config.alpha)
    lr = (
        lr_dif(yy, gg, reference=reference, alpha=config.alpha) if config.likelihood_ratio else None
    )
    return [
        DifRow(
            item_id=item,
            exam_id=exam_id,
            grouping=config.grouping,
            reference_group=reference,
            focal_group=focal,
            n_reference=mh.n_reference,
            n_focal=mh.n_focal,
            mh_delta=_finite(mh.delta[j]),
            mh_p_value=_finite(mh.p_value[j]),
            ets_class=mh.ets[j],
            lr_g2=None if lr is None else _finite(lr.g2[j]),
            lr_df=None if lr is None else int(lr.df[j]),
            lr_p_value=None if lr is None else _finite(lr.p_value[j]),
            is_mh_flagged=bool(mh.flagged[j]),
            is_lr_flagged=bool(lr is not None and lr.flagged[j]),
        )
        for j, item in enumerate(items)
    ]


def analyse(responses: pa.Table, groups: pa.Table, config: DifConfig) -> DifRun:
    """DIF rows of every exam with enough examinees per group (see module docstring).

    responses: ``attempt_id, exam_id, item_id, is_correct`` (one row per answer);
    groups: ``attempt_id, group`` (one label per attempt).
    """
    label_of = dict(
        zip(
            groups.column("attempt_id").to_pylist(), groups.column("group").to_pylist(), strict=True
        )
    )
    run = DifRun()
    best: dict[tuple[str, str], DifRow] = {}
    for exam_id in sorted(set(responses.column("exam_id").to_pylist())):
        exam = responses.filter(pc.equal(responses.column("exam_id"), exam_id))
        attempts, items, y = _matrix(exam)
        labels = np.array([str(label_of.get(a)) if a in label_of else "" for a in attempts])
        complete = ~np.isnan(y).any(axis=1) & (labels != "")
        sizes = Counter(labels[complete].tolist())
        large = [g for g, n in sizes.most_common() if n >= config.min_group_size]
        if len(items) < config.min_items or len(large) < 2:
            run.skipped.append(
                {"exam_id": exam_id, "items": len(items), "group_sizes": dict(sizes),
                 "reason": f"needs >= {config.min_items} items and two groups of"
                           f" >= {config.min_group_size} complete rows"}
            )  # fmt: skip
            continue
        reference = large[0]
        for focal in large[1:]:
            for row in _compare(exam_id, items, y, labels, reference, focal, config):
                key = (row.item_id, row.focal_group)
                if key not in best or row.n_focal + row.n_reference > (
                    best[key].n_focal + best[key].n_reference
                ):
                    best[key] = row
    run.rows = sorted(best.values(), key=lambda r: (r.item_id, r.focal_group))
    return run
