"""Data-quality suites (great-expectations) on the silver tables, dimension snapshots and policy
decisions.

GE runs with an ephemeral context on pandas frames. Its import costs 2-3 s, so it happens inside
`validate_frame` only (never at module import: the ingest and the sensors stay fast). The frame is
the table's recent rows (`recent_frame`: the last `days` days of its partition column), which keeps
a check bounded; whole-table invariants (unique event ids, counts against bronze) are the audit's
job (`lake.audit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from core.settings import Settings
from lake.catalog import load_catalog
from lake.tables import identifier

HEX64 = r"^[0-9a-f]{64}$"


@dataclass(frozen=True, slots=True)
class Rule:
    """One expectation: the GE class name and its keyword arguments."""

    expectation: str
    kwargs: dict[str, Any]


def _common(columns: list[str], id_column: str) -> list[Rule]:
    rules = [
        Rule("ExpectColumnValuesToNotBeNull", {"column": id_column}),
        Rule("ExpectColumnValuesToBeUnique", {"column": id_column}),
    ]
    for column in columns:
        if column.endswith("_key"):
            rules.append(Rule("ExpectColumnValuesToMatchRegex", {"column": column, "regex": HEX64}))
    return rules


SPECIFIC: dict[str, list[Rule]] = {
    "responses": [
        Rule("ExpectColumnValuesToNotBeNull", {"column": "item_id"}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "student_key"}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "choice", "min_value": 0}),
        Rule("ExpectColumnValuesToBeInSet", {"column": "is_correct", "value_set": [True, False]}),
    ],
    "attempts": [
        Rule("ExpectColumnValuesToNotBeNull", {"column": "attempt_id"}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "raw_score", "min_value": 0}),
        Rule(
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "max_score",
                "column_B": "raw_score",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
        ),
        Rule(
            "ExpectColumnValuesToBeBetween",
            {"column": "percentile", "min_value": 0, "max_value": 100},
        ),
        Rule("ExpectColumnValuesToBeBetween", {"column": "se", "min_value": 0}),
    ],
    "item_selections": [
        Rule("ExpectColumnValuesToBeBetween", {"column": "position", "min_value": 0}),
        Rule("ExpectColumnValuesToBeBetween", {"column": "candidates", "min_value": 0}),
    ],
    "policy_decisions": [
        Rule("ExpectColumnValuesToBeBetween", {"column": "latency_us", "min_value": 0}),
        Rule("ExpectColumnValuesToNotBeNull", {"column": "policy_revision"}),
    ],
}


def rules_for(table: str, columns: list[str]) -> list[Rule]:
    if table.startswith("dim_"):
        id_column = next(c for c in columns if c != "snapshot_date")
        # One row per entity and day: the entity key is unique within a day's partition, but a
        # recent window holds several days, so only not-null is checked here.
        rules = [Rule("ExpectColumnValuesToNotBeNull", {"column": "snapshot_date"})]
        rules += [r for r in _common(columns, id_column) if "Unique" not in r.expectation]
        return rules
    id_column = "decision_id" if table == "policy_decisions" else "event_id"
    rules = _common(columns, id_column)
    if id_column == "event_id":
        rules.append(
            Rule(
                "ExpectColumnValuesToMatchRegex",
                {"column": "event_type", "regex": r"^[a-z_]+\.[a-z_]+\.[a-z_]+\.v[0-9]+$"},
            )
        )
        rules.append(Rule("ExpectColumnValuesToNotBeNull", {"column": "occurred_at"}))
    rules += [r for r in SPECIFIC.get(table, []) if _columns_of(r) <= set(columns)]
    return rules


def _columns_of(rule: Rule) -> set[str]:
    return {v for k, v in rule.kwargs.items() if k.startswith("column") and isinstance(v, str)}


@dataclass(frozen=True, slots=True)
class QualityResult:
    table: str
    success: bool
    rows: int
    evaluated: int
    failures: list[dict[str, Any]] = field(default_factory=list)


def validate_frame(table: str, frame: pd.DataFrame) -> QualityResult:
    """Run the table's suite on `frame` with an ephemeral GE context."""
    import great_expectations as gx  # lazy: 2-3 s

    rules = rules_for(table, list(frame.columns))
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"lake_{table}")
    asset = source.add_dataframe_asset(name=table)
    batch_definition = asset.add_batch_definition_whole_dataframe("recent")
    suite = gx.ExpectationSuite(name=f"{table}_suite")
    for rule in rules:
        suite.add_expectation(getattr(gx.expectations, rule.expectation)(**rule.kwargs))
    suite = context.suites.add(suite)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite)
    failures = []
    for item in result.results:
        if not item.success:
            config = item.expectation_config
            failures.append(
                {
                    "expectation": config.type if config is not None else "?",
                    "kwargs": {
                        k: v
                        for k, v in (config.kwargs if config else {}).items()
                        if k != "batch_id"
                    },
                    "unexpected_count": item.result.get("unexpected_count"),
                    "examples": [
                        str(v) for v in item.result.get("partial_unexpected_list", [])[:5]
                    ],
                }
            )
    return QualityResult(
        table=table,
        success=bool(result.success),
        rows=len(frame),
        evaluated=len(result.results),
        failures=failures,
    )


def recent_frame(settings: Settings, table: str, *, days: int = 7) -> pd.DataFrame:
    """The table's rows of the last `days` days (by its partition source column) as pandas."""
    iceberg = load_catalog(settings).load_table(identifier(settings, table))
    (partition,) = iceberg.spec().fields
    column = iceberg.schema().find_column_name(partition.source_id)
    assert column is not None
    since = datetime.now(UTC) - timedelta(days=days)
    bound = since.date().isoformat() if column == "snapshot_date" else since.isoformat()
    arrow = iceberg.scan(row_filter=f"{column} >= '{bound}'").to_arrow()
    return arrow.to_pandas()


def validate_table(settings: Settings, table: str, *, days: int = 7) -> QualityResult:
    return validate_frame(table, recent_frame(settings, table, days=days))
