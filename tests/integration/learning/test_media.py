"""Media through presigned URLs against the real S3 server: a lesson's files reach exactly the
readers of the lesson, and every bad upload is refused and leaves nothing behind (no row, no
object), including ones the sweep has to clean up."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.media import MediaStore, MiB, sweep_orphans
from core.settings import Settings
from orchestration.learning.jobs import MediaResource, media_orphan_sweep
from tests.integration.apis.conftest import Account, make_account
from tests.integration.learning.helpers import make_class, ok, outbox_types

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def declare(holder_id: str, body: bytes, content_type: str, **changes: Any) -> dict[str, Any]:
    return {
        "holder_type": "lesson",
        "holder_id": holder_id,
        "filename": "file",
        "content_type": content_type,
        "size_bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        **changes,
    }


async def put(ticket: dict[str, Any], body: bytes, content_type: str | None = None) -> int:
    headers = dict(ticket["headers"])
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with httpx.AsyncClient() as http:
        reply = await http.put(ticket["upload_url"], content=body, headers=headers)
    return reply.status_code


def row_exists(settings: Settings, media_id: str) -> bool:
    with psycopg.connect(settings.database_url) as conn:
        found = conn.execute("select 1 from learning.media where media_id = %s", (media_id,))
        return found.fetchone() is not None


def left_nothing(settings: Settings, media_id: str) -> bool:
    store = MediaStore(settings)
    return not row_exists(settings, media_id) and not store.exists(store.key(media_id))


async def lesson_of(client: AsyncTestClient, teacher: Account) -> tuple[str, str]:
    t = teacher.headers
    course = await ok(await client.post("/api/v1/courses", json={"title": "C"}, headers=t), 201)
    unit = await ok(
        await client.post(
            f"/api/v1/courses/{course['course_id']}/units", json={"title": "U"}, headers=t
        ),
        201,
    )
    lesson = await ok(
        await client.post(
            f"/api/v1/units/{unit['unit_id']}/lessons", json={"title": "L"}, headers=t
        ),
        201,
    )
    return course["course_id"], lesson["lesson_id"]


async def upload(
    client: AsyncTestClient, who: Account, lesson_id: str, body: bytes, content_type: str
) -> dict[str, Any]:
    ticket = await ok(
        await client.post(
            "/api/v1/media/uploads",
            json=declare(lesson_id, body, content_type),
            headers=who.headers,
        ),
        201,
    )
    assert await put(ticket, body) == 200
    done = await ok(
        await client.post(f"/api/v1/media/{ticket['media_id']}/finalise", headers=who.headers)
    )
    assert done["status"] == "ready" and done["sha256"] == hashlib.sha256(body).hexdigest()
    return done


async def test_lesson_files_reach_the_lessons_readers_only(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    student, outsider = await make_account(client, "student"), await make_account(client, "student")
    class_id = await make_class(client, teacher, student)
    await make_class(client, await make_account(client, "teacher"), outsider)
    course_id, lesson_id = await lesson_of(client, teacher)
    t = teacher.headers
    await ok(
        await client.post(
            f"/api/v1/courses/{course_id}/classes", json={"class_id": class_id}, headers=t
        )
    )
    pdf = await upload(client, teacher, lesson_id, PDF, "application/pdf")
    png = await upload(client, teacher, lesson_id, PNG, "image/png")
    # A student may not attach files to a lesson.
    refused = await client.post(
        "/api/v1/media/uploads", json=declare(lesson_id, PNG, "image/png"), headers=student.headers
    )
    assert refused.status_code == 403

    ids = [pdf["media_id"], png["media_id"]]
    await ok(
        await client.patch(f"/api/v1/lessons/{lesson_id}", json={"attachments": ids}, headers=t)
    )
    # Unpublished: the student gets no URL yet.
    assert (await client.get(f"/api/v1/media/{ids[0]}", headers=student.headers)).status_code == 404
    await ok(await client.post(f"/api/v1/lessons/{lesson_id}/publish", headers=t))
    lesson = await ok(await client.get(f"/api/v1/lessons/{lesson_id}", headers=student.headers))
    assert [a["media_id"] for a in lesson["attachments"]] == ids
    async with httpx.AsyncClient() as http:
        for media_id, body in zip(ids, (PDF, PNG), strict=True):
            link = await ok(await client.get(f"/api/v1/media/{media_id}", headers=student.headers))
            fetched = await http.get(link["url"])
            assert fetched.status_code == 200 and fetched.content == body
    denied = await client.get(f"/api/v1/media/{ids[0]}", headers=outsider.headers)
    assert denied.status_code == 403 and "url" not in denied.json() and "http" not in denied.text
    assert outbox_types(settings, ids[0]) == [
        "learning.media.issued.v1",
        "learning.media.finalised.v1",
    ]


async def test_bad_uploads_are_refused_and_leave_nothing_behind(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    _, lesson_id = await lesson_of(client, teacher)
    t = teacher.headers

    async def ticket(**changes: Any) -> Any:
        return await client.post(
            "/api/v1/media/uploads",
            json={**declare(lesson_id, PDF, "application/pdf"), **changes},
            headers=t,
        )

    # Refused before any URL is issued: nothing is written.
    wrong_type = await ticket(content_type="text/html")
    assert wrong_type.status_code == 400 and "content_type" in wrong_type.json()["error"]["message"]
    too_big = await ticket(content_type="image/png", size_bytes=10 * MiB + 1)
    assert too_big.status_code == 400 and "size_bytes" in too_big.json()["error"]["message"]
    bad_sum = await ticket(sha256="xyz")
    assert bad_sum.status_code == 400 and "sha256" in bad_sum.json()["error"]["message"]
    with psycopg.connect(settings.database_url) as conn:
        pending = conn.execute(
            "select count(*) from learning.media where holder_id = %s", (lesson_id,)
        ).fetchone()
    assert pending == (0,)

    async def refused_at_finalise(body: bytes, status: int, field: str, **changes: Any) -> None:
        issued = await ok(await ticket(**changes), 201)
        assert await put(issued, body, changes.get("stored_type")) == 200
        reply = await client.post(f"/api/v1/media/{issued['media_id']}/finalise", headers=t)
        assert reply.status_code == status, reply.text
        assert field in reply.json()["error"]["message"]
        assert left_nothing(settings, issued["media_id"])
        assert outbox_types(settings, issued["media_id"])[-1] == "learning.media.rejected.v1"

    await refused_at_finalise(PDF + b"more", 400, "size")  # declared size does not match
    await refused_at_finalise(PDF, 400, "sha256", sha256=hashlib.sha256(b"other").hexdigest())
    wrong_bytes = PNG[: len(PDF)]  # same size, declared a PDF, bytes of a PNG
    await refused_at_finalise(
        wrong_bytes, 400, "content_type", sha256=hashlib.sha256(wrong_bytes).hexdigest()
    )
    issued = await ok(await ticket(), 201)  # stored with another Content-Type than declared
    assert await put(issued, PDF, "image/png") == 200
    reply = await client.post(f"/api/v1/media/{issued['media_id']}/finalise", headers=t)
    assert reply.status_code == 400 and "content_type" in reply.json()["error"]["message"]
    assert left_nothing(settings, issued["media_id"])

    # Finalise without an upload: 409, and the upload slot is gone.
    issued = await ok(await ticket(), 201)
    reply = await client.post(f"/api/v1/media/{issued['media_id']}/finalise", headers=t)
    assert reply.status_code == 409 and left_nothing(settings, issued["media_id"])
    # ...a PUT through the old URL afterwards is a stray object that the sweep removes.
    assert await put(issued, PDF) == 200
    store = MediaStore(settings)
    assert store.exists(store.key(issued["media_id"]))
    later = datetime.now(UTC) + timedelta(hours=2)
    swept = sweep_orphans(settings, store, now=later)
    assert swept.objects >= 1 and left_nothing(settings, issued["media_id"])


async def test_an_expired_upload_url_is_refused(settings: Settings) -> None:
    quick = replace(
        settings, media_upload_seconds=1, rate_limit_per_user=100_000, rate_limit_per_ip=100_000
    )
    async with AsyncTestClient(create_app(quick, relay=False)) as client:
        teacher = await make_account(client, "teacher")
        _, lesson_id = await lesson_of(client, teacher)
        issued = await ok(
            await client.post(
                "/api/v1/media/uploads",
                json=declare(lesson_id, PDF, "application/pdf"),
                headers=teacher.headers,
            ),
            201,
        )
        await asyncio.sleep(2.5)
        assert await put(issued, PDF) == 403  # S3 refuses the expired signature
        reply = await client.post(
            f"/api/v1/media/{issued['media_id']}/finalise", headers=teacher.headers
        )
        assert reply.status_code == 409
        assert left_nothing(settings, issued["media_id"])


async def test_the_sweep_job_removes_uploads_never_finalised(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    _, lesson_id = await lesson_of(client, teacher)
    issued = await ok(
        await client.post(
            "/api/v1/media/uploads",
            json=declare(lesson_id, PDF, "application/pdf"),
            headers=teacher.headers,
        ),
        201,
    )
    assert await put(issued, PDF) == 200
    kept = await upload(client, teacher, lesson_id, PNG, "image/png")
    # Not yet expired: the job leaves it alone.
    assert media_orphan_sweep.execute_in_process(
        resources={"media": MediaResource(settings)}
    ).success
    assert row_exists(settings, issued["media_id"])
    # Past the URL and the grace period: swept, with its outbox event; finalised files stay.
    past = replace(settings, media_sweep_grace_seconds=-3600)
    assert media_orphan_sweep.execute_in_process(resources={"media": MediaResource(past)}).success
    assert left_nothing(settings, issued["media_id"])
    assert outbox_types(settings, issued["media_id"])[-1] == "learning.media.purged.v1"
    store = MediaStore(settings)
    assert row_exists(settings, kept["media_id"]) and store.exists(store.key(kept["media_id"]))
