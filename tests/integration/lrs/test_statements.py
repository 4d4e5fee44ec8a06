"""The Statement resource over HTTP: store (PUT/POST), conflicts, voiding, queries, paging,
formats, the version header, the alternate syntax, attachments, and bad statements (400 with
nothing stored, every statement one outbox event)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

from core.settings import Settings
from tests.integration.lrs.conftest import Lrs, V, statement

pytestmark = pytest.mark.integration
S = "/xapi/statements"


def count(settings: Settings, sql: str, *args: Any) -> int:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(sql, args).fetchone()
        assert row is not None
        return int(row[0])


async def test_put_post_get_and_one_event_per_statement(lrs: Lrs, settings: Settings) -> None:
    c, h = lrs.client, lrs.basic
    sid = str(uuid.uuid4())
    reply = await c.put(S, params={"statementId": sid}, json=statement(), headers=h)
    assert reply.status_code == 204, reply.text
    assert reply.headers["X-Experience-API-Version"] == "1.0.3"
    # the same statement again is fine; other content under the id is a conflict
    assert (
        await c.put(S, params={"statementId": sid}, json=statement(), headers=h)
    ).status_code == 204
    conflict = await c.put(S, params={"statementId": sid}, json=statement("failed"), headers=h)
    assert conflict.status_code == 409
    posted = await c.post(S, json=[statement("attempted"), statement("passed")], headers=h)
    assert posted.status_code == 200, posted.text
    ids = posted.json()
    assert len(ids) == 2
    got = await c.get(S, params={"statementId": sid}, headers=h)
    assert got.status_code == 200
    body = got.json()
    assert body["id"] == sid and body["version"] == "1.0.3" and "stored" in body
    assert body["authority"]["account"]["name"] == lrs.credential["credential_id"]
    assert "Last-Modified" in got.headers
    assert (
        count(
            settings,
            "select count(*) from events.outbox where event_type = 'learning.record.recorded.v1'"
            " and aggregate_id = any(%s)",
            [sid, *ids],
        )
        == 3
    )


async def test_bad_statements_are_400_naming_the_property_and_store_nothing(
    lrs: Lrs, settings: Settings
) -> None:
    before = count(settings, "select count(*) from lrs.statements")
    bad: list[tuple[dict[str, Any], str]] = [
        ({**statement(), "actor": {"mbox": "learner@example.com"}}, "actor.mbox"),
        ({**statement(), "actor": {"mbox": "mailto:a@b.c", "openid": "http://x.y/z"}}, "actor"),
        ({**statement(), "verb": {"display": {"en-US": "x"}}}, "verb.id"),
        ({**statement(), "verb": {"id": "not an iri"}}, "verb.id"),
        ({**statement(), "result": {"score": {"scaled": 1.5}}}, "result.score.scaled"),
        ({**statement(), "result": {"duration": "1 hour"}}, "result.duration"),
        ({**statement(), "timestamp": "yesterday"}, "timestamp"),
        (
            {**statement(), "verb": {"id": "http://x.y/v", "display": {"not a tag!": "x"}}},
            "verb.display",
        ),
        (
            {**statement(), "object": {"objectType": "Thing", "id": "http://x.y"}},
            "object.objectType",
        ),
        ({**statement(), "surprise": 1}, "surprise"),
    ]
    for body, where in bad:
        reply = await lrs.client.post(S, json=[statement(), body], headers=lrs.basic)
        assert reply.status_code == 400, (where, reply.text)
        assert where in reply.json()["error"]["message"], (where, reply.text)
    assert count(settings, "select count(*) from lrs.statements") == before


async def test_version_header_and_authentication(lrs: Lrs) -> None:
    c = lrs.client
    no_version = {"Authorization": lrs.basic["Authorization"]}
    assert (await c.get(S, headers=no_version)).status_code == 400
    assert (
        await c.get(S, headers={**lrs.basic, "X-Experience-API-Version": "0.9"})
    ).status_code == 400
    assert (await c.get(S, headers=V)).status_code == 401
    wrong = {**lrs.basic, "Authorization": "Basic " + "eDp5"}
    assert (await c.get(S, headers=wrong)).status_code == 401
    about = await c.get("/xapi/about")
    assert about.status_code == 200 and "1.0.3" in about.json()["version"]


async def test_voiding(lrs: Lrs) -> None:
    c, h = lrs.client, lrs.basic
    target = (
        await c.post(S, json=statement(activity="http://example.com/void"), headers=h)
    ).json()[0]
    voiding = {
        **statement(),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }
    void_id = (await c.post(S, json=voiding, headers=h)).json()[0]
    assert (await c.get(S, params={"statementId": target}, headers=h)).status_code == 404
    voided = await c.get(S, params={"voidedStatementId": target}, headers=h)
    assert voided.status_code == 200 and voided.json()["id"] == target
    listed = (await c.get(S, params={"activity": "http://example.com/void"}, headers=h)).json()
    # the voided statement is gone; the voiding statement, which refers to it, is listed
    assert [s["id"] for s in listed["statements"]] == [void_id]
    # a voiding statement cannot be voided
    again = {**voiding, "object": {"objectType": "StatementRef", "id": void_id}}
    assert (await c.post(S, json=again, headers=h)).status_code == 400


async def test_query_filters_paging_and_formats(lrs: Lrs) -> None:
    c, h = lrs.client, lrs.basic
    activity = f"http://example.com/paging/{uuid.uuid4()}"
    registration = str(uuid.uuid4())
    batch = [
        statement("experienced", activity, context={"registration": registration}) for _ in range(7)
    ]
    ids = (await c.post(S, json=batch, headers=h)).json()
    page = await c.get(S, params={"activity": activity, "limit": "3"}, headers=h)
    assert page.status_code == 200
    assert "X-Experience-API-Consistent-Through" in page.headers
    seen = [s["id"] for s in page.json()["statements"]]
    more = page.json()["more"]
    while more:
        nxt = await c.get(more, headers=h)
        assert nxt.status_code == 200, nxt.text
        seen += [s["id"] for s in nxt.json()["statements"]]
        more = nxt.json()["more"]
    assert seen == list(reversed(ids))  # newest first, each once
    ascending = await c.get(
        S, params={"activity": activity, "ascending": "true", "registration": registration},
        headers=h,
    )  # fmt: skip
    assert [s["id"] for s in ascending.json()["statements"]] == ids
    agent = json.dumps({"mbox": "mailto:learner@example.com"})
    by_agent = await c.get(
        S, params={"agent": agent, "activity": activity, "limit": "2"}, headers=h
    )
    assert len(by_agent.json()["statements"]) == 2
    verb = "http://adlnet.gov/expapi/verbs/experienced"
    ids_format = await c.get(
        S, params={"activity": activity, "verb": verb, "format": "ids"}, headers=h
    )
    first = ids_format.json()["statements"][0]
    assert first["verb"] == {"id": verb} and first["object"] == {"id": activity}
    assert (await c.get(S, params={"format": "everything"}, headers=h)).status_code == 400
    assert (await c.get(S, params={"since": "not a time"}, headers=h)).status_code == 400
    assert (
        await c.get(S, params={"statementId": ids[0], "verb": verb}, headers=h)
    ).status_code == 400
    assert (await c.get(S, params={"unknown": "1"}, headers=h)).status_code == 400


async def test_alternate_request_syntax(lrs: Lrs) -> None:
    sid = str(uuid.uuid4())
    form = {
        "Authorization": lrs.basic["Authorization"],
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
        "statementId": sid,
        "content": json.dumps(statement()),
    }
    reply = await lrs.client.post(
        S, params={"method": "PUT"}, content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert reply.status_code == 204, reply.text
    got = await lrs.client.get(S, params={"statementId": sid}, headers=lrs.basic)
    assert got.status_code == 200


def multipart(statement_body: Any, files: list[tuple[bytes, str]]) -> tuple[bytes, str]:
    boundary = "abcABC0123'()+_,-./:=?"
    parts = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()]
    parts.append(json.dumps(statement_body).encode())
    for content, sha2 in files:
        parts.append(
            f"\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary"
            f"\r\nX-Experience-API-Hash: {sha2}\r\n\r\n".encode()
        )
        parts.append(content)
    parts.append(f"\r\n--{boundary}--".encode())
    return b"".join(parts), f'multipart/mixed; boundary="{boundary}"'


async def test_attachments_with_sha2_checks(lrs: Lrs, settings: Settings) -> None:
    text = b"here is a simple attachment"
    sha2 = hashlib.sha256(text).hexdigest()
    attached = {
        **statement(),
        "attachments": [{
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"},
            "contentType": "text/plain; charset=ascii",
            "length": len(text),
            "sha2": sha2,
        }],
    }  # fmt: skip
    c, h = lrs.client, {k: v for k, v in lrs.basic.items()}
    body, content_type = multipart(attached, [(text, sha2)])
    reply = await c.post(S, content=body, headers={**h, "Content-Type": content_type})
    assert reply.status_code == 200, reply.text
    sid = reply.json()[0]
    got = await c.get(S, params={"statementId": sid, "attachments": "true"}, headers=h)
    assert got.status_code == 200 and got.headers["content-type"].startswith("multipart/mixed")
    assert text in got.content and sha2.encode() in got.content
    # a part whose hash is wrong, or a missing part: 400, nothing stored
    before = count(settings, "select count(*) from lrs.statements")
    body, content_type = multipart(attached, [(b"other bytes", sha2)])
    bad = await c.post(S, content=body, headers={**h, "Content-Type": content_type})
    assert bad.status_code == 400
    body, content_type = multipart(attached, [])
    missing = await c.post(S, content=body, headers={**h, "Content-Type": content_type})
    assert missing.status_code == 400
    assert count(settings, "select count(*) from lrs.statements") == before
