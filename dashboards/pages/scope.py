"""What the report pages share: the page's row filter carried over to the other marts a page
reads, and the names a caller may see for the people in her rows.

A report page has one policy dataset (governance/data/dashboards.json) but reads several marts.
`scoped_sql` applies the page's row filter to another table by mapping the dataset's columns to
that table's columns; a condition whose column the table does not have is dropped, which only
ever narrows the view (an OR of fewer IN-lists), never widens it. No condition left -> false.

Names: the marts built from the lake carry pseudonymous keys, never person ids (HMAC of the id
with the lake's key, lake/pseudonym.py). `member_names` maps both the id and the key of the
members of the given classes to their display names (computed at render time), so a teacher's
page shows her own students' names and nobody else's, and names never enter `analytics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg import sql

from dashboards.access import PolicyUnavailable, row_filter_sql
from dashboards.pages.base import PageContext
from governance import RowCondition, RowFilter
from lake.pseudonym import Pseudonymizer


def scoped_sql(
    row_filter: RowFilter, columns: Mapping[str, str], *, alias: str
) -> tuple[sql.Composable, list[Any]]:
    """The row filter as a predicate over `alias`, dataset column -> `columns[column]`."""
    if row_filter.mode == "all":
        return sql.SQL("true"), []
    if row_filter.mode != "any":
        return sql.SQL("false"), []
    kept = tuple(c for c in row_filter.conditions if c.column in columns)
    if not kept:
        return sql.SQL("false"), []
    renamed = RowFilter("any", tuple(RowCondition(columns[c.column], c.values) for c in kept))
    try:
        return row_filter_sql(renamed, set(columns.values()), table_alias=alias)
    except PolicyUnavailable:  # unreachable: every column was mapped; fail closed anyway
        return sql.SQL("false"), []


async def member_names(ctx: PageContext, class_ids: Iterable[str]) -> dict[str, str]:
    """Display names of the members of `class_ids`, keyed by id and by lake pseudonym."""
    ids = sorted(set(class_ids))
    if not ids:
        return {}
    rows = await ctx.resources.fetch_all(
        "select distinct m.student_id::text as student_id, u.display_name"
        " from classes.memberships m join users.accounts u on u.user_id = m.student_id"
        " where m.class_id::text = any(%s)",
        (ids,),
    )
    names = {str(r["student_id"]): str(r["display_name"]) for r in rows}
    key = ctx.settings.pseudonym_key
    if key:
        pseudonym = Pseudonymizer(key)
        names.update({str(pseudonym(i)): n for i, n in list(names.items())})
    return names


def person_key(ctx: PageContext, user_id: str) -> str | None:
    """The pseudonymous key of a person id, as the lake writes it; None without a lake key."""
    key = ctx.settings.pseudonym_key
    return Pseudonymizer(key)(user_id) if key and user_id else None


async def student_names_by_key(ctx: PageContext, keys: Iterable[str]) -> dict[str, str]:
    """Id -> display name of the students whose pseudonymous key is one of `keys` (an admin's
    pages: every student with data); the keys are computed here from the accounts' ids."""
    wanted = set(keys)
    key = ctx.settings.pseudonym_key
    if not wanted or not key:
        return {}
    pseudonym = Pseudonymizer(key)
    rows = await ctx.resources.fetch_all(
        "select user_id::text as user_id, display_name from users.accounts where role = 'student'"
    )
    return {
        str(r["user_id"]): str(r["display_name"])
        for r in rows
        if pseudonym(str(r["user_id"])) in wanted
    }


async def user_names(ctx: PageContext, user_ids: Iterable[str]) -> dict[str, str]:
    """Display names of the given users (ids the caller may already see)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await ctx.resources.fetch_all(
        "select user_id::text as user_id, display_name from users.accounts"
        " where user_id::text = any(%s)",
        (ids,),
    )
    return {str(r["user_id"]): str(r["display_name"]) for r in rows}


def short_id(value: str | None) -> str:
    """The tail of an id (ids are UUIDv7: their heads are timestamps, alike within a batch)."""
    return "—" if not value else "…" + value[-8:]
