"""Classes: a teacher creates one and shares its join code; students join with the code."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from apis.classes.schemas import Member, Membership, SchoolClass, UpdateClassRequest
from apis.state import AppState
from core import outbox
from core.errors import Conflict, NotFound
from core.events import ClassCreatedV1, ClassJoinedV1, ClassMemberRemovedV1, ClassUpdatedV1
from core.ids import new_id

# No 0/O/1/I: codes are read aloud and typed by children.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_join_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def _class(row: dict[str, Any], *, with_code: bool) -> SchoolClass:
    return SchoolClass(
        row["class_id"],
        row["name"],
        row["teacher_id"],
        row["created_at"],
        row["join_code"] if with_code else None,
        row["archived"],
    )


_COLUMNS = "class_id::text, name, teacher_id::text, join_code, created_at, archived"


async def create_class(state: AppState, teacher_id: str, name: str) -> SchoolClass:
    class_id = new_id()
    async with state.pool.connection() as conn:
        for _ in range(5):  # a join-code collision is rare; retry with a fresh code
            try:
                async with conn.transaction():
                    cur = await conn.execute(
                        "insert into classes.classes (class_id, name, teacher_id, join_code)"
                        f" values (%s, %s, %s, %s) returning {_COLUMNS}",
                        (class_id, name, teacher_id, new_join_code()),
                    )
                    row = await cur.fetchone()
                    assert row is not None
                    await outbox.append(
                        conn,
                        ClassCreatedV1(
                            class_id=str(class_id),
                            teacher_id=teacher_id,
                            created_at=row["created_at"],
                            name=row["name"],
                        ),
                    )
                    return _class(row, with_code=True)
            except psycopg.errors.UniqueViolation:
                continue
    raise RuntimeError("could not allocate a unique join code")


async def join_class(state: AppState, student_id: str, join_code: str) -> Membership:
    """Join by code; joining a class one is already in returns the existing membership."""
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "select class_id, archived from classes.classes where join_code = %s",
            (join_code.strip().upper(),),
        )
        found = await cur.fetchone()
        if found is None:
            raise NotFound("no class has this join code")
        if found["archived"]:
            raise Conflict("this class is archived: it takes no new students")
        cur = await conn.execute(
            "insert into classes.memberships (class_id, student_id) values (%s, %s)"
            " on conflict do nothing returning class_id::text, student_id::text, joined_at",
            (found["class_id"], student_id),
        )
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "select class_id::text, student_id::text, joined_at from classes.memberships"
                " where class_id = %s and student_id = %s",
                (found["class_id"], student_id),
            )
            row = await cur.fetchone()
            assert row is not None
        else:
            await outbox.append(
                conn,
                ClassJoinedV1(
                    class_id=row["class_id"], student_id=student_id, joined_at=row["joined_at"]
                ),
            )
    return Membership(row["class_id"], row["student_id"], row["joined_at"])


async def class_teacher(state: AppState, class_id: str, where: str = "") -> str:
    """The teacher of a class; 404 (the message prefixed by `where`, e.g. "class_id: ") if none."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select teacher_id::text from classes.classes where class_id = %s", (class_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"{where}class {class_id} not found")
    return str(row["teacher_id"])


async def get_class(state: AppState, class_id: str) -> SchoolClass:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS} from classes.classes where class_id = %s", (class_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"class {class_id} not found")
    return _class(row, with_code=True)


async def list_classes(state: AppState, user_id: str) -> list[SchoolClass]:
    """Classes the user teaches (with join codes) or belongs to (without)."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            f"select {_COLUMNS}, teacher_id = %s as teaches from classes.classes"
            " where teacher_id = %s or class_id in"
            " (select class_id from classes.memberships where student_id = %s)"
            " order by created_at",
            (user_id, user_id, user_id),
        )
        rows = await cur.fetchall()
    return [_class(r, with_code=r["teaches"]) for r in rows]


async def class_ids_of(state: AppState, user_id: str) -> list[str]:
    """Classes a user teaches or belongs to: the `class_ids` the policy's subject carries."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select class_id::text from classes.classes where teacher_id = %s"
            " union select class_id::text from classes.memberships where student_id = %s",
            (user_id, user_id),
        )
        return [r["class_id"] for r in await cur.fetchall()]


async def update_class(state: AppState, class_id: str, data: UpdateClassRequest) -> SchoolClass:
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "update classes.classes set name = coalesce(%s, name),"
            " archived = coalesce(%s, archived) where class_id = %s"
            f" returning {_COLUMNS}, now() as updated_at",
            (data.name, data.archived, class_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"class {class_id} not found")
        await outbox.append(
            conn,
            ClassUpdatedV1(
                class_id=class_id,
                teacher_id=row["teacher_id"],
                archived=row["archived"],
                updated_at=row["updated_at"],
                name=row["name"],
            ),
        )
    return _class(row, with_code=True)


async def roster(state: AppState, class_id: str) -> list[Member]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(
            "select m.student_id::text, a.display_name, a.email, m.joined_at"
            " from classes.memberships m join users.accounts a on a.user_id = m.student_id"
            " where m.class_id = %s order by a.display_name, m.student_id",
            (class_id,),
        )
        rows = await cur.fetchall()
    return [Member(r["student_id"], r["display_name"], r["email"], r["joined_at"]) for r in rows]


async def remove_member(state: AppState, class_id: str, student_id: str) -> None:
    """Remove a student from the class (404 when she is not in it). Her work stays."""
    async with state.pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "delete from classes.memberships where class_id = %s and student_id = %s"
            " returning now() as removed_at",
            (class_id, student_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"student {student_id} is not in class {class_id}")
        await outbox.append(
            conn,
            ClassMemberRemovedV1(
                class_id=class_id, student_id=student_id, removed_at=row["removed_at"]
            ),
        )
