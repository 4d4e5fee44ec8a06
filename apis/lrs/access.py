"""The LRS's policy question: may this caller do this, and what may she read? Decided by
`data.dreamseed.lrs.access.decision` (governance/policies/dreamseed/lrs/access/) and logged like
every decision; the allowed answer names the caller's visibility (all, class, self, mine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apis.gateway.principal import Principal
from apis.lrs import agents as ag
from apis.lrs.db import tuples
from apis.lrs.queries import Visibility
from apis.lrs.validation import VOIDED
from apis.state import AppState
from core.errors import Forbidden
from governance import LRS_ACCESS, Decision


async def _taught_classes(state: AppState, user_id: str) -> tuple[str, ...]:
    async with state.pool.connection() as conn:
        cur = await tuples(conn).execute(
            "select class_id::text from classes.classes where teacher_id = %s", (user_id,)
        )
        return tuple(r[0] for r in await cur.fetchall())


async def classes_of(state: AppState, user_id: str) -> list[str]:
    """The classes a user belongs to: as a student (memberships) or as the class's teacher."""
    async with state.pool.connection() as conn:
        cur = await tuples(conn).execute(
            "select class_id::text from classes.memberships where student_id = %s"
            " union select class_id::text from classes.classes where teacher_id = %s",
            (user_id, user_id),
        )
        return sorted(r[0] for r in await cur.fetchall())


@dataclass(frozen=True)
class Person:
    """A platform user a statement is about: where (`[i].actor`, `[i].actor.member[j]`,
    `[i].object.id` of a voiding statement), what names her (an IFI, or the voided statement), her
    id and her classes."""

    where: str
    ifi: str
    user_id: str
    class_ids: list[str]


async def statement_people(state: AppState, statements: list[dict[str, Any]]) -> list[Person]:
    """The platform users among the statements' actors and their groups' members, linked as the
    store links actors (a platform account IFI, or an mbox that is a user's e-mail), and the
    users the statements a voiding statement voids are about."""
    named: list[tuple[str, dict[str, Any]]] = []
    voids: dict[str, str] = {}  # voided statement id -> where
    for i, s in enumerate(statements):
        actor = s["actor"]
        named.append((f"[{i}].actor", actor))
        named += [(f"[{i}].actor.member[{j}]", m) for j, m in enumerate(actor.get("member", []))]
        if s["verb"]["id"] == VOIDED:
            voids.setdefault(str(s["object"]["id"]).lower(), f"[{i}].object.id")
    ids = {u for _, a in named if (u := ag.platform_user(a))}
    emails = sorted({e for _, a in named if (e := ag.mbox_email(a))})
    async with state.pool.connection() as conn:
        voided: dict[str, str] = {}
        if voids:
            cur = await tuples(conn).execute(
                "select statement_id::text, user_id::text from lrs.statements"
                " where statement_id = any(%s::uuid[]) and user_id is not null",
                (sorted(voids),),
            )
            voided = {r[0]: r[1] for r in await cur.fetchall()}
        ids |= set(voided.values())
        if not ids and not emails:
            return []
        cur = await tuples(conn).execute(
            "select a.user_id::text, a.email, array(select class_id::text from"
            " classes.memberships m where m.student_id = a.user_id union select class_id::text"
            " from classes.classes c where c.teacher_id = a.user_id) from users.accounts a"
            " where a.user_id = any(%s::uuid[]) or a.email = any(%s)",
            (sorted(ids), emails),
        )
        rows = await cur.fetchall()
    by_id = {r[0]: sorted(r[2]) for r in rows}
    by_email = {str(r[1]).lower(): r[0] for r in rows if r[1]}
    people = []
    for where, agent in named:
        user_id = ag.platform_user(agent)
        if user_id not in by_id:
            user_id = by_email.get(ag.mbox_email(agent) or "")
        if user_id is not None:
            people.append(Person(where, ag.ifi_key(agent) or "", user_id, by_id[user_id]))
    for target, user_id in sorted(voided.items()):
        if user_id in by_id:
            people.append(Person(voids[target], f"the voided statement {target}", user_id,
                                 by_id[user_id]))  # fmt: skip
    return people


def _payload(principal: Principal, action: str, resource: dict[str, Any]) -> dict[str, Any]:
    credential: dict[str, Any] | None = None
    if principal.role == "lrs_client":
        credential = {"scopes": list(principal.scopes), "class_id": principal.class_id}
    return {
        "subject": {"user_id": principal.user_id, "role": principal.role, "class_ids": []},
        "credential": credential,
        "action": action,
        "resource": {"type": "xapi", **resource},
    }


def _users(people: list[Person]) -> list[dict[str, Any]]:
    seen = {p.user_id: p.class_ids for p in people}
    return [{"user_id": u, "class_ids": c} for u, c in sorted(seen.items())]


async def decide_write(
    state: AppState,
    principal: Principal,
    statements: list[dict[str, Any]],
    about_user_id: str | None,
) -> Visibility:
    """`decide` for writing statements. A class-bound credential's policy input lists the
    platform users the statements are about with their classes; when the policy refuses one as
    outside its class, the 403 names the first statement and actor refused (nothing is stored)."""
    if not principal.class_id:
        return await decide(state, principal, "lrs.statements.write", about_user_id)
    action = "lrs.statements.write"
    people = await statement_people(state, statements)
    payload = _payload(principal, action, {"about_user_id": about_user_id,
                                           "about_users": _users(people)})  # fmt: skip
    decision = await state.policy.decide(LRS_ACCESS, payload, action)
    if not decision.allowed and decision.reason == "outside_class":
        for person in people:
            payload["resource"]["about_users"] = _users([person])
            one = await state.policy.decide(LRS_ACCESS, payload, action)
            if one.reason == "outside_class":
                raise Forbidden(
                    f"statements{person.where}: {person.ifi} names a platform user outside the"
                    f" credential's class; {action} is not permitted: outside_class"
                    " (nothing of the request was stored)"
                )
    return await _visibility(state, principal, action, decision)


async def decide(
    state: AppState,
    principal: Principal,
    action: str,
    about_user_id: str | None = None,
    about_class_ids: list[str] | None = None,
) -> Visibility:
    """The caller's visibility for `action`; 403 when the policy refuses. `about_*`: the platform
    user a document is about and her classes (a class-bound credential reaches only its class's)."""
    payload = _payload(principal, action, {"about_user_id": about_user_id,
                                           "about_class_ids": about_class_ids or []})  # fmt: skip
    return await _visibility(state, principal, action,
                             await state.policy.decide(LRS_ACCESS, payload, action))  # fmt: skip


async def _visibility(
    state: AppState, principal: Principal, action: str, decision: Decision
) -> Visibility:
    if not decision.allowed:
        raise Forbidden(f"{action} is not permitted: {decision.reason}")
    kind = decision.reason.removeprefix("allowed:")
    if kind == "class":
        classes = (
            (principal.class_id,)
            if principal.class_id
            else await _taught_classes(state, principal.user_id)
        )
        return Visibility("class", class_ids=classes)
    return Visibility(
        kind,
        user_id=principal.user_id,
        credential_id=principal.token_id if principal.role == "lrs_client" else None,
    )
