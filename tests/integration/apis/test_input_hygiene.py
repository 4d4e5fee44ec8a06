"""Every kind of bad input from issue 12 answers 4xx with `{"error": …}` naming the problem, and
nothing is written — against a real server (uvicorn over HTTP) on real PostgreSQL and Redis.

The cases: a NUL (U+0000) in each string field that reaches PostgreSQL and in the `skill` query
parameter; a body that is not UTF-8; JSON nested 5,000 (objects) and 100,000 (lists) deep, also
on the anonymous login route; a string where an integer belongs; a body over the size cap.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import psycopg
import pytest

from apis.app import create_app
from apis.gateway.input_hygiene import MAX_BODY_BYTES, json_too_deep
from core.settings import Settings
from tests.support.servers import serve_in_thread

NUL = "\u0000"
TABLES = [
    "users.accounts",
    "classes.classes",
    "classes.memberships",
    "content.items",
    "content.item_versions",
    "content.item_parameters",
    "exams.exams",
    "events.outbox",
]


@dataclass
class School:
    url: str
    teacher: dict[str, str]
    student: dict[str, str]
    item_id: str
    class_id: str


def _account(client: httpx.Client, role: str) -> dict[str, str]:
    email = f"{role}-{secrets.token_hex(4)}@hygiene.test"
    password = "correct horse " + secrets.token_hex(4)
    body = {"email": email, "password": password, "display_name": role, "role": role}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture(scope="module")
def school(settings: Settings) -> Iterator[School]:
    app = create_app(replace(settings, rate_limit_per_user=100_000, rate_limit_per_ip=100_000))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        teacher = _account(client, "teacher")
        student = _account(client, "student")
        item = client.post(
            "/api/v1/items/",
            json={"stem": "2 + 2?", "options": ["3", "4"], "answer_key": 1},
            headers=teacher,
        )
        assert item.status_code == 201, item.text
        made = client.post("/api/v1/classes/", json={"name": "7B"}, headers=teacher)
        assert made.status_code == 201, made.text
        yield School(url, teacher, student, item.json()["item_id"], made.json()["class_id"])


def _counts(settings: Settings) -> dict[str, int]:
    with psycopg.connect(settings.database_url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def _item(**change: Any) -> dict[str, Any]:
    return {"stem": "What is 3 + 4?", "options": ["6", "7"], "answer_key": 1, **change}


def _nested(depth: int, kind: str) -> bytes:
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


def _cases(s: School) -> list[tuple[str, str, str, Any, dict[str, str] | None, int, str]]:
    """(what, method, path, body (dict: JSON; bytes: raw), headers, status, text the message
    must contain)."""
    t, st, item = s.teacher, s.student, s.item_id
    register = {"email": "new@hygiene.test", "password": "longenough1", "display_name": "New"}
    login = {"email": "new@hygiene.test", "password": "longenough1"}
    parameters = {"model": "2pl", "a": 1.0, "b": 0.0}
    return [
        # a NUL in every string field that reaches PostgreSQL
        ("register e-mail", "POST", "/api/v1/auth/register",
         {**register, "email": f"a{NUL}b@hygiene.test"}, None, 400, "email"),
        ("register name", "POST", "/api/v1/auth/register",
         {**register, "display_name": f"Ne{NUL}w"}, None, 400, "display_name"),
        ("login e-mail", "POST", "/api/v1/auth/login",
         {**login, "email": f"new{NUL}@hygiene.test"}, None, 400, "email"),
        ("class name", "POST", "/api/v1/classes/", {"name": f"7{NUL}C"}, t, 400, "name"),
        ("join code", "POST", "/api/v1/classes/join", {"join_code": f"ABCD{NUL}EF"}, st, 400,
         "join_code"),
        ("item stem", "POST", "/api/v1/items/", _item(stem=f"3 + 4{NUL}?"), t, 400, "stem"),
        ("item option", "POST", "/api/v1/items/", _item(options=["6", f"7{NUL}"]), t, 400,
         "options[1]"),
        ("item media uri", "POST", "/api/v1/items/",
         _item(media=[{"uri": f"s3://media/x{NUL}.png"}]), t, 400, "media[0].uri"),
        ("item provenance", "POST", "/api/v1/items/",
         _item(parameters={**parameters, "provenance": {"source": f"r{NUL}un"}}), t, 400,
         "parameters.provenance.source"),
        ("provenance key", "POST", "/api/v1/items/",
         _item(parameters={**parameters, "provenance": {f"k{NUL}": 1}}), t, 400,
         "parameters.provenance.k"),
        ("calibration id", "POST", f"/api/v1/items/{item}/parameters",
         {**parameters, "calibration_id": f"cal{NUL}1"}, t, 400, "calibration_id"),
        ("PATCH stem", "PATCH", f"/api/v1/items/{item}", {"stem": f"edited{NUL}"}, t, 400,
         "stem"),
        ("exam title", "POST", "/api/v1/exams/", {"title": f"Quiz{NUL}", "item_ids": [item]}, t,
         400, "title"),
        ("import stem (JSON)", "POST", "/api/v1/items/import",
         {"items": [_item(stem=f"imported{NUL}")]}, t, 400, "items[0].stem"),
        ("import stem (CSV)", "POST", "/api/v1/items/import",
         f'stem,options\n"imported{NUL}","[""a"",""b""]"\n'.encode(),
         {**t, "Content-Type": "text/csv"}, 400, "line 2"),
        ("import option (CSV, JSON escape)", "POST", "/api/v1/items/import",
         b'stem,options,answer_key\nok,"[""a"",""b\\u0000""]",0\n',
         {**t, "Content-Type": "text/csv"}, 400, "line 2: options[1]: contains a NUL"),
        ("skill query parameter", "GET", "/api/v1/items/?skill=alg%00ebra", None, t, 400,
         "skill"),
        # a body that is not UTF-8
        ("class name not UTF-8", "POST", "/api/v1/classes/", b'{"name": "\xff\xfe"}',
         {**t, "Content-Type": "application/json"}, 400, "name: not valid UTF-8"),
        ("register not UTF-8", "POST", "/api/v1/auth/register",
         b'{"email": "x@y.test", "password": "longenough1", "display_name": "\xff"}',
         {"Content-Type": "application/json"}, 400, "display_name: not valid UTF-8"),
        ("CSV import not UTF-8", "POST", "/api/v1/items/import", b'stem,options\n"\xff","[]"\n',
         {**t, "Content-Type": "text/csv"}, 400, "not valid UTF-8"),
        # JSON nested 5,000 deep (objects) and 100,000 deep (lists), anonymous and signed in
        ("login, objects 5,000 deep", "POST", "/api/v1/auth/login", _nested(5000, "object"),
         {"Content-Type": "application/json"}, 400, "nested deeper than 64"),
        ("login, lists 100,000 deep", "POST", "/api/v1/auth/login", _nested(100_000, "list"),
         {"Content-Type": "application/json"}, 400, "nested deeper than 64"),
        ("register, objects 5,000 deep", "POST", "/api/v1/auth/register",
         _nested(5000, "object"), {"Content-Type": "application/json"}, 400, "nested deeper"),
        ("items, lists 100,000 deep", "POST", "/api/v1/items/", _nested(100_000, "list"),
         {**t, "Content-Type": "application/json"}, 400, "nested deeper than 64"),
        ("import, objects 5,000 deep", "POST", "/api/v1/items/import", _nested(5000, "object"),
         {**t, "Content-Type": "application/json"}, 400, "nested deeper than 64"),
        # strict types: no string-for-integer coercion
        ("answer_key as a string", "POST", "/api/v1/items/", _item(answer_key="1"), t, 400,
         "answer_key: must be an integer, not a string"),
        ("import answer_key as a string", "POST", "/api/v1/items/import",
         {"items": [_item(answer_key="1")]}, t, 400, "items[0].answer_key: must be an integer"),
        ("choice as a string", "POST", f"/api/v1/attempts/{uuid.uuid4()}/responses",
         {"item_id": item, "choice": "1"}, st, 400, "choice: must be an integer"),
        # messages for people
        ("e-mail form", "POST", "/api/v1/auth/register", {**register, "email": "nope"}, None,
         400, "email: not a valid e-mail address"),
        ("skill form", "POST", "/api/v1/items/", _item(skills=["Alg ebra"]), t, 400,
         "skills[0]: not a skill name"),
        ("allowed values", "POST", "/api/v1/items/", _item(status="draft"), t, 400,
         "status: 'draft' is not one of"),
        ("missing body", "POST", "/api/v1/classes/", b"", t, 400, "body: a JSON body is required"),
        ("query bound", "GET", "/api/v1/items/?limit=5000", None, t, 400,
         "limit: must be at most 1000"),
        # size: capped before parsing
        ("body over the cap", "POST", "/api/v1/classes/",
         b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}', {**t, "Content-Type": "application/json"},
         413, "larger than"),
    ]  # fmt: skip


def test_every_bad_input_is_a_4xx_naming_the_problem_and_writes_nothing(
    school: School, settings: Settings
) -> None:
    before = _counts(settings)
    failures = []
    with httpx.Client(base_url=school.url, timeout=60) as client:
        for what, method, path, body, headers, status, needle in _cases(school):
            if isinstance(body, bytes):
                reply = client.request(method, path, content=body, headers=headers)
            else:
                reply = client.request(method, path, json=body, headers=headers)
            try:
                error = reply.json()["error"]
            except (ValueError, KeyError, TypeError):
                failures.append(f"{what}: {reply.status_code} without an error body: {reply.text}")
                continue
            if reply.status_code != status or error["status"] != status:
                failures.append(f"{what}: expected {status}, got {reply.status_code}: {error}")
            elif needle not in error["message"]:
                failures.append(f"{what}: message {error['message']!r} lacks {needle!r}")
        assert client.get("/health").status_code == 200  # the server survived all of it
    assert not failures, "\n".join(failures)
    assert _counts(settings) == before


def test_good_input_still_passes(school: School) -> None:
    """The checks do not refuse what is fine: deep-ish JSON, brackets inside strings, a NUL
    written as an escaped backslash, non-ASCII text, integers for floats."""
    with httpx.Client(base_url=school.url, timeout=30) as client:
        tricky = "[[{{ \\u0000 is how JSON writes NUL; 한국어 }}]]"
        made = client.post(
            "/api/v1/items/",
            json=_item(stem=tricky, parameters={"model": "2pl", "a": 1, "b": 0}),
            headers=school.teacher,
        )
        assert made.status_code == 201, made.text
        assert made.json()["stem"] == tricky
        provenance = {"run": {"nested": [[[[[{"ok": True}]]]]]}}
        calibrated = client.post(
            f"/api/v1/items/{made.json()['item_id']}/parameters",
            json={"model": "2pl", "b": 0.5, "calibration_id": "run-2", "provenance": provenance},
            headers=school.teacher,
        )
        assert calibrated.status_code == 201, calibrated.text
        root = client.get("/")
        assert root.status_code == 200
        assert root.json()["docs"] == "/schema/docs" and root.json()["health"] == "/health"


def test_depth_scan() -> None:
    assert not json_too_deep(json.dumps({"a": "[" * 500}).encode())
    assert not json_too_deep(b"[" * 64 + b"]" * 64)
    assert json_too_deep(b"[" * 65 + b"]" * 65)
    assert json_too_deep(b'{"a": "\\"[[[", "b": ' + b"[" * 65 + b"]" * 65 + b"}")
