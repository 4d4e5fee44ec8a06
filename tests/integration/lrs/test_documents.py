"""State, Activity Profile and Agent Profile documents (ETag concurrency, merge, listing,
deletion), and the Activities and Agents resources."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.lrs.conftest import Lrs, statement

pytestmark = pytest.mark.integration
AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:learner@example.com"})
ACTIVITY = "http://example.com/activities/doc"


async def test_state_put_get_merge_list_delete(lrs: Lrs) -> None:
    c, h = lrs.client, lrs.basic
    reg = str(uuid.uuid4())
    key = {"activityId": ACTIVITY, "agent": AGENT, "registration": reg}
    put = await c.put("/xapi/activities/state", params={**key, "stateId": "s1"},
                      json={"a": 1, "b": 2}, headers=h)  # fmt: skip
    assert put.status_code == 204, put.text
    got = await c.get("/xapi/activities/state", params={**key, "stateId": "s1"}, headers=h)
    assert got.status_code == 200 and got.json() == {"a": 1, "b": 2}
    etag = got.headers["ETag"]
    merged = await c.post("/xapi/activities/state", params={**key, "stateId": "s1"},
                          json={"b": 3, "c": 4}, headers=h)  # fmt: skip
    assert merged.status_code == 204
    got = await c.get("/xapi/activities/state", params={**key, "stateId": "s1"}, headers=h)
    assert got.json() == {"a": 1, "b": 3, "c": 4} and got.headers["ETag"] != etag
    # a JSON merge into a text document is a 400
    await c.put("/xapi/activities/state", params={**key, "stateId": "t"}, content=b"plain",
                headers={**h, "Content-Type": "text/plain"})  # fmt: skip
    bad = await c.post("/xapi/activities/state", params={**key, "stateId": "t"},
                       json={"x": 1}, headers=h)  # fmt: skip
    assert bad.status_code == 400
    ids = await c.get("/xapi/activities/state", params=key, headers=h)
    assert sorted(ids.json()) == ["s1", "t"]
    head = await c.head("/xapi/activities/state", params={**key, "stateId": "s1"}, headers=h)
    assert head.status_code == 200 and head.content == b""
    assert (await c.delete("/xapi/activities/state", params=key, headers=h)).status_code == 204
    assert (await c.get("/xapi/activities/state", params=key, headers=h)).json() == []
    missing = await c.get("/xapi/activities/state", params={**key, "stateId": "s1"}, headers=h)
    assert missing.status_code == 404
    no_agent = await c.get("/xapi/activities/state", params={"activityId": ACTIVITY}, headers=h)
    assert no_agent.status_code == 400 and "agent" in no_agent.json()["error"]["message"]


async def test_profile_concurrency(lrs: Lrs) -> None:
    c, h = lrs.client, lrs.basic
    key = {"activityId": ACTIVITY, "profileId": f"p-{uuid.uuid4()}"}
    first = await c.put("/xapi/activities/profile", params=key, json={"v": 1},
                        headers={**h, "If-None-Match": "*"})  # fmt: skip
    assert first.status_code == 204
    # a second creation with If-None-Match: * fails; a PUT with no precondition conflicts
    again = await c.put("/xapi/activities/profile", params=key, json={"v": 2},
                        headers={**h, "If-None-Match": "*"})  # fmt: skip
    assert again.status_code == 412
    blind = await c.put("/xapi/activities/profile", params=key, json={"v": 2}, headers=h)
    assert blind.status_code == 409
    etag = (await c.get("/xapi/activities/profile", params=key, headers=h)).headers["ETag"]
    stale = await c.put("/xapi/activities/profile", params=key, json={"v": 3},
                        headers={**h, "If-Match": '"0000"'})  # fmt: skip
    assert stale.status_code == 412
    fresh = await c.put("/xapi/activities/profile", params=key, json={"v": 3},
                        headers={**h, "If-Match": etag})  # fmt: skip
    assert fresh.status_code == 204
    assert (await c.get("/xapi/activities/profile", params=key, headers=h)).json() == {"v": 3}
    agent_key = {"agent": AGENT, "profileId": "prefs"}
    blind = await c.put("/xapi/agents/profile", params=agent_key, json={"lang": "ko"}, headers=h)
    assert blind.status_code == 400  # a profile is created with If-None-Match: *
    made = await c.put("/xapi/agents/profile", params=agent_key, json={"lang": "ko"},
                       headers={**h, "If-None-Match": "*"})  # fmt: skip
    assert made.status_code == 204
    assert (await c.get("/xapi/agents/profile", params=agent_key, headers=h)).json() == {
        "lang": "ko"
    }
    assert (await c.delete("/xapi/agents/profile", params=agent_key, headers=h)).status_code == 204


async def test_activities_and_agents(lrs: Lrs) -> None:
    c, h = lrs.client, lrs.basic
    described = statement(activity="http://example.com/activities/defined")
    described["object"]["definition"] = {"name": {"en-US": "Defined"}}
    assert (await c.post("/xapi/statements", json=described, headers=h)).status_code == 200
    got = await c.get(
        "/xapi/activities",
        params={"activityId": "http://example.com/activities/defined"},
        headers=h,
    )
    assert got.json()["definition"]["name"] == {"en-US": "Defined"}
    person = await c.get("/xapi/agents", params={"agent": AGENT}, headers=h)
    assert person.json() == {"objectType": "Person", "mbox": ["mailto:learner@example.com"]}
