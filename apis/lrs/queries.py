"""Reading statements: by id, by voided id, and by the xAPI query filters with `more` paging.

Visibility comes from the policy (`apis/lrs/access.py`): everything, a class's statements, the
caller's own (a student), or those her credential wrote (`statements/read/mine`); it is one more
SQL condition, so a page never holds a statement the caller may not see.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec
from psycopg import AsyncConnection

from apis.lrs import agents as ag
from apis.lrs import validation as v
from apis.lrs.db import tuples
from core.errors import InvalidInput

PAGE_SIZE: Final = 100
MAX_PAGE: Final = 500
QUERY_PARAMS: Final = frozenset(
    {"agent", "verb", "activity", "registration", "related_activities", "related_agents",
     "since", "until", "limit", "format", "attachments", "ascending"}
)  # fmt: skip
SINGLE_PARAMS: Final = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
FORMATS: Final = ("exact", "ids", "canonical")


@dataclass(frozen=True)
class Visibility:
    """What the caller may read: kind 'all', 'class' (class_ids), 'self' (user_id), 'mine'
    (credential_id)."""

    kind: str
    user_id: str | None = None
    class_ids: tuple[str, ...] = ()
    credential_id: str | None = None

    def condition(self) -> tuple[str, list[Any]]:
        if self.kind == "all":
            return "true", []
        if self.kind == "self":
            return "user_id = %s", [self.user_id]
        if self.kind == "mine":
            return "credential_id = %s", [self.credential_id]
        if self.kind == "class":
            # about a member (student or teacher) of the classes, or about an agent without a
            # platform account stored through them: never about a platform user outside them
            return (
                "(user_id is null and class_id = any(%s::uuid[]) or user_id in (select"
                " student_id from classes.memberships where class_id = any(%s::uuid[]) union"
                " select teacher_id from classes.classes where class_id = any(%s::uuid[])))",
                [list(self.class_ids)] * 3,
            )
        return "false", []


def flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise InvalidInput(f"{name}: must be true or false")
    return value == "true"


def parse_time(params: dict[str, str], name: str) -> datetime | None:
    if name not in params:
        return None
    text = v.timestamp(params[name], name)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name}: must be an ISO 8601 date-time") from None


def check_format(params: dict[str, str]) -> str:
    fmt = params.get("format", "exact")
    if fmt not in FORMATS:
        raise InvalidInput(f"format: must be one of {', '.join(FORMATS)}")
    return fmt


def filters(params: dict[str, str]) -> tuple[list[str], list[Any]]:
    """SQL conditions and arguments of the query filters (each validated, 400 naming it).

    The filters on what a statement is about (agent, verb, activity, registration) also select
    the statements that refer to a matching one (a StatementRef object, voiding statements
    included), as xAPI 1.0.3 asks; since/until and visibility apply to the statement itself."""
    unknown = sorted(set(params) - QUERY_PARAMS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not a parameter of GET statements")
    match, match_args = _matching(params)
    where: list[str] = ["not voided"]
    args: list[Any] = []
    if match:
        condition = " and ".join(match)
        where.append(
            f"(({condition}) or (object_type = 'statementref' and object_id in"
            f" (select t.statement_id::text from lrs.statements t where {condition})))"
        )
        args += match_args + match_args
    for name, op in (("since", ">"), ("until", "<=")):
        at = parse_time(params, name)
        if at is not None:
            where.append(f"stored_at {op} %s")
            args.append(at)
    check_format(params)
    flag(params, "attachments")
    flag(params, "ascending")
    return where, args


def _matching(params: dict[str, str]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    related_agents = flag(params, "related_agents")
    related_activities = flag(params, "related_activities")
    if "agent" in params:
        key = ag.actor_key(ag.parse_agent_param(params["agent"]))
        where.append("related_agents @> %s::text[]" if related_agents else "agents @> %s::text[]")
        args.append([key])
    if "verb" in params:
        where.append("verb_id = %s")
        args.append(v.iri(params["verb"], "verb"))
    if "activity" in params:
        activity = v.iri(params["activity"], "activity")
        if related_activities:
            where.append("related_activities @> %s::text[]")
            args.append([activity])
        else:
            where.append("activity_id = %s")
            args.append(activity)
    if "registration" in params:
        where.append("registration = %s")
        args.append(v.uuid_text(params["registration"], "registration"))
    return where, args


def page_limit(params: dict[str, str]) -> int:
    text = params.get("limit", "0")
    if not text.isdigit():
        raise InvalidInput("limit: must be a non-negative integer")
    limit = int(text)
    return PAGE_SIZE if limit == 0 else min(limit, MAX_PAGE)


def encode_more(params: dict[str, str], after: int) -> str:
    token = msgspec.json.encode({"p": params, "a": after})
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_more(token: str) -> tuple[dict[str, str], int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = msgspec.json.decode(raw, type=dict[str, Any])
        return dict(data["p"]), int(data["a"])
    except (binascii.Error, ValueError, KeyError, TypeError, msgspec.DecodeError):
        raise InvalidInput("more: not a continuation this LRS issued") from None


async def query(
    conn: AsyncConnection[Any], params: dict[str, str], visibility: Visibility, after: int | None
) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    """One page of (seq, statement) and whether more follow."""
    where, args = filters(params)
    seen, seen_args = visibility.condition()
    where.append(seen)
    args += seen_args
    ascending = flag(params, "ascending")
    if after is not None:
        where.append("seq > %s" if ascending else "seq < %s")
        args.append(after)
    limit = page_limit(params)
    order = "asc" if ascending else "desc"
    sql = (
        f"select seq, statement from lrs.statements where {' and '.join(where)}"
        f" order by seq {order} limit {limit + 1}"
    )
    cur = await tuples(conn).execute(sql, args)
    rows = [(int(r[0]), r[1]) for r in await cur.fetchall()]
    return rows[:limit], len(rows) > limit


async def one(
    conn: AsyncConnection[Any], statement_id: str, *, voided: bool, visibility: Visibility
) -> dict[str, Any] | None:
    seen, seen_args = visibility.condition()
    cur = await tuples(conn).execute(
        f"select statement from lrs.statements where statement_id = %s and voided = %s and {seen}",
        [statement_id, voided, *seen_args],
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def attachments_of(
    conn: AsyncConnection[Any], statement_ids: list[str]
) -> list[tuple[str, str, bytes]]:
    """(sha2, content type, content) of the statements' attachments, each once."""
    cur = await tuples(conn).execute(
        "select distinct on (sha2) sha2, content_type, content from lrs.attachments"
        " where statement_id = any(%s::uuid[])",
        (statement_ids,),
    )
    return [(r[0], r[1], bytes(r[2])) for r in await cur.fetchall()]


