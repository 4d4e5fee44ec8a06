"""Learning records: xAPI 1.0.3 statements about a student, stored in `learning.statements` with a
`learning.record.recorded.v1` outbox event in the caller's transaction (so the lake's
`learning_records` gets each exactly once).

`record_statement` is the one internal path into the records: the platform's own content calls
it today, and the Learning Record Store (issue 15) will call it for statements that external
players send, so both share one table, one event and one lake table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection

from core import outbox
from core.events import LearningRecordedV1
from core.ids import new_id

XAPI_VERSION: Final = "1.0.3"
VERBS: Final[dict[str, str]] = {
    "experienced": "http://adlnet.gov/expapi/verbs/experienced",
    "progressed": "http://adlnet.gov/expapi/verbs/progressed",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
}
ACTIVITY_TYPES: Final[dict[str, str]] = {"lesson": "http://adlnet.gov/expapi/activities/lesson"}
# Accounts of the platform (`account.homePage` must be an IRL; `.invalid` never resolves).
ACCOUNT_HOME: Final = "http://dreamseed.invalid/accounts"


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
    at = datetime.now(UTC)
    await conn.execute(
        "insert into learning.statements (statement_id, user_id, verb, object_type, object_id,"
        " class_id, statement, stored_at) values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
        (
            statement_id,
            record.user_id,
            record.verb,
            record.object_type,
            record.object_id,
            record.class_id,
            msgspec.json.encode(statement(record, statement_id, at)).decode(),
            at,
        ),
    )
    await outbox.append(
        conn,
        LearningRecordedV1(
            record_id=statement_id,
            student_id=record.user_id,
            verb=record.verb,
            object_type=record.object_type,
            object_id=record.object_id,
            class_id=record.class_id,
            score=record.score,
            success=record.success,
            duration_seconds=record.duration_seconds,
            progress=record.progress,
            completion=record.completion,
            recorded_at=at,
        ),
        at,
    )
    return statement_id
