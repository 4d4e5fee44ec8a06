"""The document resources (State, Activity Profile, Agent Profile) and Activities, Agents and
About, as the xAPI 1.0.3 specification defines their parameters and answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar import Response

from apis.lrs import access, documents, queries
from apis.lrs import agents as ag
from apis.lrs import validation as v
from apis.lrs.db import tuples
from apis.lrs.protocol import VERSION, XRequest, answer, http_date
from apis.state import AppState
from core.errors import InvalidInput, NotFound

SUPPORTED_VERSIONS: Final = ["1.0.3", "1.0.2", "1.0.1", "1.0.0"]


@dataclass(frozen=True)
class Kind:
    """One document resource: its parameters and its policy actions."""

    name: str  # documents.Key.kind
    id_param: str  # stateId | profileId
    activity: bool  # takes activityId
    agent: bool  # takes agent
    registration: bool  # takes registration (state only)
    read_action: str
    write_action: str


STATE = Kind("state", "stateId", True, True, True, "lrs.state.read", "lrs.state.write")
ACTIVITY_PROFILE = Kind(
    "activity_profile", "profileId", True, False, False, "lrs.profile.read", "lrs.profile.write"
)
AGENT_PROFILE = Kind(
    "agent_profile", "profileId", False, True, False, "lrs.profile.read", "lrs.profile.write"
)


def _required(params: dict[str, str], name: str) -> str:
    if name not in params:
        raise InvalidInput(f"{name}: the parameter is required")
    return params[name]


async def _linked_user(state: AppState, agent: dict[str, Any] | None) -> str | None:
    if agent is None:
        return None
    user_id = ag.platform_user(agent)
    email = ag.mbox_email(agent)
    if user_id is None and email is None:
        return None
    async with state.pool.connection() as conn:
        cur = await tuples(conn).execute(
            "select user_id::text from users.accounts where user_id = %s or email = %s",
            (user_id, email),
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


def _key(
    kind: Kind, xreq: XRequest, *, with_id: bool
) -> tuple[documents.Key, dict[str, Any] | None]:
    params = xreq.params
    allowed = {kind.id_param, "since"}
    allowed |= {"activityId"} if kind.activity else set()
    allowed |= {"agent"} if kind.agent else set()
    allowed |= {"registration"} if kind.registration else set()
    extra = sorted(set(params) - allowed)
    if extra:
        raise InvalidInput(f"{extra[0]}: not a parameter of this resource")
    activity_id = v.iri(_required(params, "activityId"), "activityId") if kind.activity else ""
    agent = ag.parse_agent_param(_required(params, "agent")) if kind.agent else None
    registration = ""
    if kind.registration and "registration" in params:
        registration = v.uuid_text(params["registration"], "registration")
    document_id = _required(params, kind.id_param) if with_id else params.get(kind.id_param, "")
    key = documents.Key(
        kind.name, activity_id, ag.actor_key(agent) if agent else "", registration, document_id
    )
    return key, agent


def _preconditions(xreq: XRequest) -> documents.Preconditions:
    return documents.Preconditions(xreq.headers.get("if-match"), xreq.headers.get("if-none-match"))


async def document(state: AppState, xreq: XRequest, kind: Kind) -> Response[bytes]:
    """GET/HEAD/PUT/POST/DELETE of one document kind."""
    method = xreq.method
    writes = method in ("PUT", "POST", "DELETE")
    with_id = method in ("PUT", "POST") or (method == "DELETE" and kind.name != "state")
    key, agent = _key(kind, xreq, with_id=with_id)
    if "since" in xreq.params and (method != "GET" or key.document_id):
        raise InvalidInput("since: only when listing document ids (GET without an id)")
    principal = xreq.principal
    assert principal is not None
    # The platform user the document is about (none for activity profiles and agents without an
    # account) and, for a class-bound credential, her classes: the policy keeps it to its class.
    about = await _linked_user(state, agent)
    classes = await access.classes_of(state, about) if about and principal.class_id else None
    action = kind.write_action if writes else kind.read_action
    await access.decide(state, principal, action, about, classes)
    async with state.pool.connection() as conn, conn.transaction():
        if method == "PUT":
            await documents.put(conn, key, xreq.body, xreq.content_type, _preconditions(xreq),
                                about)  # fmt: skip
        elif method == "POST":
            await documents.post(conn, key, xreq.body, xreq.content_type, _preconditions(xreq),
                                 about)  # fmt: skip
        elif method == "DELETE":
            if key.document_id:
                await documents.delete(conn, key, _preconditions(xreq))
            else:
                await documents.delete_all(conn, key)
        elif key.document_id:
            found = await documents.get(conn, key)
            if found is None:
                raise NotFound(f"{kind.id_param}: document {key.document_id!r} not found")
            headers = {"ETag": f'"{found.etag}"', "Last-Modified": http_date(found.updated_at)}
            return answer(found.content, headers=headers, media_type=found.content_type,
                          head=method == "HEAD")  # fmt: skip
        else:
            since = queries.parse_time(xreq.params, "since")
            return answer(await documents.ids(conn, key, since), head=method == "HEAD")
    return answer(status=204)


async def activity(state: AppState, xreq: XRequest) -> Response[bytes]:
    extra = sorted(set(xreq.params) - {"activityId"})
    if extra:
        raise InvalidInput(f"{extra[0]}: not a parameter of the Activities resource")
    activity_id = v.iri(_required(xreq.params, "activityId"), "activityId")
    assert xreq.principal is not None
    await access.decide(state, xreq.principal, "lrs.definitions.read")
    async with state.pool.connection() as conn:
        cur = await tuples(conn).execute(
            "select definition from lrs.activities where activity_id = %s", (activity_id,)
        )
        row = await cur.fetchone()
    out: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    if row and row[0]:
        out["definition"] = row[0]
    return answer(out, head=xreq.method == "HEAD")


async def agent(state: AppState, xreq: XRequest) -> Response[bytes]:
    extra = sorted(set(xreq.params) - {"agent"})
    if extra:
        raise InvalidInput(f"{extra[0]}: not a parameter of the Agents resource")
    found = ag.parse_agent_param(_required(xreq.params, "agent"))
    assert xreq.principal is not None
    await access.decide(state, xreq.principal, "lrs.definitions.read")
    return answer(ag.person(found), head=xreq.method == "HEAD")


def about(head: bool = False) -> Response[bytes]:
    return answer({"version": SUPPORTED_VERSIONS, "extensions": {}}, head=head)


__all__ = ["VERSION", "about", "activity", "agent", "document"]
