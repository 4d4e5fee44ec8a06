"""Files follow the rights of what holds them: who may attach a file to a holder, and who may
download it, is the policy's answer on the holder (lesson, item, submission)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.learning import lessons, services
from apis.state import AppState
from core.errors import InvalidInput, NotFound
from core.ids import parse_uuid

# holder_type -> (check for upload, check for download); filled by the services that own holders
# (assignments registers "submission" when it is served).
UploadCheck = Callable[[AppState, Principal, str], Awaitable[None]]
DownloadCheck = Callable[[AppState, Principal, dict[str, Any]], Awaitable[None]]
HOLDERS: dict[str, tuple[UploadCheck, DownloadCheck]] = {}


async def _lesson_upload(app_state: AppState, principal: Principal, lesson_id: str) -> None:
    row = await lessons.lesson_row(app_state, lesson_id)
    await app_state.policy.authorize(
        principal, "learning.lesson.update", Resource("lesson", lesson_id, row["owner_id"], None)
    )


async def _lesson_download(
    app_state: AppState, principal: Principal, media: dict[str, Any]
) -> None:
    lesson_id = media["holder_id"]
    row = await lessons.lesson_row(app_state, lesson_id)
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
    published = await lessons.published_attachments(app_state, row)
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


# A student may download an item's file once one of her attempts was shown the item (every item
# of a fixed form; the items selected for her in an adaptive exam) in a version that holds the file.
# The class of that exam is what the policy then checks.
_SHOWN_IN_CLASS = """
select e.class_id::text as class_id
from exams.attempts as a
join exams.exams as e on e.exam_id = a.exam_id
where a.student_id = %(user)s and e.class_id is not null
  and ((e.kind = 'fixed' and %(item)s = any(e.item_ids))
       or exists (select 1 from exams.selections as s
                  where s.attempt_id = a.attempt_id and s.item_id = %(item)s))
  and exists (select 1 from content.item_versions as v
              where v.item_id = %(item)s
                and v.media @> jsonb_build_array(jsonb_build_object('media_id', %(media)s::text)))
limit 1
"""


async def _class_shown_in(
    app_state: AppState, user_id: str, item_id: str, media_id: str
) -> str | None:
    async with app_state.pool.connection() as conn:
        cur = await conn.execute(
            _SHOWN_IN_CLASS, {"user": user_id, "item": item_id, "media": media_id}
        )
        row = await cur.fetchone()
    return None if row is None else str(row["class_id"])


async def _item_download(app_state: AppState, principal: Principal, media: dict[str, Any]) -> None:
    item_id = media["holder_id"]
    owner = await _item_owner(app_state, item_id)
    class_id = None
    if principal.role == "student":
        class_id = await _class_shown_in(app_state, principal.user_id, item_id, media["media_id"])
    await app_state.policy.authorize(
        principal, "learning.media.read", Resource("item", item_id, owner, class_id)
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
    holder_id = parse_uuid(holder_id, "holder_id")
    await _checks(holder_type)[0](app_state, principal, holder_id)
    return holder_id


async def authorize_download(
    app_state: AppState, principal: Principal, media: dict[str, Any]
) -> None:
    await _checks(media["holder_type"])[1](app_state, principal, media)
