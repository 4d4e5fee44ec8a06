"""Learning records: the platform's own lesson activity as xAPI 1.0.3 statements about a
student, stored through the Learning Record Store (`apis.lrs.store`: `lrs.statements` and a
`learning.record.recorded.v1` outbox event in the caller's transaction), the same path as the
statements external players send: one table, one event, one lake table (`learning_records`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection

from apis.lrs import store
from apis.lrs.agents import ACCOUNT_HOME
from apis.lrs.validation import statement as validate
from core.ids import new_id

XAPI_VERSION: Final = "1.0.3"
VERBS: Final[dict[str, str]] = {
    "experienced": "http://adlnet.gov/expapi/verbs/experienced",
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
}
ACTIVITY_TYPES: Final[dict[str, str]] = {"lesson": "http://adlnet.gov/expapi/activities/lesson"}
# The authority of the platform's own statements.
PLATFORM_AUTHORITY: Final = {
    "objectType": "Agent",
    "name": "DreamSeed",
    "account": {"homePage": ACCOUNT_HOME, "name": "platform"},
}


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """What happened, in platform terms; `statement()` writes it as xAPI."""

    user_id: str
    verb: str
    object_type: str
    object_id: str
    class_id: str | None = None
    progress: float | None = None  # 0..1
    completion: bool | None = None
    duration_seconds: float | None = None
    score: float | None = None  # scaled, -1..1
    success: bool | None = None


def _duration(seconds: float) -> str:
    return f"PT{seconds:.2f}S"  # ISO 8601 duration, as xAPI wants


def statement(record: Record, statement_id: str, at: datetime) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if record.completion is not None:
        result["completion"] = record.completion
    if record.success is not None:
        result["success"] = record.success
    if record.score is not None:
        result["score"] = {"scaled": record.score}
    if record.duration_seconds is not None:
        result["duration"] = _duration(record.duration_seconds)
    if record.progress is not None:
        result["extensions"] = {
            "https://w3id.org/xapi/cmi5/result/extensions/progress": round(record.progress * 100)
        }
    body: dict[str, Any] = {
        "id": statement_id,
        "version": XAPI_VERSION,
        "timestamp": at.isoformat(),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": ACCOUNT_HOME, "name": record.user_id},
        },
        "verb": {"id": VERBS[record.verb], "display": {"en-US": record.verb}},
        "object": {
            "objectType": "Activity",
            "id": f"urn:dreamseed:{record.object_type}:{record.object_id}",
            "definition": {
                "type": ACTIVITY_TYPES.get(
                    record.object_type, "http://adlnet.gov/expapi/activities/module"
                )
            },
        },
    }
    if result:
        body["result"] = result
    if record.class_id is not None:
        body["context"] = {"extensions": {"urn:dreamseed:class_id": record.class_id}}
    return body


async def record_statement(conn: AsyncConnection[Any], record: Record) -> str:
    """Store one statement and its event inside the transaction open on `conn`; its id."""
    if record.verb not in VERBS:
        raise ValueError(f"unknown verb {record.verb!r}; known: {sorted(VERBS)}")
    statement_id = str(new_id())
    body = validate(statement(record, statement_id, datetime.now(UTC)))
    platform = store.Platform(
        record.object_type, record.object_id, record.user_id, record.class_id, record.progress
    )
    await store.store(
        conn, body, store.Writer(dict(PLATFORM_AUTHORITY)), store.Payloads(), platform
    )
    return statement_id