def _ids_agent(agent: dict[str, Any]) -> dict[str, Any]:
    out = {k: agent[k] for k in ("objectType", *v.IFI_KEYS) if k in agent}
    if "member" in agent and ag.ifi_key(agent) is None:
        out["member"] = [_ids_agent(m) for m in agent["member"]]
    return out


def _canonical_maps(value: Any, languages: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if key in ("display", "name", "description") and isinstance(inner, dict):
                out[key] = _one_language(inner, languages)
            elif key != "extensions":
                out[key] = _canonical_maps(inner, languages)
            else:
                out[key] = inner
        return out
    if isinstance(value, list):
        return [_canonical_maps(x, languages) for x in value]
    return value


def _one_language(lang_map: dict[str, Any], languages: list[str]) -> Any:
    if not all(isinstance(x, str) for x in lang_map.values()):
        return lang_map  # an agent's name is a string, not a language map
    for lang in languages:
        for key in lang_map:
            if key.lower() == lang.lower() or key.lower().split("-")[0] == lang.lower():
                return {key: lang_map[key]}
    first = next(iter(lang_map), None)
    return {first: lang_map[first]} if first is not None else {}


def formatted(statement: dict[str, Any], fmt: str, languages: list[str]) -> dict[str, Any]:
    """A statement in the requested format: exact (as stored), ids, canonical."""
    if fmt == "exact":
        return statement
    if fmt == "canonical":
        return _canonical_maps(statement, languages)  # type: ignore[no-any-return]
    return _ids(statement)


def _ids(statement: dict[str, Any]) -> dict[str, Any]:
    """Agents, groups and activities reduced to their identifiers (sub-statements too)."""
    out = dict(statement)
    for key in ("actor", "authority"):
        if key in out:
            out[key] = _ids_agent(out[key])
    out["verb"] = {"id": out["verb"]["id"]}
    obj = out["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        out["object"] = {"id": obj["id"]}
    elif kind in ("Agent", "Group"):
        out["object"] = _ids_agent(obj)
    elif kind == "SubStatement":
        out["object"] = _ids(obj)
    return out
