"""The lake's decision log (`policy_decisions`) and a student's id: resources that embed her id
(a submission is `<assignment>/<student>`, the tutor's consent decision is about her) reach the
lake with her pseudonym in its place, and after her erasure no snapshot still readable holds her
id or her pseudonym there."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from core.settings import Settings
from governance.decision_log import write_now
from lake.catalog import load_catalog
from lake.decisions import POLICY_DECISIONS, ship_decisions
from lake.pseudonym import pseudonymize
from lake.tables import identifier
from privacy import requests
from privacy.erasure import run_erasure
from tests.integration.lake.test_decisions_dims import decision, wait_decisions_final

pytestmark = pytest.mark.integration


def _rows(settings: Settings, snapshot_id: int | None = None) -> list[dict[str, object]]:
    table = load_catalog(settings).load_table(identifier(settings, POLICY_DECISIONS))
    return table.scan(snapshot_id=snapshot_id).to_arrow().to_pylist()


def test_embedded_student_ids_are_pseudonymised_and_erased(settings: Settings) -> None:
    student, assignment = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'Decision Log', 'student', '!')",
            (student, f"{student}@decisions.test"),
        )
    now = datetime.now(UTC)
    submission = decision(
        str(uuid.uuid4()),  # her teacher reads her submission
        now,
        {"type": "submission", "id": f"{assignment}/{student}", "owner_id": student},
    )
    consent = decision(student, now, {"type": "consent", "id": student, "owner_id": student})
    write_now(settings.database_url, [submission, consent])
    wait_decisions_final(settings, [submission.decision_id, consent.decision_id])
    assert ship_decisions(settings).committed

    key = pseudonymize(settings.pseudonym_key, student)
    shipped = {r["decision_id"]: r for r in _rows(settings)}
    assert shipped[submission.decision_id]["resource_id"] == f"{assignment}/{key}"
    assert shipped[consent.decision_id]["resource_id"] == key
    assert student not in json.dumps(list(shipped.values()), default=str)

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        request_id = requests.create(conn, "erasure", student, "operator")
    run_erasure(settings, request_id)

    table = load_catalog(settings).load_table(identifier(settings, POLICY_DECISIONS))
    snapshots = [s.snapshot_id for s in table.metadata.snapshots]
    assert snapshots
    for snapshot_id in snapshots:
        text = json.dumps(_rows(settings, snapshot_id), default=str)
        assert student not in text and key not in text, snapshot_id
    after = {r["decision_id"]: r for r in _rows(settings)}
    # The decisions are kept (the log is evidence), severed from her.
    assert after[submission.decision_id]["resource_id"].startswith(f"{assignment}/")
    assert after[consent.decision_id]["resource_id"] not in (None, key)
