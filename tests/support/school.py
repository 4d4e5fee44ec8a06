"""A school built through the real HTTP API, for end-to-end and integration stories.

Synchronous httpx helpers shared by the scenario tests (courses, tutor, privacy, demo content):
sign-ups with random addresses, a class a student joined, and a small fixed-form quiz.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, NamedTuple

import httpx


class Account(NamedTuple):
    user_id: str
    email: str
    headers: dict[str, str]  # Authorization: Bearer <access token>


def ok(reply: httpx.Response, status: int = 200) -> Any:
    """The reply's JSON, after checking its status (the failure names the request and body)."""
    assert reply.status_code == status, f"{reply.request.method} {reply.request.url}: {reply.text}"
    return reply.json()


def account(api: httpx.Client, role: str, name: str | None = None) -> Account:
    """Register a user with a fresh random address and sign her in."""
    email, password = f"{role}-{secrets.token_hex(4)}@school.test", "p-" + secrets.token_hex(8)
    body = {"email": email, "password": password, "display_name": name or role, "role": role}
    user = ok(api.post("/api/v1/auth/register", json=body), 201)
    token = ok(api.post("/api/v1/auth/login", json={"email": email, "password": password}))
    return Account(user["user_id"], email, {"Authorization": f"Bearer {token['access_token']}"})


def class_with(
    api: httpx.Client, teacher: dict[str, str], *students: dict[str, str], name: str = "demo"
) -> dict[str, Any]:
    """A class of the teacher that every given student joined with its join code."""
    klass: dict[str, Any] = ok(
        api.post("/api/v1/classes", json={"name": name}, headers=teacher), 201
    )
    for student in students:
        ok(
            api.post(
                "/api/v1/classes/join", json={"join_code": klass["join_code"]}, headers=student
            )
        )
    return klass


def items(
    api: httpx.Client, teacher: dict[str, str], keys: tuple[int, ...] = (1, 2), *, options: int = 3
) -> list[str]:
    """Multiple-choice items "n/2 of 4?" with answer key n, one per key; their ids."""
    choices = [str(n) for n in range(1, options + 1)]
    return [
        ok(
            api.post(
                "/api/v1/items",
                json={"stem": f"{n}/2 of 4?", "options": choices, "answer_key": n},
                headers=teacher,
            ),
            201,
        )["item_id"]
        for n in keys
    ]


def quiz(
    api: httpx.Client,
    teacher: dict[str, str],
    class_id: str,
    item_ids: list[str],
    title: str = "Quiz",
) -> dict[str, Any]:
    """A fixed-form exam of the class over the given items."""
    body = {"title": title, "item_ids": item_ids, "class_id": class_id}
    exam: dict[str, Any] = ok(api.post("/api/v1/exams", json=body, headers=teacher), 201)
    return exam


def upload(
    api: httpx.Client,
    who: dict[str, str],
    holder: tuple[str, str],
    body: bytes,
    content_type: str = "application/pdf",
) -> str:
    """A file through the media path (ticket, presigned PUT to S3, finalise); its media id."""
    ticket = ok(
        api.post(
            "/api/v1/media/uploads",
            json={
                "holder_type": holder[0],
                "holder_id": holder[1],
                "filename": f"file.{content_type.split('/')[-1]}",
                "content_type": content_type,
                "size_bytes": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
            },
            headers=who,
        ),
        201,
    )
    stored = httpx.put(ticket["upload_url"], content=body, headers=ticket["headers"])
    assert stored.status_code == 200, stored.text
    ok(api.post(f"/api/v1/media/{ticket['media_id']}/finalise", headers=who))
    return str(ticket["media_id"])
