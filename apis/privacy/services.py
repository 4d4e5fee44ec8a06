"""Privacy requests for the API: rows of `privacy.requests` (the library `privacy.requests` is
the synchronous twin used by the CLI and the Dagster job that runs them)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apis.privacy.schemas import DownloadLink, PrivacyRequest
from apis.state import AppState
from core.errors import Conflict, NotFound
from privacy.objects import Objects

LINK_SECONDS = 300

_COLUMNS = (
    "r.request_id::text as request_id, r.kind, r.user_id::text as user_id, r.requested_by,"
    " r.status, r.step, r.summary, r.error, r.requested_at, r.finished_at,"
    " r.archive_key is not null and r.status = 'done' as download_ready,"
    " coalesce((select array_agg(s.step order by s.done_at) from privacy.request_steps s"
    " where s.request_id = r.request_id), '{}') as steps_done"
)


def _request(row: dict[str, Any]) -> PrivacyRequest:
    return PrivacyRequest(
        request_id=row["request_id"],
        kind=row["kind"],
        user_id=row["user_id"],
        requested_by=row["requested_by"],
        status=row["status"],
        step=row["step"],
        steps_done=list(row["steps_done"] or []),
        summary=dict(row["summary"] or {}),
        error=row["error"],
        requested_at=row["requested_at"],
        finished_at=row["finished_at"],
        download_ready=bool(row["download_ready"]),
    )


async def create(
    state: AppState, kind: str, user_id: str, requested_by: str, request_id: str
) -> PrivacyRequest:
    """A new request for the person (404 naming `user_id` when there is no such account); an
    open request of the same kind about her is returned instead of a second one."""
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select 1 from users.accounts where user_id = %s for share", (user_id,)
        )
        if await cur.fetchone() is None:
            raise NotFound(f"user_id: no account {user_id}")
        cur = await conn.execute(
            "select request_id::text as request_id from privacy.requests where user_id = %s"
            " and kind = %s and status in ('requested', 'running')"
            " order by requested_at limit 1",
            (user_id, kind),
        )
        existing = await cur.fetchone()
        if existing is None:
            await conn.execute(
                "insert into privacy.requests (request_id, kind, user_id, requested_by)"
                " values (%s, %s, %s, %s)",
                (request_id, kind, user_id, requested_by),
            )
        else:
            request_id = existing["request_id"]
    found = await load(state, request_id)
    assert found is not None
    return found


async def load(state: AppState, request_id: str) -> PrivacyRequest | None:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from privacy.requests r where r.request_id = %s", (request_id,)
        )
        row = await cur.fetchone()
    return _request(row) if row is not None else None


async def recent(
    state: AppState, kind: str | None, status: str | None, limit: int
) -> list[PrivacyRequest]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from privacy.requests r"
            " where (%(kind)s::text is null or r.kind = %(kind)s)"
            " and (%(status)s::text is null or r.status = %(status)s)"
            " order by r.requested_at desc, r.request_id limit %(limit)s",
            {"kind": kind, "status": status, "limit": limit},
        )
        rows = await cur.fetchall()
    return [_request(row) for row in rows]


async def download_link(state: AppState, request_id: str, seconds: int) -> DownloadLink:
    """A presigned link to a finished export (404 if no such export, 409 if not ready)."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select kind, status, archive_key from privacy.requests where request_id = %s",
            (request_id,),
        )
        row = await cur.fetchone()
    if row is None or row["kind"] != "export":
        raise NotFound(f"request_id: no export request {request_id}")
    if row["status"] != "done" or row["archive_key"] is None:
        raise Conflict(f"request_id: export {request_id} is {row['status']}, not ready yet")
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    url = await asyncio.to_thread(Objects(state.settings).presign, row["archive_key"], seconds)
    return DownloadLink(request_id, url, expires)


def new_request_id() -> str:
    return str(uuid.uuid4())
