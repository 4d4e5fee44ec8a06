"""Files follow the rights of what holds them: who may attach a file to a holder, and who may
download it, is the policy's answer on the holder (lesson, item, submission)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.learning import services
from apis.state import AppState
from core.errors import InvalidInput, NotFound

# holder_type -> (check for upload, check for download); filled by the services that own holders
# (assignments registers "submission" when it is served).
UploadCheck = Callable[[AppState, Principal, str], Awaitable[None]]
DownloadCheck = Callable[[AppState, Principal, dict[str, Any]], Awaitable[None]]
HOLDERS: dict[str, tuple[UploadCheck, DownloadCheck]] = {}


async def _lesson_upload(app_state: AppState, principal: Principal, lesson_id: str) -> None:
    row = await services.lesson_row(app_state, lesson_id)
    await app_state.policy.authorize(
        principal, "learning.lesson.update", Resource("lesson", lesson_id, row["owner_id"], None)
    )


async def _lesson_download(
    app_state: AppState, principal: Principal, media: dict[str, Any]
) -> None:
    lesson_id = media["holder_id"]
    row = await services.lesson_row(app_state, lesson_id)
    course = await services.get_course_row(app_state, row["course_id"])
    if principal.user_id == course.owner_id or principal.role == "admin":
        await app_state.policy.authorize(
            principal, "learning.media.read", Resource("lesson", lesson_id, course.owner_id, None)
        )
        return
    class_id = await services.access_class(app_state, course.course_id, principal.user_id)
    await app_state.policy.authorize(
        principal, "learning.media.read", Resource("lesson", lesson_id, course.owner_id, class_id)
    )
    # Readers other than its teacher get the files of the published version only.
    published = await services.published_attachments(app_state, row)
    if course.archived or media["media_id"] not in published:
        raise NotFound(f"media {media['media_id']} not found")


async def _item_owner(app_state: AppState, item_id: str) -> str:
    async with app_state.pool.connection() as conn:
        cur = await conn.execute(
            "select owner_id::text from content.items where item_id = %s", (item_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return str(row["owner_id"])


async def _item_upload(app_state: AppState, principal: Principal, item_id: str) -> None:
    owner = await _item_owner(app_state, item_id)
    await app_state.policy.authorize(
        principal, "content.item.update", Resource("item", item_id, owner, None)
    )


async def _item_download(app_state: AppState, principal: Principal, media: dict[str, Any]) -> None:
    item_id = media["holder_id"]
    owner = await _item_owner(app_state, item_id)
    await app_state.policy.authorize(
        principal, "learning.media.read", Resource("item", item_id, owner, None)
    )


HOLDERS["lesson"] = (_lesson_upload, _lesson_download)
HOLDERS["item"] = (_item_upload, _item_download)


def _checks(holder_type: str) -> tuple[UploadCheck, DownloadCheck]:
    checks = HOLDERS.get(holder_type)
    if checks is None:
        raise InvalidInput(f"holder_type: {holder_type!r} cannot hold files on this server")
    return checks


async def authorize_upload(
    app_state: AppState, principal: Principal, holder_type: str, holder_id: str
) -> str:
    holder_id = services.parse_uuid(holder_id, "holder_id")
    await _checks(holder_type)[0](app_state, principal, holder_id)
    return holder_id


async def authorize_download(
    app_state: AppState, principal: Principal, media: dict[str, Any]
) -> None:
    await _checks(media["holder_type"])[1](app_state, principal, media)
