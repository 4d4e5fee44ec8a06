"""The privacy service over HTTP (/api/v1/privacy, administrators only): an admin requests an
export, follows its progress, and fetches a short-lived download link once the worker the
Dagster job uses (`PrivacyResource.run`) has built the archive; an erasure request runs to its
end the same way. Students and teachers are refused; bad input is a 4xx naming the field; every
request and download is a decision in the log, whose resource is the request, not the person."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import replace

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from orchestration.privacy.jobs import PrivacyResource
from tests.integration.governance_matrix.accounts import make_role

pytestmark = pytest.mark.integration


def _app(settings: Settings) -> AsyncTestClient:
    unthrottled = replace(settings, rate_limit_per_ip=1_000_000, rate_limit_per_user=1_000_000)
    return AsyncTestClient(create_app(unthrottled))


async def test_admin_exports_and_erases_through_the_api(settings: Settings) -> None:
    async with _app(settings) as client:
        admin = await make_role(client, settings, "admin")
        student = await make_role(client, settings, "student")
        teacher = await make_role(client, settings, "teacher")
        leaving = await make_role(client, settings, "student")
        body = {"user_id": student.user_id}

        for who in (student, teacher):  # administrators only
            for path in ("/api/v1/privacy/exports", "/api/v1/privacy/erasures"):
                refused = await client.post(path, json=body, headers=who.headers)
                assert refused.status_code == 403, refused.text
        assert (await client.post("/api/v1/privacy/exports", json=body)).status_code == 401

        missing = await client.post(
            "/api/v1/privacy/exports", json={"user_id": str(uuid.uuid4())}, headers=admin.headers
        )
        assert missing.status_code == 404 and "user_id" in missing.text
        bad = await client.post(
            "/api/v1/privacy/exports", json={"user_id": "me"}, headers=admin.headers
        )
        assert bad.status_code == 400 and "user_id" in bad.text

        reply = await client.post("/api/v1/privacy/exports", json=body, headers=admin.headers)
        assert reply.status_code == 202, reply.text
        export = reply.json()
        assert export["kind"] == "export" and export["status"] == "requested"
        assert export["user_id"] == student.user_id and export["requested_by"] == admin.user_id
        assert not export["download_ready"]
        again = await client.post("/api/v1/privacy/exports", json=body, headers=admin.headers)
        assert again.json()["request_id"] == export["request_id"]  # the open one, not a second

        request_path = f"/api/v1/privacy/requests/{export['request_id']}"
        download_path = f"/api/v1/privacy/exports/{export['request_id']}/download"
        early = await client.get(download_path, headers=admin.headers)
        assert early.status_code == 409 and "not ready" in early.text

        # The worker the Dagster job privacy_requests runs for each open request.
        assert PrivacyResource(settings).run(export["request_id"]) == "export"

        done = (await client.get(request_path, headers=admin.headers)).json()
        assert done["status"] == "done" and done["download_ready"] and done["finished_at"]
        assert done["summary"]["records"]["postgres"]["users.accounts"] == 1
        link = await client.get(f"{download_path}?seconds=60", headers=admin.headers)
        assert link.status_code == 200, link.text
        assert "X-Amz-Expires=60" in link.json()["url"]
        async with httpx.AsyncClient() as s3:
            fetched = await s3.get(link.json()["url"])
        archive = zipfile.ZipFile(io.BytesIO(fetched.content))
        records = json.loads(archive.read("records.json"))
        assert records["postgres"]["users.accounts"][0]["email"] == student.email
        assert (await client.get(download_path, headers=student.headers)).status_code == 403
        listed = await client.get("/api/v1/privacy/requests?kind=export", headers=admin.headers)
        assert export["request_id"] in {r["request_id"] for r in listed.json()}

        erasure = await client.post(
            "/api/v1/privacy/erasures", json={"user_id": leaving.user_id}, headers=admin.headers
        )
        assert erasure.status_code == 202, erasure.text
        erasure_id = erasure.json()["request_id"]
        not_export = await client.get(
            f"/api/v1/privacy/exports/{erasure_id}/download", headers=admin.headers
        )
        assert not_export.status_code == 404
        assert PrivacyResource(settings).run(erasure_id) == "erasure"
        erased = (
            await client.get(f"/api/v1/privacy/requests/{erasure_id}", headers=admin.headers)
        ).json()
        assert erased["status"] == "done" and erased["user_id"] is None  # nothing maps back
        assert erased["steps_done"][0] == "subject" and erased["steps_done"][-1] == "finish"
        gone = await client.post(
            "/api/v1/privacy/exports", json={"user_id": leaving.user_id}, headers=admin.headers
        )
        assert gone.status_code == 404  # her account is gone
    # The app has stopped: its decision log is flushed. Each request and the download are there,
    # under the request's id (the person's id is not the resource).
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select action, allowed, resource->>'id' from governance.decisions"
            " where subject_id = %s and resource->>'type' = 'privacy_request'",
            (admin.user_id,),
        ).fetchall()
    logged = {(action, allowed, rid) for action, allowed, rid in rows}
    assert ("privacy.export.create", True, export["request_id"]) in logged
    assert ("privacy.export.download", True, export["request_id"]) in logged
    assert ("privacy.erasure.create", True, erasure_id) in logged
    assert all(student.user_id != rid and leaving.user_id != rid for _, _, rid in logged)
