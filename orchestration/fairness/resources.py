"""The fairness resource: Settings + DIF thresholds, and what the asset and its check do with
them (analyse the pinned response history, write the flags, read a run's flags back)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from core.settings import Settings
from lake.calibration_io import read_responses
from lake.dif_io import read_attempt_groups
from orchestration.fairness.engine import DifConfig, DifRun, analyse

COLUMNS = (
    "run_id", "item_id", "grouping", "reference_group", "focal_group", "n_reference", "n_focal",
    "mh_delta", "mh_p_value", "ets_class", "lr_g2", "lr_df", "lr_p_value", "is_mh_flagged",
    "is_lr_flagged",
)  # fmt: skip


@dataclass(frozen=True)
class DifResult:
    run: DifRun
    source_table: str
    snapshot_id: int | None
    n_responses: int
    n_grouped_attempts: int
    seconds: float


@dataclass(frozen=True)
class FairnessResource:
    """Passed to the fairness asset and check as the `fairness` resource."""

    settings: Settings
    config: DifConfig = field(default_factory=DifConfig)

    def run_dif(self, run_id: str, config: DifConfig | None = None) -> DifResult:
        """DIF over the response history at a pinned snapshot (`config`: this run's thresholds,
        default the resource's); the flags of every analysed (item, focal group) written to
        content.item_dif in one transaction."""
        started = time.perf_counter()
        thresholds = config or self.config
        history = read_responses(self.settings)
        groups = read_attempt_groups(self.settings, thresholds.grouping)
        run = analyse(history.responses, groups, thresholds)
        with psycopg.connect(self.settings.database_url) as conn, conn.cursor() as cur:
            cur.executemany(
                f"insert into content.item_dif ({', '.join(COLUMNS)}) values"
                f" ({', '.join(['%s'] * len(COLUMNS))})",
                [(run_id, *[v for k, v in asdict(r).items() if k != "exam_id"]) for r in run.rows],
            )
        return DifResult(
            run=run,
            source_table=history.snapshot.table,
            snapshot_id=history.snapshot.snapshot_id,
            n_responses=history.n_responses,
            n_grouped_attempts=groups.num_rows,
            seconds=time.perf_counter() - started,
        )

    def c_level(self, run_id: str) -> list[dict[str, Any]]:
        """The run's items in ETS class C (large, significant MH DIF)."""
        with psycopg.connect(self.settings.database_url) as conn:
            rows = conn.execute(
                "select item_id::text, grouping, reference_group, focal_group, mh_delta,"
                " mh_p_value, lr_p_value from content.item_dif where run_id = %s"
                " and ets_class = 'C' order by abs(mh_delta) desc",
                (run_id,),
            ).fetchall()
        keys = ("item_id", "grouping", "reference_group", "focal_group", "mh_delta",
                "mh_p_value", "lr_p_value")  # fmt: skip
        return [dict(zip(keys, r, strict=True)) for r in rows]
