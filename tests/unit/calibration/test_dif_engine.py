"""The DIF engine without I/O: exams without two large enough groups are skipped with the
reason, an item in two exams keeps the analysis with more examinees, labels are text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.fairness.engine import DifConfig, analyse


def _exam(
    rng: np.random.Generator, exam: str, items: list[str], sizes: dict[str, int]
) -> tuple[pa.Table, pa.Table]:
    rows: dict[str, list[object]] = {
        "attempt_id": [],
        "exam_id": [],
        "item_id": [],
        "is_correct": [],
    }
    groups: dict[str, list[object]] = {"attempt_id": [], "group": []}
    for label, n in sizes.items():
        for s in range(n):
            attempt = f"{exam}-{label}-{s}"
            theta = rng.normal()
            groups["attempt_id"].append(attempt)
            groups["group"].append(label)
            for j, item in enumerate(items):
                rows["attempt_id"].append(attempt)
                rows["exam_id"].append(exam)
                rows["item_id"].append(item)
                rows["is_correct"].append(
                    bool(rng.random() < 1 / (1 + np.exp(-(theta - 0.3 * j + 1))))
                )
    return pa.table(rows), pa.table(groups)


def test_small_groups_are_skipped_and_the_larger_analysis_wins() -> None:
    rng = np.random.default_rng(0)
    items = [f"i{j}" for j in range(6)]
    big_r, big_g = _exam(rng, "big", items, {"A": 300, "B": 250})
    small_r, small_g = _exam(rng, "small", items[:5], {"A": 220, "B": 200})
    tiny_r, tiny_g = _exam(rng, "tiny", items, {"A": 300, "B": 20})
    run = analyse(
        pa.concat_tables([big_r, small_r, tiny_r]),
        pa.concat_tables([big_g, small_g, tiny_g]),
        DifConfig(min_group_size=150, likelihood_ratio=False),
    )
    assert [s["exam_id"] for s in run.skipped] == ["tiny"]
    assert "two groups" in run.skipped[0]["reason"]
    assert {r.item_id for r in run.rows} == set(items)
    assert all(r.exam_id == "big" and (r.n_reference, r.n_focal) == (300, 250) for r in run.rows)
    assert {(r.reference_group, r.focal_group) for r in run.rows} == {("A", "B")}
    assert all(r.ets_class in "ABC" and r.lr_g2 is None for r in run.rows)
