"""A class with a published course (English and Korean lessons), an exam, and SSE parsing."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient

from tests.integration.apis.conftest import Account, make_account
from tests.integration.learning.helpers import make_class, ok

LOOPS_LESSON = """Loops repeat a block of code.

## The for loop

A `for` loop runs its body once for each element of a sequence: `for fruit in basket:` visits
every fruit. Use `range(5)` to repeat something five times.

## The while loop

A `while` loop repeats as long as its condition is true. Make sure the condition becomes false,
or the loop never ends (an infinite loop).
"""
VARIABLES_LESSON_KO = """변수는 값을 저장하는 이름입니다.

## 변수 만들기

`x = 3` 처럼 등호로 변수에 값을 넣습니다. 변수 이름은 숫자로 시작할 수 없습니다.

## 자료형

정수, 실수, 문자열은 서로 다른 자료형입니다. type() 함수로 자료형을 확인합니다.
"""
ITEM_STEM = "Which keyword starts a loop that repeats while a condition holds true?"
ITEM_OPTIONS = ["repeat-until-done", "while", "forever-and-ever"]


@dataclass
class World:
    teacher: Account
    student: Account
    classmate: Account
    outsider_teacher: Account
    class_id: str
    course_id: str
    lessons: dict[str, str]  # title -> lesson_id
    exam_id: str
    item_ids: list[str]


async def publish_lesson(
    client: AsyncTestClient, teacher: Account, unit_id: str, title: str, body: str
) -> str:
    lesson = await ok(
        await client.post(
            f"/api/v1/units/{unit_id}/lessons",
            json={"title": title, "body": body},
            headers=teacher.headers,
        ),
        201,
    )
    await ok(
        await client.post(f"/api/v1/lessons/{lesson['lesson_id']}/publish", headers=teacher.headers)
    )
    return str(lesson["lesson_id"])


async def named_account(client: AsyncTestClient, role: str, name: str) -> Account:
    """An account with a display name of its own (names are what the scrubber replaces)."""
    email = f"{name.split()[0].lower()}-{secrets.token_hex(4)}@school.test"
    password = "correct horse " + secrets.token_hex(4)
    reply = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": name, "role": role},
    )
    assert reply.status_code == 201, reply.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return Account(reply.json()["user_id"], email, password, login.json()["access_token"])


async def build_world(client: AsyncTestClient, mode: str | None = None) -> World:
    teacher = await named_account(client, "teacher", "Park Jiwoo")
    student = await named_account(client, "student", "Minji Kim")
    classmate = await named_account(client, "student", "Seoyeon Lee")
    outsider = await make_account(client, "teacher")
    class_id = await make_class(client, teacher, student, classmate)
    t = teacher.headers
    course = await ok(
        await client.post("/api/v1/courses", json={"title": "Python"}, headers=t), 201
    )
    cid = course["course_id"]
    unit = await ok(
        await client.post(f"/api/v1/courses/{cid}/units", json={"title": "Basics"}, headers=t), 201
    )
    lessons = {
        "Loops": await publish_lesson(client, teacher, unit["unit_id"], "Loops", LOOPS_LESSON),
        "변수": await publish_lesson(client, teacher, unit["unit_id"], "변수", VARIABLES_LESSON_KO),
    }
    await ok(
        await client.post(f"/api/v1/courses/{cid}/classes", json={"class_id": class_id}, headers=t)
    )
    items = []
    for stem, options, key in (
        (ITEM_STEM, ITEM_OPTIONS, 1),
        ("What does range(3) produce when iterated completely?", ["0 1 2", "1 2 3", "3"], 0),
    ):
        item = await ok(
            await client.post(
                "/api/v1/items",
                json={"stem": stem, "options": options, "answer_key": key},
                headers=t,
            ),
            201,
        )
        items.append(str(item["item_id"]))
    exam = await ok(
        await client.post(
            "/api/v1/exams",
            json={"title": "Loops quiz", "item_ids": items, "class_id": class_id},
            headers=t,
        ),
        201,
    )
    if mode is not None:
        await ok(
            await client.put(f"/api/v1/tutor/classes/{class_id}", json={"mode": mode}, headers=t)
        )
    return World(
        teacher, student, classmate, outsider, class_id, cid, lessons, exam["exam_id"], items
    )


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, decoded JSON data) pairs of a Server-Sent Events body."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


@dataclass
class Answer:
    text: str
    citations: list[dict[str, Any]]
    done: dict[str, Any]
    tokens: int


async def ask(client: AsyncTestClient, who: Account, conversation_id: str, text: str) -> Answer:
    reply = await client.post(
        f"/api/v1/tutor/conversations/{conversation_id}/messages",
        json={"text": text},
        headers=who.headers,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(reply.text)
    assert events[0][0] == "citations" and events[-1][0] == "done", events
    pieces = [data["text"] for name, data in events if name == "token"]
    return Answer("".join(pieces), events[0][1], events[-1][1], len(pieces))


async def open_conversation(client: AsyncTestClient, who: Account, **body: Any) -> str:
    conv = await ok(
        await client.post("/api/v1/tutor/conversations", json=body, headers=who.headers), 201
    )
    return str(conv["conversation_id"])


async def take_exam(
    client: AsyncTestClient, who: Account, world: World, choices: list[int], *, finish: bool
) -> str:
    attempt = await ok(
        await client.post(f"/api/v1/exams/{world.exam_id}/attempts", headers=who.headers), 201
    )
    for item_id, choice in zip(world.item_ids, choices, strict=False):
        await ok(
            await client.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/responses",
                json={"item_id": item_id, "choice": choice},
                headers=who.headers,
            ),
            201,
        )
    if finish:
        await ok(
            await client.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/finish", headers=who.headers
            )
        )
    return str(attempt["attempt_id"])
