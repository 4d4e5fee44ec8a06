"""An item's media, checked where an item is written (create, update, import).

A reference is either a file uploaded for the item through the media service (`media_id`: a
presigned PUT, verified on finalise; downloads follow the item's rights) or an external link
(`uri`, https only: a client renders it, so `javascript:` or plain-http links are refused).
What is stored is resolved: a `media_id` carries the kind of the verified upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from apis.content.schemas import MediaRef
from core.errors import InvalidInput

# Upload kinds (core.media) are the reference kinds; "file" remains for older external links.
_UPLOAD_HINT = (
    "upload it for this item first (POST /api/v1/media/uploads with holder_type 'item' and the "
    "item's id, PUT the file, then POST /api/v1/media/{media_id}/finalise)"
)


def check_shape(ref: MediaRef, where: str) -> None:
    if (ref.media_id is None) == (ref.uri is None):
        raise InvalidInput(
            f"{where}: give either media_id (an uploaded file) or uri (an https link), "
            + ("not both" if ref.media_id else "one of them")
        )
    if ref.uri is not None and (not ref.uri.startswith("https://") or len(ref.uri) <= 8):
        raise InvalidInput(f"{where}.uri: must be an https:// URL")


async def _uploads(conn: AsyncConnection[Any], media_ids: list[str]) -> dict[str, dict[str, Any]]:
    cur = await conn.execute(
        "select media_id::text, holder_type, holder_id::text, kind, status from learning.media"
        " where media_id = any(%s::uuid[])",
        (media_ids,),
    )
    return {r["media_id"]: dict(r) for r in await cur.fetchall()}


async def resolve(
    conn: AsyncConnection[Any], item_id: str, refs: Sequence[MediaRef], where: str = ""
) -> list[dict[str, Any]]:
    """The references to store for item `item_id`; 400 naming the entry when one is wrong."""
    for k, ref in enumerate(refs):
        check_shape(ref, f"{where}media[{k}]")
    wanted = [ref.media_id.lower() for ref in refs if ref.media_id is not None]
    uploads = await _uploads(conn, wanted) if wanted else {}
    resolved: list[dict[str, Any]] = []
    for k, ref in enumerate(refs):
        field = f"{where}media[{k}]"
        if ref.media_id is None:
            resolved.append({"uri": ref.uri, "kind": ref.kind or "image", "alt": ref.alt})
            continue
        media_id = ref.media_id.lower()
        upload = uploads.get(media_id)
        if upload is None or (upload["holder_type"], upload["holder_id"]) != ("item", item_id):
            raise InvalidInput(
                f"{field}.media_id: {media_id} is not a file uploaded for this item; {_UPLOAD_HINT}"
            )
        if upload["status"] != "ready":
            raise InvalidInput(
                f"{field}.media_id: {media_id} is not finalised yet; POST "
                f"/api/v1/media/{media_id}/finalise after the upload"
            )
        if ref.kind is not None and ref.kind != upload["kind"]:
            raise InvalidInput(
                f"{field}.kind: the uploaded file is {upload['kind']!r}, not {ref.kind!r}"
            )
        resolved.append({"media_id": media_id, "kind": upload["kind"], "alt": ref.alt})
    return resolved
