"""Streamed calibration from the lake's Iceberg response table (real PostgreSQL outbox, ingest
to Iceberg on S3, DuckDB sort): the same estimates as the dense EM on the same responses."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from core.events import ResponseRecordedV1, encode_payload
from core.ids import new_id
from core.settings import Settings
from lake.calibration_io import pin_snapshot, read_responses
from lake.ingest import ingest_outbox, pending_events
from lake.response_stream import open_lake_responses
from psychometrics import calibrate
from psychometrics.stream import calibrate_stream

pytestmark = pytest.mark.integration

COPY_SQL = (
    "copy events.outbox (event_id, event_type, aggregate_id, occurred_at, payload) from stdin"
)
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _write(settings: Settings, answered: np.ndarray, correct: np.ndarray) -> tuple[int, list[str]]:
    exam_id = str(new_id())
    item_ids = [str(new_id()) for _ in range(answered.shape[1])]
    rows = 0
    with psycopg.connect(settings.database_url) as conn, conn.cursor().copy(COPY_SQL) as copy:
        for s in range(answered.shape[0]):
            attempt, student = str(new_id()), str(new_id())
            for j in np.flatnonzero(answered[s]):
                at = T0 + timedelta(seconds=60 * s + int(j))
                event = ResponseRecordedV1(
                    attempt_id=attempt,
                    exam_id=exam_id,
                    student_id=student,
                    item_id=item_ids[j],
                    choice=0 if correct[s, j] else 1,
                    is_correct=bool(correct[s, j]),
                    answered_at=at,
                )
                copy.write_row(
                    (str(new_id()), event.event_type, attempt, at, encode_payload(event).decode())
                )
                rows += 1
    return rows, item_ids


def test_lake_responses_stream_into_the_same_calibration(settings: Settings) -> None:
    rng = np.random.default_rng(19)
    n, j = 1_500, 16
    a, d = rng.lognormal(0.0, 0.3, j), rng.normal(0.0, 1.0, j)
    theta = rng.standard_normal(n)
    answered = rng.random((n, j)) < 0.6
    correct = rng.random((n, j)) < 1 / (1 + np.exp(-(theta[:, None] * a + d)))
    written, _ = _write(settings, answered, correct)
    deadline = time.monotonic() + 60
    while pending_events(settings) < written:
        assert time.monotonic() < deadline, "outbox rows never became final"
        time.sleep(0.05)
    assert ingest_outbox(settings).rows >= written

    snapshot = pin_snapshot(settings)
    with open_lake_responses(settings, snapshot, batch_rows=2_000) as source:
        assert source.n_responses == written
        sorted_copy = source.path
        streamed = calibrate_stream(source, "2pl", cache_bytes=0)
    assert not sorted_copy.exists()

    # the dense reference: the same pinned responses pivoted to an attempts x items matrix
    history = read_responses(settings, snapshot).responses
    attempts = history.column("attempt_id").to_pylist()
    items = history.column("item_id").to_pylist()
    names = sorted(set(items))
    rows = {v: k for k, v in enumerate(sorted(set(attempts)))}
    cols = {v: k for k, v in enumerate(names)}
    dense = np.full((len(rows), len(cols)), -1, dtype=np.int8)
    for att, item, ok in zip(
        attempts, items, history.column("is_correct").to_pylist(), strict=True
    ):
        dense[rows[att], cols[item]] = int(ok)
    reference = calibrate(dense, "2pl", item_names=names)
    assert streamed.items.names == reference.items.names
    assert np.allclose(streamed.items.a, reference.items.a, atol=2e-3)
    assert np.allclose(streamed.items.d, reference.items.d, atol=2e-3)
    assert streamed.log_likelihood == pytest.approx(reference.log_likelihood, rel=1e-6)
