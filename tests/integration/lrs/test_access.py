"""Who may do what in the LRS (the Rego bundle decides): credential scopes, a teacher's
credential bound to her class, a student reading only statements about herself, revocation."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from core.settings import Settings
from tests.integration.apis.conftest import make_account
from tests.integration.learning.helpers import make_class
from tests.integration.lrs.conftest import Lrs, V, basic, issue, statement

pytestmark = pytest.mark.integration
S = "/xapi/statements"


def about(user_id: str) -> dict[str, object]:
    s = statement()
    s["actor"] = {"account": {"homePage": "http://dreamseed.invalid/accounts", "name": user_id}}
    return s


async def test_scopes_and_revocation(lrs: Lrs) -> None:
    c = lrs.client
    writer = await issue(c, lrs.admin, ["statements/write", "statements/read/mine"])
    w = basic(writer["key"], writer["secret"])
    mine = (await c.post(S, json=statement(), headers=w)).json()[0]
    other = (await c.post(S, json=statement(), headers=lrs.basic)).json()[0]
    seen = [
        s["id"] for s in (await c.get(S, params={"limit": "50"}, headers=w)).json()["statements"]
    ]
    assert mine in seen and other not in seen
    assert (await c.put("/xapi/activities/state", params={"activityId": "http://x.y/a",
            "agent": '{"mbox":"mailto:a@b.c"}', "stateId": "s"}, json={}, headers=w)).status_code == 403  # fmt: skip
    revoked = await c.post(
        f"/api/v1/lrs/credentials/{writer['credential_id']}/revoke", headers=lrs.admin
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    import apis.lrs.credentials as credentials

    credentials._cache.clear()  # the per-process cache would keep it for up to 5 s
    assert (await c.get(S, headers=w)).status_code == 401


async def test_teacher_credential_covers_her_class_and_students_see_themselves(lrs: Lrs) -> None:
    c = lrs.client
    teacher = await make_account(c, "teacher")
    s1, s2 = await make_account(c, "student"), await make_account(c, "student")
    class_id = await make_class(c, teacher, s1)
    own = await issue(c, teacher.headers, ["all"], class_id)
    t = basic(own["key"], own["secret"])
    other_teacher = await make_account(c, "teacher")
    refused = await c.post("/api/v1/lrs/credentials", json={"name": "x", "scopes": ["all"],
                           "class_id": class_id}, headers=other_teacher.headers)  # fmt: skip
    assert refused.status_code == 403
    s1_statement = (await c.post(S, json=about(s1.user_id), headers=t)).json()[0]
    s2_statement = (await c.post(S, json=about(s2.user_id), headers=lrs.basic)).json()[0]
    # the teacher's credential reads its class's statements only
    seen = [
        s["id"] for s in (await c.get(S, params={"limit": "100"}, headers=t)).json()["statements"]
    ]
    assert s1_statement in seen and s2_statement not in seen
    # a student with her own token sees only statements about herself
    s2_view = await c.get(S, params={"limit": "100"}, headers={**s2.headers, **V})
    assert [s["id"] for s in s2_view.json()["statements"]] == [s2_statement]
    assert (
        await c.get(S, params={"statementId": s1_statement}, headers={**s2.headers, **V})
    ).status_code == 404
    # she may write about herself, not about a classmate
    assert (await c.post(S, json=about(s2.user_id), headers={**s2.headers, **V})).status_code == 200
    assert (await c.post(S, json=about(s1.user_id), headers={**s2.headers, **V})).status_code == 403
    # the teacher with her token reads her class (s1), not s2
    t_view = await c.get(S, params={"limit": "100"}, headers={**teacher.headers, **V})
    ids = [s["id"] for s in t_view.json()["statements"]]
    assert s1_statement in ids and s2_statement not in ids


async def test_teacher_credential_reaches_documents_of_her_class_only(
    lrs: Lrs, settings: Settings
) -> None:
    c = lrs.client
    teacher, other_teacher = await make_account(c, "teacher"), await make_account(c, "teacher")
    s1, s2 = await make_account(c, "student"), await make_account(c, "student")
    class_id = await make_class(c, teacher, s1)
    await make_class(c, other_teacher, s2)
    own = await issue(c, teacher.headers, ["all"], class_id)
    t = basic(own["key"], own["secret"])

    def agent(user_id: str) -> str:
        return json.dumps({"account": {"homePage": "http://dreamseed.invalid/accounts",
                                       "name": user_id}})  # fmt: skip

    state = "/xapi/activities/state"
    activity = "http://x.y/h5p/1"

    def params(user_id: str, state_id: str = "progress") -> dict[str, str]:
        return {"activityId": activity, "agent": agent(user_id), "stateId": state_id}

    # her class's student: written and read back
    assert (await c.put(state, params=params(s1.user_id), json={"page": 2}, headers=t)).status_code == 204  # fmt: skip
    got = await c.get(state, params=params(s1.user_id), headers=t)
    assert got.status_code == 200 and got.json() == {"page": 2}
    # another class's student: refused, named, nothing written
    put = await c.put(state, params=params(s2.user_id), json={"page": 9}, headers=t)
    assert put.status_code == 403 and "outside_class" in put.text
    post = await c.post(state, params=params(s2.user_id), json={"page": 9}, headers=t)
    assert post.status_code == 403
    # what the admin's credential stored about her stays out of reach, listing and deleting too
    assert (await c.put(state, params=params(s2.user_id), json={"page": 5}, headers=lrs.basic)).status_code == 204  # fmt: skip
    assert (await c.get(state, params=params(s2.user_id), headers=t)).status_code == 403
    listing = {"activityId": activity, "agent": agent(s2.user_id)}
    assert (await c.get(state, params=listing, headers=t)).status_code == 403
    assert (await c.delete(state, params=listing, headers=t)).status_code == 403
    profile = {"agent": agent(s2.user_id), "profileId": "prefs"}
    assert (await c.put("/xapi/agents/profile", params=profile, json={"x": 1},
                        headers={**t, "If-None-Match": "*"})).status_code == 403  # fmt: skip
    assert (await c.get("/xapi/agents/profile", params=profile, headers=t)).status_code == 403
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "select content from lrs.documents where user_id = %s", (s2.user_id,)
        ).fetchall()
    assert [bytes(r[0]) for r in rows] == [b'{"page":5}']  # only the admin credential's
    # the admin's own credential still reads it; activity profiles name no person
    assert (await c.get(state, params=params(s2.user_id), headers=lrs.basic)).json() == {"page": 5}
    assert (await c.put("/xapi/activities/profile", params={"activityId": activity,
            "profileId": "p"}, json={"a": 1}, headers={**t, "If-None-Match": "*"})).status_code == 204  # fmt: skip


async def test_teacher_credential_writes_statements_about_her_class_only(
    lrs: Lrs, settings: Settings
) -> None:
    c = lrs.client
    teacher, other_teacher = await make_account(c, "teacher"), await make_account(c, "teacher")
    s1, s2 = await make_account(c, "student"), await make_account(c, "student")
    class_id = await make_class(c, teacher, s1)
    other_class = await make_class(c, other_teacher, s2)
    own = await issue(c, teacher.headers, ["all"], class_id)
    t = basic(own["key"], own["secret"])
    stranger = {"objectType": "Agent", "mbox": f"mailto:{uuid.uuid4()}@example.com"}

    def stored(ids: list[str]) -> dict[str, str | None]:
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(
                "select statement_id::text, class_id::text from lrs.statements"
                " where statement_id = any(%s::uuid[])",
                (ids,),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    # another class's student, by account: 403 naming the statement and actor, nothing stored
    refused_id = str(uuid.uuid4())
    put = await c.put(S, params={"statementId": refused_id}, json=about(s2.user_id), headers=t)
    assert put.status_code == 403
    assert "statements[0].actor" in put.text and "outside_class" in put.text
    assert s2.user_id in put.text
    # a batch: one group member (by the mbox of her e-mail) outside the class refuses it all
    group = {"objectType": "Group", "name": "pair", "member": [
        {"objectType": "Agent", "account": {"homePage": "http://dreamseed.invalid/accounts",
                                            "name": s1.user_id}},
        {"objectType": "Agent", "mbox": f"mailto:{s2.email.upper()}"},
    ]}  # fmt: skip
    batch = [about(s1.user_id), {**statement(), "actor": stranger}, {**statement(), "actor": group}]
    ids = [str(uuid.uuid4()) for _ in batch]
    for s, statement_id in zip(batch, ids, strict=True):
        s["id"] = statement_id
    post = await c.post(S, json=batch, headers=t)
    assert post.status_code == 403, post.text
    assert "statements[2].actor.member[1]" in post.text and s2.email in post.text
    assert stored([refused_id, *ids]) == {}
    # without the outsider: her student, her own statements and agents without an account
    allowed = [about(s1.user_id), about(teacher.user_id), {**statement(), "actor": stranger}]
    posted = await c.post(S, json=allowed, headers=t)
    assert posted.status_code == 200, posted.text
    assert stored(posted.json()) == dict.fromkeys(posted.json(), class_id)
    # an admin's credential (bound to no class) still writes about anyone
    assert (await c.post(S, json=about(s2.user_id), headers=lrs.basic)).status_code == 200

    # voiding: only statements about its class (or agents without an account)
    void = "http://adlnet.gov/expapi/verbs/voided"
    about_s2 = (await c.post(S, json=about(s2.user_id), headers=lrs.basic)).json()[0]
    voiding = {**statement(), "actor": stranger, "verb": {"id": void},
               "object": {"objectType": "StatementRef", "id": about_s2}}  # fmt: skip
    refused_void = await c.post(S, json=voiding, headers=t)
    assert refused_void.status_code == 403 and "statements[0].object.id" in refused_void.text
    with psycopg.connect(settings.database_url) as conn:
        flags = conn.execute(
            "select voided from lrs.statements where statement_id = %s", (about_s2,)
        ).fetchall()
    assert flags == [(False,)]
    own_void = {**voiding, "object": {"objectType": "StatementRef", "id": posted.json()[2]}}
    assert (await c.post(S, json=own_void, headers=t)).status_code == 200

    # reading: the credential sees statements about its class's members and its agents without
    # an account, never one about another class's student, even one stamped with its class
    stamped = about(s2.user_id)
    stamped["context"] = {"extensions": {"urn:dreamseed:class_id": class_id}}
    leaked = (await c.post(S, json=stamped, headers=lrs.basic)).json()[0]
    assert stored([leaked]) == {leaked: class_id}
    by_admin_about_s1 = (await c.post(S, json=about(s1.user_id), headers=lrs.basic)).json()[0]
    seen = [s["id"] for s in (await c.get(S, params={"limit": "100"}, headers=t)).json()["statements"]]  # fmt: skip
    assert set(posted.json()[:2]) | {by_admin_about_s1} <= set(seen)
    assert leaked not in seen
    assert (await c.get(S, params={"statementId": leaked}, headers=t)).status_code == 404
    # the other class's teacher's own credential reads it (it is about her student)
    theirs = await issue(c, other_teacher.headers, ["all"], other_class)
    other = basic(theirs["key"], theirs["secret"])
    assert (await c.get(S, params={"statementId": leaked}, headers=other)).status_code == 200
