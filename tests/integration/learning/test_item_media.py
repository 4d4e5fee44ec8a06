"""Items' files go through the same media path as lessons' (presigned PUT, verified on finalise)
against the real S3 server: an item refers to its finalised uploads by id, bad references are
refused naming the entry, and a file reaches a student only once an exam has shown her the item."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.integration.apis.conftest import Account, make_account
from tests.integration.learning.helpers import make_class, ok
from tests.integration.learning.test_media import PDF, PNG, put

pytestmark = pytest.mark.integration

ITEM = {"stem": "Which figure is a square?", "options": ["A", "B"], "answer_key": 0}


def declare(item_id: str, body: bytes, content_type: str) -> dict[str, Any]:
    return {
        "holder_type": "item",
        "holder_id": item_id,
        "filename": "figure",
        "content_type": content_type,
        "size_bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


async def ticket_for(
    client: AsyncTestClient, who: Account, item_id: str, body: bytes, content_type: str
) -> dict[str, Any]:
    ticket = await ok(
        await client.post(
            "/api/v1/media/uploads", json=declare(item_id, body, content_type), headers=who.headers
        ),
        201,
    )
    assert await put(ticket, body) == 200
    return dict(ticket)


async def uploaded(
    client: AsyncTestClient, who: Account, item_id: str, body: bytes, content_type: str
) -> str:
    ticket = await ticket_for(client, who, item_id, body, content_type)
    url = f"/api/v1/media/{ticket['media_id']}/finalise"
    await ok(await client.post(url, headers=who.headers))
    return str(ticket["media_id"])


async def set_media(
    client: AsyncTestClient, who: Account, item_id: str, media: list[dict[str, Any]]
) -> Any:
    return await client.patch(
        f"/api/v1/items/{item_id}", json={"media": media}, headers=who.headers
    )


async def test_item_files_are_uploads_held_by_the_item(client: AsyncTestClient) -> None:
    teacher, other = await make_account(client, "teacher"), await make_account(client, "teacher")
    t = teacher.headers
    item = await ok(await client.post("/api/v1/items", json=ITEM, headers=t), 201)
    mine = await ok(await client.post("/api/v1/items", json=ITEM, headers=t), 201)
    item_id = item["item_id"]
    png = await uploaded(client, teacher, item_id, PNG, "image/png")
    changed = await ok(await set_media(client, teacher, item_id, [{"media_id": png, "alt": "sq"}]))
    assert changed["version"] == 2
    assert changed["media"] == [{"media_id": png, "uri": None, "kind": "image", "alt": "sq"}]
    versions = await ok(await client.get(f"/api/v1/items/{item_id}/versions", headers=t))
    assert versions[-1]["media"][0]["media_id"] == png

    pending = (await ticket_for(client, teacher, item_id, PDF, "application/pdf"))["media_id"]
    for media, message in (
        # a file held by another of her items, and one never finalised
        ([{"media_id": png}], "media[0].media_id: "),
        ([{"media_id": pending}], "is not finalised yet"),
        ([{"media_id": png, "uri": "https://example.org/a.png"}], "not both"),
        ([{"alt": "nothing"}], "media[0]: give either media_id"),
        ([{"uri": "javascript:alert(1)"}], "media[0].uri: must be an https:// URL"),
        ([{"uri": "http://example.org/a.png"}], "media[0].uri: must be an https:// URL"),
    ):
        target = mine["item_id"] if message == "media[0].media_id: " else item_id
        refused = await set_media(client, teacher, target, media)
        assert refused.status_code == 400 and message in refused.text, (media, refused.text)
    kind = await set_media(client, teacher, item_id, [{"media_id": png, "kind": "video"}])
    assert kind.status_code == 400 and "media[0].kind: the uploaded file is 'image'" in kind.text
    # A new item cannot refer to a file yet (uploads are held by an existing item).
    created = await client.post(
        "/api/v1/items", json={**ITEM, "media": [{"media_id": png}]}, headers=t
    )
    assert created.status_code == 400 and "not a file uploaded for this item" in created.text
    imported = await client.post(
        "/api/v1/items/import", json={"items": [{**ITEM, "media": [{"uri": "ftp://x"}]}]}, headers=t
    )
    assert imported.status_code == 400 and "item 1: media[0].uri" in imported.text
    # Nothing of the refused edits was stored; another teacher cannot attach files to her item.
    assert (await ok(await client.get(f"/api/v1/items/{item_id}", headers=t)))["version"] == 2
    foreign = await client.post(
        "/api/v1/media/uploads", json=declare(item_id, PNG, "image/png"), headers=other.headers
    )
    assert foreign.status_code == 403
    external = await ok(
        await set_media(client, teacher, item_id, [{"uri": "https://example.org/a.png"}])
    )
    assert external["media"] == [
        {"media_id": None, "uri": "https://example.org/a.png", "kind": "image", "alt": ""}
    ]


async def test_a_student_gets_an_item_file_only_after_an_exam_showed_her_the_item(
    client: AsyncTestClient,
) -> None:
    teacher = await make_account(client, "teacher")
    taker, classmate, outsider = [await make_account(client, "student") for _ in range(3)]
    class_id = await make_class(client, teacher, taker, classmate)
    await make_class(client, await make_account(client, "teacher"), outsider)
    t = teacher.headers
    item_id = (await ok(await client.post("/api/v1/items", json=ITEM, headers=t), 201))["item_id"]
    png = await uploaded(client, teacher, item_id, PNG, "image/png")
    await ok(await set_media(client, teacher, item_id, [{"media_id": png, "alt": "figure"}]))
    exam = await ok(
        await client.post(
            "/api/v1/exams/",
            json={"title": "Shapes", "item_ids": [item_id], "class_id": class_id},
            headers=t,
        ),
        201,
    )
    link = f"/api/v1/media/{png}"
    assert (await client.get(link, headers=taker.headers)).status_code == 403  # not shown yet
    started = await ok(
        await client.post(f"/api/v1/exams/{exam['exam_id']}/attempts", headers=taker.headers), 201
    )
    shown = started["items"][0]["media"]
    assert [m["media_id"] for m in shown] == [png]
    download = await ok(await client.get(link, headers=taker.headers))
    async with httpx.AsyncClient() as http:
        fetched = await http.get(download["url"])
    assert fetched.status_code == 200 and fetched.content == PNG
    assert (await ok(await client.get(link, headers=t)))["media_id"] == png  # the item's owner
    for student in (classmate, outsider):  # no attempt showed them the item
        denied = await client.get(link, headers=student.headers)
        assert denied.status_code == 403 and "url" not in denied.json()
