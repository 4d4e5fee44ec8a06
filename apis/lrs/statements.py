"""The Statement resource (PUT, POST, GET, HEAD at /xapi/statements), on top of the protocol
(apis/lrs/protocol.py), the policy (access.py), validation, the store and the queries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Response

from apis.gateway.principal import Principal
from apis.lrs import access, queries, signing, store
from apis.lrs import agents as ag
from apis.lrs import validation as v
from apis.lrs.protocol import XRequest, answer, http_date, json_body, multipart
from apis.state import AppState
from core.errors import InvalidInput, NotFound

CREDENTIAL_HOME = "http://dreamseed.invalid/lrs/credentials"
PATH = "/xapi/statements"


def authority(principal: Principal) -> dict[str, Any]:
    """The statement authority: the credential it came through, or the signed-in user."""
    if principal.role == "lrs_client":
        home, name = CREDENTIAL_HOME, principal.token_id
    else:
        home, name = ag.ACCOUNT_HOME, principal.user_id
    return {"objectType": "Agent", "account": {"homePage": home, "name": name}}


def _validated(value: Any, path: str, xreq: XRequest) -> dict[str, Any]:
    statement = v.statement(value, path)
    signing.check(statement, xreq.parts, path)
    return statement


def _about(statements: list[dict[str, Any]], principal: Principal) -> str | None:
    """For a user writing: her id if every actor is her platform account (else None)."""
    if principal.role == "lrs_client":
        return None
    users = {ag.platform_user(s["actor"]) for s in statements}
    return principal.user_id if users == {principal.user_id} else None


async def _store(state: AppState, xreq: XRequest, statements: list[dict[str, Any]]) -> list[str]:
    principal = xreq.principal
    assert principal is not None
    referenced = {sha2 for s in statements for sha2 in store.attachment_shas(s, with_url=True)}
    excess = sorted(set(xreq.parts) - referenced)
    if excess:
        raise InvalidInput(
            f"body: the multipart part {excess[0]} is not an attachment of a statement"
        )
    # A class-bound credential writes only about its class's members and agents without an
    # account: the policy gets the platform users the statements are about and their classes.
    visibility = await access.decide_write(
        state, principal, statements, _about(statements, principal)
    )
    writer = store.Writer(
        authority(principal),
        principal.token_id if principal.role == "lrs_client" else None,
        visibility.class_ids[0] if visibility.kind == "class" and visibility.class_ids else None,
    )
    async with state.pool.connection() as conn, conn.transaction():
        return await store.store_all(conn, statements, writer, store.Payloads(xreq.parts))


async def put(state: AppState, xreq: XRequest) -> Response[bytes]:
    if set(xreq.params) != {"statementId"}:
        extra = sorted(set(xreq.params) - {"statementId"})
        raise InvalidInput(f"{extra[0]}: not a parameter of PUT" if extra else
                           "statementId: the parameter is required for PUT")  # fmt: skip
    statement_id = v.uuid_text(xreq.params["statementId"], "statementId")
    value = json_body(xreq)
    if not isinstance(value, dict):
        raise InvalidInput("body: PUT takes one statement (a JSON object)")
    if "id" in value and str(value["id"]).lower() != statement_id:
        raise InvalidInput("id: differs from the statementId parameter")
    value["id"] = statement_id
    await _store(state, xreq, [_validated(value, "", xreq)])
    return answer(status=204)


async def post(state: AppState, xreq: XRequest) -> Response[bytes]:
    if xreq.params:
        raise InvalidInput(f"{sorted(xreq.params)[0]}: not a parameter of POST statements")
    value = json_body(xreq)
    many = isinstance(value, list)
    items = value if many else [value]
    if not items:
        raise InvalidInput("body: an empty list of statements")
    statements = [_validated(s, f"[{i}]" if many else "", xreq) for i, s in enumerate(items)]
    return answer(await _store(state, xreq, statements))


async def get(state: AppState, xreq: XRequest, *, head: bool = False) -> Response[bytes]:
    principal = xreq.principal
    assert principal is not None
    visibility = await access.decide(state, principal, "lrs.statements.read")
    params = dict(xreq.params)
    consistent = {"X-Experience-API-Consistent-Through": datetime.now(UTC).isoformat()}
    if "statementId" in params or "voidedStatementId" in params:
        return await _single(state, xreq, params, visibility, consistent, head)
    after = None
    if "more" in params:
        if len(params) != 1:
            raise InvalidInput("more: takes no other parameters")
        params, after = queries.decode_more(params["more"])
    fmt = queries.check_format(params)
    async with state.pool.connection() as conn:
        rows, more = await queries.query(conn, params, visibility, after)
        found = [queries.formatted(s, fmt, xreq.languages()) for _, s in rows]
        result = {
            "statements": found,
            "more": f"{PATH}?more={queries.encode_more(params, rows[-1][0])}" if more else "",
        }
        if queries.flag(params, "attachments"):
            files = await queries.attachments_of(conn, [s["id"] for s in found])
            body, media_type = multipart(msgspec.json.encode(result), files)
            return answer(body, headers=consistent, media_type=media_type, head=head)
    return answer(result, headers=consistent, head=head)


async def _single(
    state: AppState,
    xreq: XRequest,
    params: dict[str, str],
    visibility: queries.Visibility,
    headers: dict[str, str],
    head: bool,
) -> Response[bytes]:
    extra = sorted(set(params) - queries.SINGLE_PARAMS)
    if extra or ("statementId" in params and "voidedStatementId" in params):
        name = extra[0] if extra else "voidedStatementId"
        raise InvalidInput(f"{name}: not allowed with statementId/voidedStatementId")
    voided = "voidedStatementId" in params
    name = "voidedStatementId" if voided else "statementId"
    statement_id = v.uuid_text(params[name], name)
    fmt = queries.check_format(params)
    async with state.pool.connection() as conn:
        found = await queries.one(conn, statement_id, voided=voided, visibility=visibility)
        if found is None:
            raise NotFound(f"{name}: statement {statement_id} not found")
        stored = datetime.fromisoformat(found["stored"])
        headers = {**headers, "Last-Modified": http_date(stored)}
        statement = queries.formatted(found, fmt, xreq.languages())
        if queries.flag(params, "attachments"):
            files = await queries.attachments_of(conn, [statement_id])
            body, media_type = multipart(msgspec.json.encode(statement), files)
            return answer(body, headers=headers, media_type=media_type, head=head)
    return answer(statement, headers=headers, head=head)
