"""The promoted calibration is what the exam service uses: an adaptive exam built over the API on
a seeded bank, then a lake calibration promoted, then a student starts an attempt -- the attempt's
`param_ids` (the parameters its CAT runs on) are the calibration's rows."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import dagster as dg
import numpy as np
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from orchestration.calibration.assets import item_parameters, live_item_parameters
from orchestration.calibration.checks import calibration_checks
from orchestration.calibration.engine import CalibrationConfig
from orchestration.calibration.resources import CalibrationResource
from tests.integration.calibration.test_calibration_loop import T0, _ingest, _write_responses

pytestmark = pytest.mark.integration

N_ITEMS = 20
N_STUDENTS = 1_500


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(
        replace(settings, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000),
        relay=False,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def _user(api: AsyncTestClient[Any], role: str) -> tuple[str, dict[str, str]]:
    email = f"{role}-{secrets.token_hex(5)}@calibration.test"
    password = "pw-" + secrets.token_hex(8)
    reply = await api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    assert reply.status_code == 201, reply.text
    login = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return reply.json()["user_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_new_attempts_run_on_the_promoted_calibration(
    client: AsyncTestClient[Any], settings: Settings
) -> None:
    rng = np.random.default_rng(7)
    a = rng.uniform(0.8, 2.0, N_ITEMS)
    b = np.clip(rng.normal(0.0, 1.0, N_ITEMS), -2.0, 2.0)
    _, teacher = await _user(client, "teacher")
    _, student = await _user(client, "student")
    klass = await client.post("/api/v1/classes/", json={"name": "Calibrated"}, headers=teacher)
    assert klass.status_code == 201, klass.text
    joined = await client.post(
        "/api/v1/classes/join", json={"join_code": klass.json()["join_code"]}, headers=student
    )
    assert joined.status_code == 200, joined.text
    # the bank starts with hand-entered ("seed") parameters: roughly right, rounded
    rows = [
        {
            "stem": f"Item {j}",
            "options": ["A", "B", "C", "D"],
            "answer_key": 0,
            "skills": ["algebra"],
            "parameters": {
                "model": "2pl",
                "a": round(float(a[j]), 1),
                "b": round(float(b[j]), 1),
                "calibration_id": "seed",
            },
        }
        for j in range(N_ITEMS)
    ]
    imported = await client.post("/api/v1/items/import", json={"items": rows}, headers=teacher)
    assert imported.status_code == 201, imported.text
    item_ids: list[str] = imported.json()["item_ids"]
    exam = await client.post(
        "/api/v1/exams/",
        json={
            "title": "Adaptive, recalibrated",
            "kind": "adaptive",
            "item_ids": item_ids,
            "class_id": klass.json()["class_id"],
            "adaptive": {"stopping": {"min_items": 3, "max_items": 5}},
        },
        headers=teacher,
    )
    assert exam.status_code == 201, exam.text

    # response history from 1,500 earlier examinees, through the outbox into the lake
    theta = rng.normal(size=N_STUDENTS)
    correct = rng.random((N_STUDENTS, N_ITEMS)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    written = _write_responses(
        settings, exam.json()["exam_id"], item_ids, np.ones_like(correct), correct, T0
    )
    _ingest(settings, written)
    config = CalibrationConfig(min_item_responses=200, max_icc_rmsd=0.1)
    result = dg.materialize(
        [item_parameters, live_item_parameters, *calibration_checks],
        resources={"calibration": CalibrationResource(settings, config)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    calibration_id = next(
        str(e.materialization.metadata["calibration_id"].value)
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("item_parameters")
    )
    with psycopg.connect(settings.database_url) as conn:
        promoted = dict(
            conn.execute(
                "select item_id::text, param_id::text from content.item_parameters"
                " where calibration_id = %s and is_live",
                (calibration_id,),
            ).fetchall()
        )
    assert set(promoted) == set(item_ids)

    # the content service reports the calibration as the live version ...
    versions = await client.get(f"/api/v1/items/{item_ids[0]}/parameters", headers=teacher)
    assert versions.status_code == 200, versions.text
    live = [v for v in versions.json() if v["is_live"]]
    assert [v["calibration_id"] for v in live] == [calibration_id]
    assert {v["calibration_id"] for v in versions.json()} == {"seed", calibration_id}

    # ... and the exam service runs a new attempt on exactly those rows
    started = await client.post(f"/api/v1/exams/{exam.json()['exam_id']}/attempts", headers=student)
    assert started.status_code in (200, 201), started.text
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select param_ids::text[] from exams.attempts where attempt_id = %s",
            (started.json()["attempt_id"],),
        ).fetchone()
    assert row is not None
    assert row[0] == [promoted[i] for i in item_ids]
