"""State, Activity Profile and Agent Profile documents, with the xAPI concurrency rules.

A document is keyed by (kind, activityId, agent IFI, registration, stateId/profileId); missing
parts are ''. ETag = SHA-1 of the content. PUT replaces, POST merges JSON objects, DELETE removes;
`If-Match` / `If-None-Match` are honoured (412 when they fail), and a profile PUT without either
header over an existing document is a 409 (the specification's lost-update guard).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from apis.lrs.db import tuples
from core.errors import Conflict, DomainError, InvalidInput


class PreconditionFailed(DomainError):
    status = 412


@dataclass(frozen=True)
class Key:
    kind: str  # state | activity_profile | agent_profile
    activity_id: str = ""
    agent_ifi: str = ""
    registration: str = ""
    document_id: str = ""

    def where(self, *, with_id: bool = True) -> tuple[str, list[Any]]:
        sql = "kind = %s and activity_id = %s and agent_ifi = %s and registration = %s"
        args: list[Any] = [self.kind, self.activity_id, self.agent_ifi, self.registration]
        if with_id:
            sql += " and document_id = %s"
            args.append(self.document_id)
        return sql, args


@dataclass(frozen=True)
class Document:
    content: bytes
    content_type: str
    etag: str
    updated_at: datetime


@dataclass(frozen=True)
class Preconditions:
    if_match: str | None = None
    if_none_match: str | None = None

    def check(self, current: Document | None, *, required: bool) -> None:
        etag = current.etag if current else None
        if self.if_match is not None:
            wanted = {t.strip().strip('"') for t in self.if_match.split(",")}
            if etag is None or ("*" not in wanted and etag not in wanted):
                raise PreconditionFailed("If-Match: the document's ETag does not match")
        if self.if_none_match is not None:
            unwanted = {t.strip().strip('"') for t in self.if_none_match.split(",")}
            if etag is not None and ("*" in unwanted or etag in unwanted):
                raise PreconditionFailed("If-None-Match: the document exists")
        if required and self.if_match is None and self.if_none_match is None:
            if current is not None:
                raise Conflict(
                    "If-Match: the document exists; send If-Match (its ETag) or If-None-Match"
                )
            raise InvalidInput("If-None-Match: send If-None-Match: * to create a profile document")


def etag_of(content: bytes) -> str:
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def get(conn: AsyncConnection[Any], key: Key) -> Document | None:
    sql, args = key.where()
    cur = await tuples(conn).execute(
        f"select content, content_type, etag, updated_at from lrs.documents where {sql}", args
    )
    row = await cur.fetchone()
    return Document(bytes(row[0]), row[1], row[2], row[3]) if row else None


async def ids(conn: AsyncConnection[Any], key: Key, since: datetime | None) -> list[str]:
    sql, args = key.where(with_id=False)
    if since is not None:
        sql += " and updated_at > %s"
        args.append(since)
    cur = await tuples(conn).execute(
        f"select document_id from lrs.documents where {sql} order by document_id", args
    )
    return [r[0] for r in await cur.fetchall()]


async def _write(
    conn: AsyncConnection[Any], key: Key, content: bytes, content_type: str, user_id: str | None
) -> None:
    await conn.execute(
        "insert into lrs.documents (kind, activity_id, agent_ifi, registration, document_id,"
        " user_id, content_type, content, etag, updated_at) values"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " on conflict (kind, activity_id, agent_ifi, registration, document_id) do update set"
        " user_id = excluded.user_id, content_type = excluded.content_type,"
        " content = excluded.content, etag = excluded.etag, updated_at = excluded.updated_at",
        (
            key.kind, key.activity_id, key.agent_ifi, key.registration, key.document_id,
            user_id, content_type, content, etag_of(content), datetime.now(UTC),
        ),
    )  # fmt: skip


async def _current(conn: AsyncConnection[Any], key: Key) -> Document | None:
    sql, args = key.where()
    cur = await tuples(conn).execute(
        f"select content, content_type, etag, updated_at from lrs.documents where {sql} for update",
        args,
    )
    row = await cur.fetchone()
    return Document(bytes(row[0]), row[1], row[2], row[3]) if row else None


def _json_object(content: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(content)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: must be a JSON object to be merged")
    return value


async def put(
    conn: AsyncConnection[Any],
    key: Key,
    content: bytes,
    content_type: str,
    pre: Preconditions,
    user_id: str | None,
) -> None:
    current = await _current(conn, key)
    pre.check(current, required=key.kind != "state")
    await _write(conn, key, content, content_type, user_id)


async def post(
    conn: AsyncConnection[Any],
    key: Key,
    content: bytes,
    content_type: str,
    pre: Preconditions,
    user_id: str | None,
) -> None:
    """Create, or merge a JSON object into the stored JSON object (top-level keys replaced)."""
    current = await _current(conn, key)
    pre.check(current, required=False)
    if current is None:
        if is_json(content_type):
            _json_object(content, "body")
        await _write(conn, key, content, content_type, user_id)
        return
    if not is_json(content_type) or not is_json(current.content_type):
        raise InvalidInput("Content-Type: merging needs application/json on both documents")
    merged = _json_object(current.content, "stored document") | _json_object(content, "body")
    await _write(conn, key, msgspec.json.encode(merged), "application/json", user_id)


async def delete(conn: AsyncConnection[Any], key: Key, pre: Preconditions) -> None:
    current = await _current(conn, key)
    if pre.if_match is not None or pre.if_none_match is not None:
        pre.check(current, required=False)
    sql, args = key.where()
    await conn.execute(f"delete from lrs.documents where {sql}", args)


async def delete_all(conn: AsyncConnection[Any], key: Key) -> None:
    """Every state document of an activity, agent (and registration)."""
    sql, args = key.where(with_id=False)
    await conn.execute(f"delete from lrs.documents where {sql}", args)
