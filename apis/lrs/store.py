"""Storing statements: one row in `lrs.statements` and one `learning.record.recorded.v1` outbox
event per statement, in the caller's transaction (the lake's `learning_records` gets each exactly
once). Conflicts (same id, other content: 409), voiding, attachments, activity definitions and the
link from an actor to a platform account happen here, for external and platform statements alike.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from apis.lrs import agents as ag
from apis.lrs.db import tuples
from apis.lrs.validation import UUID_RE, VOIDED
from core import outbox
from core.errors import Conflict, InvalidInput
from core.events import LearningRecordedV1

XAPI_VERSION = "1.0.3"
PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"
CLASS_EXTENSION = "urn:dreamseed:class_id"
_DURATION = re.compile(
    r"^P(?:(?P<Y>[\d.]+)Y)?(?:(?P<Mo>[\d.]+)M)?(?:(?P<W>[\d.]+)W)?(?:(?P<D>[\d.]+)D)?"
    r"(?:T(?:(?P<H>[\d.]+)H)?(?:(?P<Mi>[\d.]+)M)?(?:(?P<S>[\d.]+)S)?)?$"
)
_SECONDS = {"Y": 31_536_000, "Mo": 2_592_000, "W": 604_800, "D": 86_400, "H": 3600, "Mi": 60,
            "S": 1}  # fmt: skip
IGNORED_IN_COMPARISON = ("stored", "authority", "version")


@dataclass
class Writer:
    """Who stores: the statement authority, and the credential/class it comes through."""

    authority: dict[str, Any]
    credential_id: str | None = None
    class_id: str | None = None


@dataclass
class Platform:
    """The platform's own terms for a statement it records itself (object kind and id)."""

    object_type: str
    object_id: str
    user_id: str
    class_id: str | None = None
    progress: float | None = None


@dataclass
class Payloads:
    """Attachment bodies of a request, by SHA-2."""

    parts: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def duration_seconds(text: str | None) -> float | None:
    match = _DURATION.match(text or "")
    if not match:
        return None
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)


def short_verb(verb_id: str) -> str:
    return re.split(r"[/#:]", verb_id.rstrip("/"))[-1] or verb_id


def comparable(statement: dict[str, Any], *, timestamp: bool = True) -> Any:
    """What two statements with one id must share to be 'the same' (xAPI statement comparison):
    everything but what the LRS adds (stored, authority, version, and the timestamp when the
    client sent none), ids compared case-blind."""
    ignored = IGNORED_IN_COMPARISON if timestamp else (*IGNORED_IN_COMPARISON, "timestamp")
    body = {k: v for k, v in statement.items() if k not in ignored}
    body["id"] = str(body.get("id", "")).lower()
    return msgspec.json.decode(msgspec.json.encode(body, order="sorted"))


