"""The demo's Learning Record Store: the first teacher issues a Basic credential for her class
(as she would for an H5P or cmi5 player) and a lesson's statements are sent through it over
HTTP, so the LRS, its store and the lake's learning_records have external data after `make demo`.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

ACCOUNTS = "http://dreamseed.invalid/accounts"
ACTIVITY = "http://demo.dreamseed.school/h5p/quarters"
VERBS = ("launched", "attempted", "answered", "completed")
SKILLS_EXTENSION = "urn:dreamseed:skills"


def _statement(user_id: str, verb: str, registration: str, step: int) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "actor": {"objectType": "Agent", "account": {"homePage": ACCOUNTS, "name": user_id}},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": ACTIVITY if verb != "answered" else f"{ACTIVITY}/question-{step}",
            "definition": {
                "name": {"en-US": "Quarters (H5P)"},
                "type": "http://adlnet.gov/expapi/activities/lesson",
                # the skills the marts join it to (agg_activity_outcomes.skills)
                "extensions": {SKILLS_EXTENSION: ["number"]},
            },
        },
        "context": {
            "registration": registration,
            "contextActivities": {"parent": [{"id": ACTIVITY}]} if verb == "answered" else {},
        },
    }
    if verb == "answered":
        statement["result"] = {"success": step != 2, "score": {"scaled": 1.0 if step != 2 else 0.0},
                               "response": "3/12", "duration": f"PT{20 + step}S"}  # fmt: skip
    if verb == "completed":
        statement["result"] = {"completion": True, "success": True, "duration": "PT4M10S",
                               "score": {"scaled": 0.67, "raw": 2, "min": 0, "max": 3}}  # fmt: skip
    return statement


def send_lesson_statements(
    api: httpx.Client, teacher: dict[str, str], class_id: str, student: dict[str, str]
) -> dict[str, Any]:
    """Issue the class's LRS credential and send one lesson's statements through it."""
    reply = api.post(
        "/api/v1/lrs/credentials",
        json={"name": "Demo H5P player", "scopes": ["statements/write", "statements/read", "state"],
              "class_id": class_id},
        headers=teacher,
    )  # fmt: skip
    reply.raise_for_status()
    credential = reply.json()
    user_id = api.get("/api/v1/users/me", headers=student).json()["user_id"]
    basic = base64.b64encode(f"{credential['key']}:{credential['secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "X-Experience-API-Version": "1.0.3"}
    registration = str(uuid.uuid4())
    statements = [_statement(user_id, "launched", registration, 0)]
    statements += [_statement(user_id, "answered", registration, step) for step in (1, 2, 3)]
    statements.append(_statement(user_id, "completed", registration, 0))
    api.post("/xapi/statements", json=statements, headers=headers).raise_for_status()
    agent = json.dumps({"account": {"homePage": ACCOUNTS, "name": user_id}})
    api.put(
        "/xapi/activities/state",
        params={"activityId": ACTIVITY, "agent": agent, "stateId": "progress",
                "registration": registration},
        json={"page": 3, "answers": ["3/12", "1/4", "2/8"]},
        headers=headers,
    ).raise_for_status()  # fmt: skip
    return {"key": credential["key"], "secret": credential["secret"], "class_id": class_id}


def outside_class_refusal(
    api: httpx.Client, credential: dict[str, Any], student: dict[str, str]
) -> str:
    """Send one statement about a student of another class through the class's credential: the
    LRS refuses it (403 outside_class, nothing stored). Returns the answer, for the summary."""
    user_id = api.get("/api/v1/users/me", headers=student).json()["user_id"]
    basic = base64.b64encode(f"{credential['key']}:{credential['secret']}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "X-Experience-API-Version": "1.0.3"}
    reply = api.post("/xapi/statements", json=_statement(user_id, "launched", str(uuid.uuid4()), 0),
                     headers=headers)  # fmt: skip
    return f"{reply.status_code} {reply.text}"[:300]
