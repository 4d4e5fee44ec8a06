"""Subject export: the archive holds every record the inventory ties to her, from PostgreSQL,
the lake, Redis and her uploaded file, and never a credential; the link is presigned and short."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import psycopg
import pytest

from core.settings import Settings
from governance.inventory import load as load_inventory
from lake.pseudonym import pseudonymize
from privacy import requests
from privacy.export import download_link, run_export
from privacy.postgres import column_types, personal_tables
from tests.integration.privacy.story import ESSAY, Student

pytestmark = pytest.mark.integration


def _request(settings: Settings, kind: str, user_id: str) -> str:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return requests.create(conn, kind, user_id, "operator")


def test_export_holds_every_record_the_inventory_names(
    settings: Settings, student: Student
) -> None:
    request_id = _request(settings, "export", student.user_id)
    result = run_export(settings, request_id)
    link = download_link(settings, request_id, seconds=60)
    assert "X-Amz-Expires=60" in link
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(link).content))
    records = json.loads(archive.read("records.json"))
    inventory = load_inventory()

    # PostgreSQL: each personal table's rows equal what a direct query by her id finds.
    pg = records["postgres"]
    assert pg["users.accounts"] == [
        {**pg["users.accounts"][0], "email": student.email, "display_name": student.display_name}
    ]
    assert "password_hash" not in pg["users.accounts"][0]  # credentials never leave
    with psycopg.connect(settings.database_url) as conn:
        types = column_types(conn)
        assert {a["attempt_id"] for a in pg["exams.attempts"]} == {student.attempt_id}
        (responses,) = conn.execute(
            "select count(*) from exams.responses where attempt_id = %s", (student.attempt_id,)
        ).fetchone() or (0,)
    assert len(pg["exams.responses"]) == responses == 2  # reached through the attempt
    for table in personal_tables(inventory):
        if table in types:
            assert table in pg, table
    assert any(rows for t, rows in pg.items() if t.endswith(".statements")), "xAPI statements"
    for table in ("classes.memberships", "learning.media",
                  "assignments.work", "assignments.submissions", "governance.decisions",
                  "events.outbox"):  # fmt: skip
        assert pg[table], f"{table}: her rows are missing from the export"
    assert pg["assignments.submissions"][0]["body"] == "My essay, by Jiwoo Privacy."

    # The lake: her rows in silver under her pseudonym, and in bronze by raw id.
    lake = records["lake"]
    key = pseudonymize(settings.pseudonym_key, student.user_id)
    for table in ("responses", "attempts", "learning_records", "class_events", "submissions",
                  "user_events", "policy_decisions"):  # fmt: skip
        assert lake[table], f"lake {table}: her rows are missing"
    assert all(key in json.dumps(row, default=str) for row in lake["responses"])
    assert len(lake["responses"]) == 2
    assert all(student.user_id in r["payload"] or r["aggregate_id"] == student.user_id
               for r in lake["outbox_events"])  # fmt: skip
    assert len(lake["outbox_events"]) >= len(pg["events.outbox"])

    # Her uploaded file, CSV per table, and the manifest's counts.
    (essay,) = [n for n in archive.namelist() if n.startswith("files/")]
    assert archive.read(essay) == ESSAY
    assert "csv/postgres/exams.responses.csv" in archive.namelist()
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["records"]["lake"]["responses"] == 2
    assert result.counts["s3"]["media"] == 1
    with psycopg.connect(settings.database_url) as conn:
        done = requests.load(conn, request_id)
    assert done is not None and done.status == "done" and done.archive_key == result.archive_key


def test_export_of_an_unknown_request_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no export request"):
        run_export(settings, "00000000-0000-0000-0000-000000000000")
