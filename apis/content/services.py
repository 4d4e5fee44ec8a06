"""The item bank: teachers own their items; every edit is a new immutable version. IRT
parameters (versioned per calibration, one live row per item) are in `apis.content.parameters`,
CSV import and export in `apis.content.transfer`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
from psycopg import AsyncConnection

from apis.content import media_refs
from apis.content.parameters import (
    check_parameters,
    insert_parameters,
    live_parameters,
    parameters_of,
    promote,
)
from apis.content.schemas import (
    CreateItemRequest,
    ImportItem,
    Item,
    ItemPage,
    ItemVersion,
    MediaRef,
    Parameters,
    ParametersIn,
    UpdateItemRequest,
)
from apis.state import AppState
from core import outbox
from core.db import item_parameters_lock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import (
    ItemCreatedV1,
    ItemUpdatedV1,
)
from core.ids import new_id

_COLUMNS = (
    "item_id::text, owner_id::text, stem, options, answer_key, skills, status, created_at,"
    " version, scoring, media, updated_at"
)


def _media(raw: Any) -> list[MediaRef]:
    return msgspec.convert(raw or [], list[MediaRef])


def _item(row: dict[str, Any], params: dict[str, Any] | None = None) -> Item:
    return Item(
        row["item_id"],
        row["owner_id"],
        row["stem"],
        list(row["options"]),
        row["answer_key"],
        list(row["skills"]),
        row["status"],
        row["created_at"],
        row["version"],
        row["scoring"],
        _media(row["media"]),
        row["updated_at"],
        parameters_of(params) if params else None,
    )


# ------------------------------------------------------------------------------ validation
def check_answer(scoring: str, options: list[str], answer_key: int | None, where: str = "") -> None:
    """Keyed items need a key among the options; graded items must not have one."""
    if scoring == "key":
        if answer_key is None:
            raise InvalidInput(f"{where}answer_key is required for keyed items (scoring 'key')")
        if answer_key >= len(options):
            raise InvalidInput(
                f"{where}answer_key {answer_key} is out of range for {len(options)} options "
                f"(0 to {len(options) - 1})"
            )
    elif answer_key is not None:
        raise InvalidInput(
            f"{where}graded items score the chosen category; leave answer_key out (null)"
        )


# ------------------------------------------------------------------------------ writes
async def _insert_version(conn: AsyncConnection[Any], row: dict[str, Any], by: str) -> None:
    await conn.execute(
        "insert into content.item_versions (item_id, version, stem, options, answer_key, scoring,"
        " skills, media, status, created_by) values (%s, %s, %s, %s::jsonb, %s, %s, %s, %s::jsonb,"
        " %s, %s)",
        (
            row["item_id"],
            row["version"],
            row["stem"],
            json.dumps(list(row["options"])),
            row["answer_key"],
            row["scoring"],
            list(row["skills"]),
            json.dumps(row["media"] if isinstance(row["media"], list) else []),
            row["status"],
            by,
        ),
    )


async def insert_item(
    conn: AsyncConnection[Any],
    owner_id: str,
    data: CreateItemRequest | ImportItem,
    item_id: uuid.UUID,
    where: str = "",
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    media = await media_refs.resolve(conn, str(item_id), data.media, where)
    cur = await conn.execute(
        "insert into content.items (item_id, owner_id, stem, options, answer_key, skills, status,"
        " scoring, media) values (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s::jsonb)"
        f" returning {_COLUMNS}",
        (
            item_id,
            owner_id,
            data.stem,
            json.dumps(data.options),
            data.answer_key,
            sorted(set(data.skills)),
            data.status,
            data.scoring,
            json.dumps(media),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    await _insert_version(conn, row, owner_id)
    await outbox.append(
        conn,
        ItemCreatedV1(
            item_id=str(item_id),
            owner_id=owner_id,
            skills=list(row["skills"]),
            created_at=row["created_at"],
            version=row["version"],
            status=row["status"],
            scoring=row["scoring"],
            option_count=len(data.options),
        ),
    )
    params = None
    if data.parameters is not None:
        params = await insert_parameters(conn, str(item_id), data.parameters, data.scoring, row)
    return dict(row), params


async def create_item(state: AppState, owner_id: str, data: CreateItemRequest) -> Item:
    check_answer(data.scoring, data.options, data.answer_key)
    if data.parameters is not None:
        check_parameters(data.parameters, data.scoring, len(data.options))
    async with state.pool.connection() as conn, conn.transaction():
        row, params = await insert_item(conn, owner_id, data, new_id())
    return _item(row, params)


async def load_item(
    conn: AsyncConnection[Any], item_id: str, *, lock: bool = False
) -> dict[str, Any]:
    cur = await conn.execute(
        f"select {_COLUMNS} from content.items where item_id = %s"
        + (" for update" if lock else ""),
        (item_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return dict(row)


async def get_item(state: AppState, item_id: str) -> Item:
    async with state.pool.connection() as conn:
        row = await load_item(conn, item_id)
        return _item(row, await live_parameters(conn, item_id))


async def update_item(state: AppState, item_id: str, by: str, data: UpdateItemRequest) -> Item:
    """Apply the changes as a new version (no change = no new version)."""
    async with state.pool.connection() as conn, conn.transaction():
        row = await load_item(conn, item_id, lock=True)
        if data.expected_version is not None and data.expected_version != row["version"]:
            raise Conflict(
                f"item {item_id} is at version {row['version']}, not {data.expected_version}; "
                "reload it and retry"
            )
        new = dict(row)
        for name in ("stem", "options", "answer_key", "skills", "status"):
            value = getattr(data, name)
            if value is not None:
                new[name] = sorted(set(value)) if name == "skills" else value
        if data.media is not None:
            new["media"] = await media_refs.resolve(conn, item_id, data.media)
        if data.options is not None and len(data.options) != len(row["options"]):
            cur = await conn.execute(
                "select 1 from content.item_parameters where item_id = %s limit 1", (item_id,)
            )
            if await cur.fetchone() is not None and row["scoring"] == "graded":
                raise InvalidInput(
                    "changing the number of categories of a calibrated graded item would "
                    "invalidate its parameters; create a new item instead"
                )
        check_answer(new["scoring"], list(new["options"]), new["answer_key"])
        keys = ("stem", "options", "answer_key", "skills", "status", "media")
        if all(_same(new[k], row[k]) for k in keys):
            return _item(row, await live_parameters(conn, item_id))
        cur = await conn.execute(
            "update content.items set stem = %s, options = %s::jsonb, answer_key = %s, skills = %s,"
            " status = %s, media = %s::jsonb, version = version + 1, updated_at = now()"
            f" where item_id = %s returning {_COLUMNS}",
            (
                new["stem"],
                json.dumps(list(new["options"])),
                new["answer_key"],
                list(new["skills"]),
                new["status"],
                json.dumps(new["media"]),
                item_id,
            ),
        )
        updated = await cur.fetchone()
        assert updated is not None
        await _insert_version(conn, updated, by)
        await outbox.append(
            conn,
            ItemUpdatedV1(
                item_id=item_id,
                owner_id=updated["owner_id"],
                version=updated["version"],
                status=updated["status"],
                skills=list(updated["skills"]),
                updated_at=updated["updated_at"],
                scoring=updated["scoring"],
                option_count=len(new["options"]),
            ),
        )
        return _item(updated, await live_parameters(conn, item_id))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


async def item_versions(state: AppState, item_id: str) -> list[ItemVersion]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select item_id::text, version, stem, options, answer_key, scoring, skills, media,"
            " status, created_by::text, created_at from content.item_versions"
            " where item_id = %s order by version",
            (item_id,),
        )
        rows = await cur.fetchall()
    return [
        ItemVersion(
            r["item_id"],
            r["version"],
            r["stem"],
            list(r["options"]),
            r["answer_key"],
            r["scoring"],
            list(r["skills"]),
            _media(r["media"]),
            r["status"],
            r["created_by"],
            r["created_at"],
        )
        for r in rows
    ]


async def list_items(
    state: AppState,
    owner_id: str,
    *,
    status: str | None,
    skill: str | None,
    limit: int,
    after: str | None,
) -> ItemPage:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {', '.join('i.' + c for c in _COLUMNS.split(', '))},"
            " to_jsonb(p) - 'item_id' as live from content.items i"
            " left join content.item_parameters p on p.item_id = i.item_id and p.is_live"
            " where i.owner_id = %s and (%s::text is null or i.status = %s)"
            " and (%s::text is null or %s = any(i.skills))"
            " and (%s::uuid is null or i.item_id > %s::uuid)"
            " order by i.item_id limit %s",
            (owner_id, status, status, skill, skill, after, after, limit + 1),
        )
        rows = await cur.fetchall()
    items = [_item(r, _live_from_json(r["live"])) for r in rows[:limit]]
    return ItemPage(items, items[-1].item_id if len(rows) > limit else None)


def _live_from_json(live: dict[str, Any] | None) -> dict[str, Any] | None:
    if not live:
        return None
    from datetime import datetime

    out = dict(live)
    for key in ("created_at", "promoted_at"):
        if out.get(key) is not None:
            out[key] = datetime.fromisoformat(out[key])
    out["param_id"] = str(out["param_id"])
    return out


# ------------------------------------------------------------------------------ parameters


async def add_parameters(state: AppState, item_id: str, data: ParametersIn) -> Parameters:
    async with state.pool.connection() as conn, conn.transaction():
        row = await load_item(conn, item_id)
        return parameters_of(await insert_parameters(conn, item_id, data, row["scoring"], row))


async def promote_parameters(state: AppState, item_id: str, version: int) -> Parameters:
    async with state.pool.connection() as conn, conn.transaction():
        await load_item(conn, item_id)
        await item_parameters_lock(item_id).hold(conn)
        return parameters_of(await promote(conn, item_id, version))
