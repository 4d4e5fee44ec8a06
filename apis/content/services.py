"""The item bank: teachers create items and own them."""

from __future__ import annotations

import json
from typing import Any

from apis.content.schemas import CreateItemRequest, Item
from apis.state import AppState
from core import outbox
from core.errors import InvalidInput, NotFound
from core.events import ItemCreatedV1
from core.ids import new_id

_COLUMNS = "item_id::text, owner_id::text, stem, options, answer_key, skills, status, created_at"


def _item(row: dict[str, Any]) -> Item:
    return Item(
        row["item_id"],
        row["owner_id"],
        row["stem"],
        list(row["options"]),
        row["answer_key"],
        list(row["skills"]),
        row["status"],
        row["created_at"],
    )


async def create_item(state: AppState, owner_id: str, data: CreateItemRequest) -> Item:
    if data.answer_key >= len(data.options):
        raise InvalidInput(
            f"answer_key {data.answer_key} is out of range for {len(data.options)} options "
            f"(0 to {len(data.options) - 1})"
        )
    item_id = new_id()
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "insert into content.items (item_id, owner_id, stem, options, answer_key, skills, status)"
            f" values (%s, %s, %s, %s::jsonb, %s, %s, %s) returning {_COLUMNS}",
            (
                item_id,
                owner_id,
                data.stem,
                json.dumps(data.options),
                data.answer_key,
                sorted(set(data.skills)),
                data.status,
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        await outbox.append(
            conn,
            ItemCreatedV1(
                item_id=str(item_id),
                owner_id=owner_id,
                skills=list(row["skills"]),
                created_at=row["created_at"],
            ),
        )
    return _item(row)


async def get_item(state: AppState, item_id: str) -> Item:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from content.items where item_id = %s", (item_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"item {item_id} not found")
    return _item(row)
