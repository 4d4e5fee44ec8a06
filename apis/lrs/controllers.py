"""HTTP routes of the LRS: the xAPI resources under /xapi/ (the conventional LRS endpoint) and
the credential administration under /api/v1/lrs/credentials.

Every xAPI route runs the same steps (`handle`): unfold the alternate request syntax, authenticate
(Basic credentials or a bearer token), require `X-Experience-API-Version`, then the resource,
which asks the policy (apis/lrs/access.py). The gateway's own token check and route guard skip
these routes (`opt["xapi"]`): their credentials may sit in a form body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from litestar import Controller, Request, Response, delete, get, head, post, put
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED

from apis.deps import provide_principal
from apis.gateway.principal import Principal
from apis.lrs import credentials, protocol, resources, statements
from apis.lrs.schemas import Credential, IssueCredentialRequest, IssuedCredential
from apis.state import AppState
from core.errors import DomainError
from core.ids import parse_uuid

MAX_XAPI_BODY: Final = 16 * 1024 * 1024  # statements with attachments
Resource = Callable[[AppState, protocol.XRequest], Awaitable[Response[bytes]]]


class MethodNotAllowed(DomainError):
    status = 405


async def _statements(state: AppState, xreq: protocol.XRequest) -> Response[bytes]:
    if xreq.method in ("GET", "HEAD"):
        return await statements.get(state, xreq, head=xreq.method == "HEAD")
    if xreq.method == "PUT":
        return await statements.put(state, xreq)
    if xreq.method == "POST":
        return await statements.post(state, xreq)
    raise MethodNotAllowed(f"{xreq.method} is not a method of the Statement resource")


def _documents(kind: resources.Kind) -> Resource:
    async def run(state: AppState, xreq: protocol.XRequest) -> Response[bytes]:
        return await resources.document(state, xreq, kind)

    return run


def _reads(resource: Resource) -> Resource:
    async def run(state: AppState, xreq: protocol.XRequest) -> Response[bytes]:
        if xreq.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{xreq.method} is not a method of this resource")
        return await resource(state, xreq)

    return run


RESOURCES: Final[dict[str, Resource]] = {
    "statements": _statements,
    "activities/state": _documents(resources.STATE),
    "activities/profile": _documents(resources.ACTIVITY_PROFILE),
    "agents/profile": _documents(resources.AGENT_PROFILE),
    "activities": _reads(resources.activity),
    "agents": _reads(resources.agent),
}


async def handle(request: Request[Any, Any, Any], state: AppState, name: str) -> Response[bytes]:
    xreq = await protocol.read(request)
    await protocol.authenticate(state, request, xreq)
    protocol.check_version(xreq)
    return await RESOURCES[name](state, xreq)


def _opt(action: str) -> dict[str, Any]:
    return {"xapi": True, "action": action}


class StatementsController(Controller):
    """xAPI Statement resource."""

    path = "/xapi/statements"
    tags = ["xapi"]
    request_max_body_size = MAX_XAPI_BODY

    @get("/", opt=_opt("lrs.statements.read"))
    async def read(self, request: Request[Any, Any, Any], app_state: AppState) -> Response[bytes]:
        """One statement (statementId, voidedStatementId) or a page of the query filters."""
        return await handle(request, app_state, "statements")

    @head("/", opt=_opt("lrs.statements.read"), include_in_schema=False)
    async def read_head(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[None]:
        """GET without the body."""
        return await handle(request, app_state, "statements")  # type: ignore[return-value]

    @put("/", status_code=200, opt=_opt("lrs.statements.write"))
    async def store_one(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[bytes]:
        """Store one statement under `statementId` (204; 409 if stored with other content)."""
        return await handle(request, app_state, "statements")

    @post("/", status_code=200, opt=_opt("lrs.statements.write"))
    async def store_many(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[bytes]:
        """Store one or many statements (their ids), or the alternate request syntax."""
        return await handle(request, app_state, "statements")


def _document_controller(path: str, name: str, read: str, write: str) -> type[Controller]:
    class Documents(Controller):
        tags = ["xapi"]
        request_max_body_size = MAX_XAPI_BODY

        @get("/", opt=_opt(read))
        async def read_document(
            self, request: Request[Any, Any, Any], app_state: AppState
        ) -> Response[bytes]:
            """A document (by its id) or the ids of the documents (with `since`)."""
            return await handle(request, app_state, name)

        @head("/", opt=_opt(read), include_in_schema=False)
        async def read_document_head(
            self, request: Request[Any, Any, Any], app_state: AppState
        ) -> Response[None]:
            """GET without the body."""
            return await handle(request, app_state, name)  # type: ignore[return-value]

        @put("/", status_code=200, opt=_opt(write))
        async def put_document(
            self, request: Request[Any, Any, Any], app_state: AppState
        ) -> Response[bytes]:
            """Store or replace a document (If-Match / If-None-Match honoured)."""
            return await handle(request, app_state, name)

        @post("/", status_code=200, opt=_opt(write))
        async def post_document(
            self, request: Request[Any, Any, Any], app_state: AppState
        ) -> Response[bytes]:
            """Store a document, or merge a JSON object into the stored one."""
            return await handle(request, app_state, name)

        @delete("/", status_code=200, opt=_opt(write))
        async def delete_document(
            self, request: Request[Any, Any, Any], app_state: AppState
        ) -> Response[bytes]:
            """Delete a document (State: all of an activity and agent without stateId)."""
            return await handle(request, app_state, name)

    Documents.path = path
    Documents.__name__ = Documents.__qualname__ = name.title().replace("/", "") + "Controller"
    return Documents


StateController = _document_controller(
    "/xapi/activities/state", "activities/state", "lrs.state.read", "lrs.state.write"
)
ActivityProfileController = _document_controller(
    "/xapi/activities/profile", "activities/profile", "lrs.profile.read", "lrs.profile.write"
)
AgentProfileController = _document_controller(
    "/xapi/agents/profile", "agents/profile", "lrs.profile.read", "lrs.profile.write"
)


class DefinitionsController(Controller):
    """xAPI Activities, Agents and About resources."""

    path = "/xapi"
    tags = ["xapi"]

    @get("/activities", opt=_opt("lrs.definitions.read"))
    async def activity(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[bytes]:
        """The Activity object the LRS knows for `activityId`."""
        return await handle(request, app_state, "activities")

    @get("/agents", opt=_opt("lrs.definitions.read"))
    async def agent(self, request: Request[Any, Any, Any], app_state: AppState) -> Response[bytes]:
        """The Person object of `agent`."""
        return await handle(request, app_state, "agents")

    @head("/activities", opt=_opt("lrs.definitions.read"), include_in_schema=False)
    async def activity_head(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[None]:
        """GET without the body."""
        return await handle(request, app_state, "activities")  # type: ignore[return-value]

    @head("/agents", opt=_opt("lrs.definitions.read"), include_in_schema=False)
    async def agent_head(
        self, request: Request[Any, Any, Any], app_state: AppState
    ) -> Response[None]:
        """GET without the body."""
        return await handle(request, app_state, "agents")  # type: ignore[return-value]

    @get("/about", opt={"public": True})
    async def about(self) -> Response[bytes]:
        """The xAPI versions this LRS speaks (public, as the specification says)."""
        return resources.about()

    @head("/about", opt={"public": True}, include_in_schema=False)
    async def about_head(self) -> Response[None]:
        """GET without the body."""
        return resources.about(head=True)  # type: ignore[return-value]


class CredentialsController(Controller):
    """Basic credentials for LRS clients: issued by an admin or a teacher (for her class)."""

    path = "/api/v1/lrs/credentials"
    tags = ["lrs"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "lrs.credential.create"})
    async def issue(
        self, app_state: AppState, principal: Principal, data: IssueCredentialRequest
    ) -> IssuedCredential:
        """Issue a key and secret (the secret is shown only in this answer)."""
        class_id = parse_uuid(data.class_id, "class_id") if data.class_id else None
        async with app_state.pool.connection() as conn, conn.transaction():
            row = await credentials.issue(
                conn, issued_by=principal.user_id, role=principal.role, name=data.name,
                scopes=list(data.scopes), class_id=class_id,
            )  # fmt: skip
        return IssuedCredential(**row)

    @get("/", opt={"action": "lrs.credential.read"})
    async def listing(self, app_state: AppState, principal: Principal) -> list[Credential]:
        """Credentials the caller issued (an admin: all), without secrets."""
        async with app_state.pool.connection() as conn:
            rows = await credentials.listing(
                conn, None if principal.role == "admin" else principal.user_id
            )
        return [Credential(**r) for r in rows]

    @post("/{credential_id:str}/revoke", status_code=200, opt={"action": "lrs.credential.revoke"})
    async def revoke(
        self, app_state: AppState, principal: Principal, credential_id: str
    ) -> Credential:
        """Revoke a credential (takes effect within seconds in every API process)."""
        credential_id = parse_uuid(credential_id, "credential_id")
        async with app_state.pool.connection() as conn, conn.transaction():
            row = await credentials.revoke(
                conn, credential_id, by=principal.user_id, admin=principal.role == "admin"
            )
        return Credential(**row)
