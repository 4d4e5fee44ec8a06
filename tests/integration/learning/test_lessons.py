"""Courses, units and lessons over HTTP: versions, publishing, what a class sees, sanitised HTML,
and an outbox event for every write."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.integration.apis.conftest import make_account
from tests.integration.learning.helpers import make_class, ok, outbox_types

pytestmark = pytest.mark.integration

HOSTILE = (
    "# Fractions\n\n*Halves* and <script>alert(1)</script> thirds.\n\n"
    '[click](javascript:alert(2)) <img src=x onerror="alert(3)"> [ok](https://example.org)\n'
)


async def test_a_class_studies_the_published_version_of_its_courses(
    client: AsyncTestClient, settings: Settings
) -> None:
    teacher = await make_account(client, "teacher")
    student, outsider = await make_account(client, "student"), await make_account(client, "student")
    class_id = await make_class(client, teacher, student)
    await make_class(client, await make_account(client, "teacher"), outsider)
    t, s, o = teacher.headers, student.headers, outsider.headers

    course = await ok(
        await client.post("/api/v1/courses", json={"title": "Maths 5"}, headers=t), 201
    )
    cid = course["course_id"]
    unit = await ok(
        await client.post(f"/api/v1/courses/{cid}/units", json={"title": "Fractions"}, headers=t),
        201,
    )
    lesson = await ok(
        await client.post(
            f"/api/v1/units/{unit['unit_id']}/lessons",
            json={"title": "Halves", "body": HOSTILE},
            headers=t,
        ),
        201,
    )
    lid = lesson["lesson_id"]
    assert lesson["version"] == 1 and lesson["published_version"] is None
    html = lesson["html"]
    assert "<h1>Fractions</h1>" in html and "<em>Halves</em>" in html
    # Raw HTML is shown as text, never as tags; the javascript: link is not a link.
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert 'href="https://example.org"' in html

    # Not assigned yet: the student has nothing to study and cannot open the course.
    assert await ok(await client.get("/api/v1/courses", headers=s)) == []
    assert (await client.get(f"/api/v1/courses/{cid}", headers=s)).status_code == 403
    assert (
        await ok(
            await client.post(
                f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=t
            )
        )
    ) == [class_id]
    assert [c["course_id"] for c in await ok(await client.get("/api/v1/courses", headers=s))] == [
        cid
    ]
    outline = await ok(await client.get(f"/api/v1/courses/{cid}", headers=s))
    assert outline["units"][0]["lessons"] == [] and outline["class_ids"] == []
    assert (await client.get(f"/api/v1/lessons/{lid}", headers=s)).status_code == 404

    await ok(await client.post(f"/api/v1/lessons/{lid}/publish", headers=t))
    seen = await ok(await client.get(f"/api/v1/lessons/{lid}", headers=s))
    assert seen["version"] == 1 and seen["title"] == "Halves"
    # Another class's student is refused by the policy, before anything is shown.
    assert (await client.get(f"/api/v1/lessons/{lid}", headers=o)).status_code == 403
    assert (await client.get(f"/api/v1/courses/{cid}", headers=o)).status_code == 403

    # The teacher edits: version 2; students keep version 1 until it is published.
    edited = await ok(
        await client.patch(
            f"/api/v1/lessons/{lid}",
            json={"title": "Halves and quarters", "expected_version": 1},
            headers=t,
        )
    )
    assert edited["version"] == 2 and edited["published_version"] == 1
    stale = await client.patch(
        f"/api/v1/lessons/{lid}", json={"body": "x", "expected_version": 1}, headers=t
    )
    assert stale.status_code == 409
    assert (await ok(await client.get(f"/api/v1/lessons/{lid}", headers=s)))["title"] == "Halves"
    await ok(await client.post(f"/api/v1/lessons/{lid}/publish", json={"version": 2}, headers=t))
    assert (await ok(await client.get(f"/api/v1/lessons/{lid}", headers=s)))["version"] == 2
    versions = await ok(await client.get(f"/api/v1/lessons/{lid}/versions", headers=t))
    assert [v["version"] for v in versions] == [1, 2]
    assert (await client.get(f"/api/v1/lessons/{lid}/versions", headers=s)).status_code == 403
    # Students may not write.
    assert (
        await client.patch(f"/api/v1/lessons/{lid}", json={"title": "mine"}, headers=s)
    ).status_code == 403

    await ok(await client.post(f"/api/v1/lessons/{lid}/unpublish", headers=t))
    assert (await client.get(f"/api/v1/lessons/{lid}", headers=s)).status_code == 404
    await ok(await client.patch(f"/api/v1/courses/{cid}", json={"archived": True}, headers=t))
    assert await ok(await client.get("/api/v1/courses", headers=s)) == []
    assert (await client.get(f"/api/v1/courses/{cid}", headers=s)).status_code == 404
    withdrawn = await client.delete(f"/api/v1/courses/{cid}/classes/{class_id}", headers=t)
    assert await ok(withdrawn) == []

    assert outbox_types(settings, cid) == [
        "learning.course.created.v1",
        "learning.course.assigned.v1",
        "learning.course.updated.v1",
        "learning.course.assigned.v1",
    ]
    assert outbox_types(settings, lid) == [
        "learning.lesson.created.v1",
        "learning.lesson.published.v1",
        "learning.lesson.updated.v1",
        "learning.lesson.published.v1",
        "learning.lesson.unpublished.v1",
    ]


async def test_bad_input_is_a_400_naming_the_field(client: AsyncTestClient) -> None:
    teacher = await make_account(client, "teacher")
    other = await make_account(client, "teacher")
    t = teacher.headers
    course = await ok(await client.post("/api/v1/courses", json={"title": "C"}, headers=t), 201)
    cid = course["course_id"]
    empty = await client.post("/api/v1/courses", json={"title": ""}, headers=t)
    assert empty.status_code == 400 and "title" in empty.json()["error"]["message"]
    bad = await client.post(f"/api/v1/courses/{cid}/classes", json={"class_id": "x"}, headers=t)
    assert bad.status_code == 400 and "class_id" in bad.json()["error"]["message"]
    # A class of another teacher cannot receive the course.
    foreign = await make_class(client, other)
    refused = await client.post(
        f"/api/v1/courses/{cid}/classes", json={"class_id": foreign}, headers=t
    )
    assert refused.status_code == 403 and "class_id" in refused.json()["error"]["message"]
    unit = await ok(
        await client.post(f"/api/v1/courses/{cid}/units", json={"title": "U"}, headers=t), 201
    )
    lesson = await ok(
        await client.post(
            f"/api/v1/units/{unit['unit_id']}/lessons", json={"title": "L"}, headers=t
        ),
        201,
    )
    lid = lesson["lesson_id"]
    for body in ({"attachments": ["nope"]}, {"attachments": [cid]}):
        reply = await client.patch(f"/api/v1/lessons/{lid}", json=body, headers=t)
        assert reply.status_code == 400 and "attachments" in reply.json()["error"]["message"]
    too_far = await client.post(f"/api/v1/lessons/{lid}/publish", json={"version": 9}, headers=t)
    assert too_far.status_code == 404 and "version" in too_far.json()["error"]["message"]
    # Another teacher's course is out of reach.
    assert (
        await client.patch(f"/api/v1/courses/{cid}", json={"title": "x"}, headers=other.headers)
    ).status_code == 403
