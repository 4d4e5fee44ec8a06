"""The LRS's policy question: may this caller do this, and what may she read? Decided by
`data.dreamseed.lrs.access.decision` (governance/policies/dreamseed/lrs/access/) and logged like
every decision; the allowed answer names the caller's visibility (all, class, self, mine)."""

from __future__ import annotations

from typing import Any

from apis.gateway.principal import Principal
from apis.lrs.db import tuples
from apis.lrs.queries import Visibility
from apis.state import AppState
from core.errors import Forbidden
from governance import LRS_ACCESS


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


async def decide(
    state: AppState,
    principal: Principal,
    action: str,
    about_user_id: str | None = None,
    about_class_ids: list[str] | None = None,
) -> Visibility:
    """The caller's visibility for `action`; 403 when the policy refuses. `about_*`: the platform
    user a document is about and her classes (a class-bound credential reaches only its class's)."""
    credential: dict[str, Any] | None = None
    if principal.role == "lrs_client":
        credential = {"scopes": list(principal.scopes), "class_id": principal.class_id}
    payload = {
        "subject": {"user_id": principal.user_id, "role": principal.role, "class_ids": []},
        "credential": credential,
        "action": action,
        "resource": {
            "type": "xapi",
            "about_user_id": about_user_id,
            "about_class_ids": about_class_ids or [],
        },
    }
    decision = await state.policy.decide(LRS_ACCESS, payload, action)
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
