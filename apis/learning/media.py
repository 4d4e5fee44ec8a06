"""Media uploads and downloads (core.media does the S3 side).

1. `request_upload`: the declared type and size are checked against the per-type limits, a
   pending row is written with its outbox event, and a presigned PUT is answered.
2. `finalise`: the stored object is read (outside any transaction: a video may take a while)
   and compared with the declaration; a match makes the row `ready`, anything else deletes the
   object and the row and answers 400 (409 when nothing was uploaded).
3. `download`: a presigned GET valid for `media_download_seconds`, issued only after the caller
   passed the policy on whatever holds the file (see controllers).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from apis.learning.schemas import Download, MediaFile, UploadRequest, UploadTicket
from apis.state import AppState
from core import outbox
from core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from core.events import (
    MediaChangedV1,
    MediaFinalisedV1,
    MediaRejectedV1,
    MediaUploadIssuedV1,
)
from core.ids import new_id
from core.media import CONTENT_TYPES, SIZE_LIMITS, MediaStore, signature_matches

_COLUMNS = (
    "media_id::text, user_id::text, holder_type, holder_id::text, kind, content_type,"
    " size_bytes, sha256, filename, object_key, status, created_at, upload_expires_at,"
    " finalised_at"
)


def _store(state: AppState) -> MediaStore:
    if not state.media.configured:
        raise ServiceUnavailable("media need an S3 endpoint (DREAMSEED_S3_ENDPOINT)")
    return state.media


def check_declaration(content_type: str, size_bytes: int) -> str:
    """The media kind of a declared upload; 400 naming the field when it is not accepted."""
    kind = CONTENT_TYPES.get(content_type.lower())
    if kind is None:
        raise InvalidInput(
            f"content_type: {content_type!r} is not accepted; use one of "
            + ", ".join(sorted(CONTENT_TYPES))
        )
    limit = SIZE_LIMITS[kind]
    if size_bytes > limit:
        raise InvalidInput(
            f"size_bytes: {size_bytes} is over the limit for {kind} files ({limit} bytes)"
        )
    return kind


def _event(cls: type[MediaChangedV1], row: dict[str, Any], **extra: Any) -> MediaChangedV1:
    return cls(
        media_id=row["media_id"],
        user_id=row["user_id"],
        holder_type=row["holder_type"],
        holder_id=row["holder_id"],
        kind=row["kind"],
        content_type=row["content_type"],
        size_bytes=row["size_bytes"],
        changed_at=extra.pop("changed_at", datetime.now(UTC)),
        **extra,
    )


def media_file(row: dict[str, Any]) -> MediaFile:
    return MediaFile(
        row["media_id"],
        row["holder_type"],
        row["holder_id"],
        row["kind"],
        row["content_type"],
        row["size_bytes"],
        row["sha256"],
        row["filename"],
        row["status"],
        row["created_at"],
        row["finalised_at"],
    )


async def request_upload(state: AppState, user_id: str, data: UploadRequest) -> UploadTicket:
    store = _store(state)
    kind = check_declaration(data.content_type, data.size_bytes)
    media_id = str(new_id())
    key = store.key(media_id)
    seconds = state.settings.media_upload_seconds
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "insert into learning.media (media_id, user_id, holder_type, holder_id, kind,"
            " content_type, size_bytes, sha256, filename, object_key, upload_expires_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)"
            f" returning {_COLUMNS}",
            (
                media_id,
                user_id,
                data.holder_type,
                data.holder_id,
                kind,
                data.content_type.lower(),
                data.size_bytes,
                data.sha256.lower(),
                data.filename,
                key,
                timedelta(seconds=seconds),
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(conn, _event(MediaUploadIssuedV1, row, changed_at=row["created_at"]))
    url = store.presign_put(key, seconds)
    return UploadTicket(
        media_id, url, "PUT", {"Content-Type": row["content_type"]}, row["upload_expires_at"]
    )


async def media_row(state: AppState, media_id: str) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from learning.media where media_id = %s", (media_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"media {media_id} not found")
    return dict(row)


def _mismatch(row: dict[str, Any], stored: Any) -> str | None:
    """What differs between the declaration and the stored object (None: they match)."""
    if stored is None:
        return "no_upload"
    if stored.size != row["size_bytes"]:
        return f"size: {stored.size} bytes stored, {row['size_bytes']} declared"
    if stored.content_type != row["content_type"]:
        return f"content_type: {stored.content_type!r} stored, {row['content_type']!r} declared"
    if not signature_matches(row["content_type"], stored.head):
        return f"content_type: the file's bytes are not a {row['content_type']} file"
    if stored.sha256 != row["sha256"]:
        return "sha256: the stored file's SHA-256 differs from the declared one"
    return None


async def finalise(state: AppState, row: dict[str, Any]) -> MediaFile:
    if row["status"] == "ready":
        return media_file(row)  # finalising twice is harmless
    store = _store(state)
    limit = min(row["size_bytes"], SIZE_LIMITS[row["kind"]])
    stored = await asyncio.to_thread(store.read, row["object_key"], limit)
    problem = _mismatch(row, stored)
    if problem is not None and stored is not None:
        await asyncio.to_thread(store.remove, row["object_key"])
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            f"select {_COLUMNS} from learning.media where media_id = %s for update",
            (row["media_id"],),
        )
        current = await cur.fetchone()
        if current is None:
            raise NotFound(f"media {row['media_id']} not found")
        if current["status"] == "ready":
            return media_file(current)
        if problem is None:
            cur = await conn.execute(
                "update learning.media set status = 'ready', finalised_at = now()"
                f" where media_id = %s returning {_COLUMNS}",
                (row["media_id"],),
            )
            done = await cur.fetchone()
            assert done is not None
            await outbox.append(
                conn, _event(MediaFinalisedV1, done, changed_at=done["finalised_at"])
            )
            return media_file(done)
        await conn.execute("delete from learning.media where media_id = %s", (row["media_id"],))
        reason = "no_upload" if stored is None else problem.split(":")[0] + "_mismatch"
        await outbox.append(conn, _event(MediaRejectedV1, dict(current), reason=reason))
    if stored is None:
        raise Conflict(
            f"media {row['media_id']}: nothing was uploaded; the upload is cancelled, "
            "request a new one and PUT the file before finalising"
        )
    raise InvalidInput(f"upload refused and deleted: {problem}")


def download(state: AppState, row: dict[str, Any]) -> Download:
    if row["status"] != "ready":
        raise NotFound(f"media {row['media_id']} is not finalised")
    seconds = state.settings.media_download_seconds
    url = _store(state).presign_get(row["object_key"], seconds)
    return Download(
        row["media_id"],
        url,
        datetime.now(UTC) + timedelta(seconds=seconds),
        row["kind"],
        row["content_type"],
        row["size_bytes"],
        row["filename"],
    )