def _activities(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """Every activity a statement mentions (object, context activities, sub-statement's)."""
    found: list[dict[str, Any]] = []
    obj = statement.get("object", {})
    if obj.get("objectType", "Activity") == "Activity":
        found.append(obj)
    for inner in statement.get("context", {}).get("contextActivities", {}).values():
        found += inner if isinstance(inner, list) else [inner]
    if obj.get("objectType") == "SubStatement":
        found += _activities(obj)
    return found


def _agents(statement: dict[str, Any], *, top: bool = True) -> list[str]:
    """Every agent key a statement mentions (the related_agents filter)."""
    keys = ag.keys_of(statement["actor"])
    obj = statement.get("object", {})
    if obj.get("objectType") in ("Agent", "Group"):
        keys += ag.keys_of(obj)
    context = statement.get("context", {})
    for name in ("instructor", "team"):
        if name in context:
            keys += ag.keys_of(context[name])
    if top and "authority" in statement:
        keys += ag.keys_of(statement["authority"])
    if obj.get("objectType") == "SubStatement":
        keys += _agents(obj, top=False)
    return sorted(set(keys))


def attachment_shas(statement: dict[str, Any], *, with_url: bool = False) -> list[str]:
    """SHA-2s of the statement's attachments that must come as parts (those without fileUrl),
    or, `with_url`, every one that may."""
    listed = list(statement.get("attachments", []))
    obj = statement.get("object", {})
    if obj.get("objectType") == "SubStatement":
        listed += obj.get("attachments", [])
    return [a["sha2"].lower() for a in listed if with_url or "fileUrl" not in a]


async def _linked_user(conn: AsyncConnection[Any], actor: dict[str, Any]) -> str | None:
    user_id = ag.platform_user(actor)
    email = ag.mbox_email(actor)
    if user_id is None and email is None:
        return None
    cur = await tuples(conn).execute(
        "select user_id::text from users.accounts where user_id = %s or email = %s",
        (user_id, email),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def existing(conn: AsyncConnection[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    cur = await tuples(conn).execute(
        "select statement_id::text, statement from lrs.statements where statement_id = any(%s)",
        (ids,),
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def prepare(
    conn: AsyncConnection[Any], statements: list[dict[str, Any]], payloads: Payloads
) -> list[dict[str, Any]]:
    """Ids given to statements without one; 409 for an id stored with other content; those
    already stored (same content) left out; every attachment without fileUrl present."""
    seen: set[str] = set()
    for statement in statements:
        statement["id"] = str(statement.get("id") or uuid.uuid4()).lower()
        if statement["id"] in seen:
            raise InvalidInput(f"id: {statement['id']} appears twice in the request")
        seen.add(statement["id"])
        for sha2 in attachment_shas(statement):
            if sha2 not in payloads.parts:
                raise InvalidInput(f"attachments: no part with the sha2 {sha2} was sent")
    stored = await existing(conn, list(seen))
    fresh = []
    for statement in statements:
        before = stored.get(statement["id"])
        if before is None:
            fresh.append(statement)
        elif comparable(before, timestamp="timestamp" in statement) != comparable(statement):
            raise Conflict(f"statement {statement['id']} exists with other content")
    return fresh


async def _void(conn: AsyncConnection[Any], statement: dict[str, Any]) -> str | None:
    if statement["verb"]["id"] != VOIDED:
        return None
    target = str(statement["object"]["id"]).lower()
    cur = await tuples(conn).execute(
        "select verb_id from lrs.statements where statement_id = %s for update", (target,)
    )
    row = await cur.fetchone()
    if row is not None and row[0] == VOIDED:
        raise InvalidInput("object.id: a voiding statement cannot void another voiding statement")
    await conn.execute("update lrs.statements set voided = true where statement_id = %s", (target,))
    return target


async def _define(conn: AsyncConnection[Any], statement: dict[str, Any]) -> None:
    """Remember the activities' definitions (the latest wins, merged) for GET /xapi/activities."""
    for activity in _activities(statement):
        definition = activity.get("definition", {})
        await conn.execute(
            "insert into lrs.activities (activity_id, definition) values (%s, %s::jsonb)"
            " on conflict (activity_id) do update set definition = lrs.activities.definition"
            " || excluded.definition"
            " || jsonb_strip_nulls(jsonb_build_object("
            "   'name', (lrs.activities.definition -> 'name') || (excluded.definition -> 'name'),"
            "   'description', (lrs.activities.definition -> 'description')"
            "     || (excluded.definition -> 'description'))),"
            " updated_at = now()",
            (activity["id"], msgspec.json.encode(definition).decode()),
        )


def _event(row: dict[str, Any], statement: dict[str, Any], voids: str | None) -> Any:
    result = statement.get("result", {})
    progress = result.get("extensions", {}).get(PROGRESS_EXTENSION)
    scaled = result.get("score", {}).get("scaled")
    return LearningRecordedV1(
        record_id=row["statement_id"],
        student_id=row["user_id"],
        actor_id=row["user_id"] or row["actor_ifi"],
        verb=row["verb"],
        verb_id=row["verb_id"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        activity_id=row["activity_id"],
        registration=row["registration"],
        class_id=row["class_id"],
        score=float(scaled) if scaled is not None else None,
        success=result.get("success"),
        duration_seconds=duration_seconds(result.get("duration")),
        progress=row["progress"] if row["progress"] is not None else (
            progress / 100 if isinstance(progress, (int, float)) else None
        ),
        completion=result.get("completion"),
        voids_record_id=voids,
        credential_id=row["credential_id"],
        recorded_at=row["stored_at"],
    )  # fmt: skip


def _context_lists(statement: dict[str, Any]) -> None:
    """Context activities are kept (and returned) as lists, even when one was sent bare."""
    activities = statement.get("context", {}).get("contextActivities", {})
    for key, value in list(activities.items()):
        if isinstance(value, dict):
            activities[key] = [value]
    if statement.get("object", {}).get("objectType") == "SubStatement":
        _context_lists(statement["object"])


async def store(
    conn: AsyncConnection[Any],
    statement: dict[str, Any],
    writer: Writer,
    payloads: Payloads,
    platform: Platform | None = None,
) -> None:
    """Store one validated, prepared statement (id set, not yet stored) with its event."""
    now = datetime.now(UTC)
    _context_lists(statement)
    statement["stored"] = now.isoformat()
    statement.setdefault("timestamp", statement["stored"])
    statement["authority"] = writer.authority
    statement.setdefault("version", XAPI_VERSION)
    obj = statement["object"]
    kind = obj.get("objectType", "Activity")
    activity_id = obj["id"] if kind == "Activity" else None
    class_id = writer.class_id or statement.get("context", {}).get("extensions", {}).get(
        CLASS_EXTENSION
    )
    if not isinstance(class_id, str) or not UUID_RE.match(class_id):
        class_id = None
    agent_keys = [ag.actor_key(statement["actor"])]
    if kind in ("Agent", "Group"):
        agent_keys.append(ag.actor_key(obj))
    row = {
        "statement_id": statement["id"],
        "actor_ifi": agent_keys[0],
        "user_id": await _linked_user(conn, statement["actor"]),
        "verb_id": statement["verb"]["id"],
        "verb": short_verb(statement["verb"]["id"]),
        "object_type": kind.lower(),
        "object_id": str(obj.get("id") or agent_keys[-1]),
        "activity_id": activity_id,
        "registration": statement.get("context", {}).get("registration"),
        "class_id": class_id,
        "credential_id": writer.credential_id,
        "stored_at": now,
        "progress": None,
    }
    if platform is not None:
        row |= {"object_type": platform.object_type, "object_id": platform.object_id,
                "user_id": platform.user_id, "class_id": platform.class_id,
                "progress": platform.progress}  # fmt: skip
    voids = await _void(conn, statement)
    await conn.execute(
        "insert into lrs.statements (statement_id, statement, actor_ifi, agents, user_id, verb,"
        " verb_id, object_type, object_id, activity_id, registration, class_id, related_agents,"
        " related_activities, credential_id, voids, stored_at) values (%s, %s::jsonb, %s, %s,"
        " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            row["statement_id"], msgspec.json.encode(statement).decode(), row["actor_ifi"],
            agent_keys, row["user_id"], row["verb"], row["verb_id"], row["object_type"],
            row["object_id"], activity_id, row["registration"], class_id,
            _agents(statement), sorted({a["id"] for a in _activities(statement)}),
            writer.credential_id, voids, now,
        ),
    )  # fmt: skip
    for sha2 in set(attachment_shas(statement, with_url=True)) & set(payloads.parts):
        content_type, content = payloads.parts[sha2]
        await conn.execute(
            "insert into lrs.attachments (statement_id, sha2, content_type, content)"
            " values (%s, %s, %s, %s)",
            (row["statement_id"], sha2, content_type, content),
        )
    await _define(conn, statement)
    await outbox.append(conn, _event(row, statement, voids), now)


async def store_all(
    conn: AsyncConnection[Any],
    statements: list[dict[str, Any]],
    writer: Writer,
    payloads: Payloads,
) -> list[str]:
    """Store a request's statements (all or none: the caller's transaction); their ids."""
    for statement in await prepare(conn, statements, payloads):
        await store(conn, statement, writer, payloads)
    return [s["id"] for s in statements]
