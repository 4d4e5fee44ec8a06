"""The test seeds' item-parameter events (tests/support/lake.py): what `record_parameter_events`
sends through the lake (outbox -> bronze -> silver -> lake_silver.item_events) is what
`fill_lake_silver_parameters` writes straight into the copy, provenance included (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.ids import new_id
from core.settings import Settings
from tests.support.database import scratch_settings
from tests.support.lake import fill_lake_silver_parameters, record_parameter_events, ship

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COLUMNS = (
    "event_type, param_id, item_id, version, calibration_id, model, a, b, c, created_at,"
    " promoted_at, source_snapshot_id, n_responses, role, se_a, se_b, sx2, sx2_df, sx2_p"
)


@pytest.fixture(scope="module")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """A database and lake of their own: the test reads every row of lake_silver.item_events."""
    with scratch_settings(base_settings) as scratch:
        yield scratch


def _rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        f"select {COLUMNS} from lake_silver.item_events"
        " where event_type like 'content.item_parameters.%' order by occurred_at, event_type"
    ).fetchall()


def test_recorded_and_filled_parameter_events_agree(settings: Settings) -> None:
    owner, item = str(new_id()), str(new_id())
    provenance = {
        "source_snapshot_id": "41",
        "role": "operational",
        "n_responses": 300,
        "se": {"a": 0.1, "b": 0.05},
        "fit": {"statistic": "S-X2", "value": 12.5, "df": 4, "p": 0.004},
    }
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'T', 'teacher', 'x')",
            (owner, f"{owner}@example.org"),
        )
        conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key)"
            " values (%s, %s, 'q', '[\"A\", \"B\"]', 0)",
            (item, owner),
        )
        for version, prov, live in ((1, {}, False), (2, provenance, True)):
            conn.execute(
                "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
                " model, a, b, c, d, provenance, is_live, created_at, promoted_at)"
                " values (%s, %s, %s, %s, '2pl', 1.2, '{0.4}', 0, '{-0.48}', %s, %s, %s, %s)",
                (
                    str(new_id()),
                    item,
                    version,
                    f"cal-{version}",
                    Jsonb(prov),
                    live,
                    START + timedelta(days=version),
                    START + timedelta(days=version, hours=1) if live else None,
                ),
            )
        record_parameter_events(conn, [item])
    ship(settings, copies=True)
    with psycopg.connect(settings.database_url) as conn:
        shipped = _rows(conn)
        conn.execute("delete from lake_silver.item_events")
        fill_lake_silver_parameters(conn, settings, [item])
        filled = _rows(conn)
    # version 1 added, version 2 added, version 2 promoted
    assert [(r[0], r[3]) for r in shipped] == [
        ("content.item_parameters.added.v1", 1),
        ("content.item_parameters.added.v1", 2),
        ("content.item_parameters.promoted.v1", 2),
    ]
    assert shipped == filled
    added = dict(zip(COLUMNS.split(", "), shipped[1], strict=True))
    assert (added["source_snapshot_id"], added["n_responses"], added["role"]) == (
        "41",
        300,
        "operational",
    )
    fit = [added[k] for k in ("se_a", "se_b", "sx2", "sx2_df", "sx2_p")]
    assert fit == pytest.approx([0.1, 0.05, 12.5, 4.0, 0.004], rel=1e-12)
    assert shipped[0][11:] == (None,) * 8  # a version without provenance: the fields are null
