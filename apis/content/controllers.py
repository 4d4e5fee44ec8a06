"""HTTP routes of the content service: /api/v1/items (the item bank)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.content import parameters, services, transfer
from apis.content.schemas import (
    CreateItemRequest,
    ExportedBank,
    ImportRequest,
    ImportResult,
    Item,
    ItemPage,
    ItemVersion,
    Parameters,
    ParametersIn,
    UpdateItemRequest,
)
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState
from core.errors import InvalidInput

MAX_IMPORT_BYTES = 10 * 1024 * 1024


async def _owned_item(
    app_state: AppState, principal: Principal, item_id: UUID, action: str
) -> Item:
    item = await services.get_item(app_state, str(item_id))
    await app_state.policy.authorize(
        principal, action, Resource("item", item.item_id, item.owner_id, None)
    )
    return item


async def _bank_owner(
    app_state: AppState, principal: Principal, owner_id: UUID | None, action: str
) -> str:
    """The caller's own bank, or (admins) another owner's bank, checked by the policy."""
    if owner_id is None or str(owner_id) == principal.user_id:
        return principal.user_id
    await app_state.policy.authorize(
        principal, action, Resource("item_bank", str(owner_id), str(owner_id), None)
    )
    return str(owner_id)


class ItemsController(Controller):
    path = "/api/v1/items"
    tags = ["content"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "content.item.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateItemRequest
    ) -> Item:
        """Add an item to the caller's bank (optionally with IRT parameters, promoted)."""
        return await services.create_item(app_state, principal.user_id, data)

    @get("/", opt={"action": "content.item.read"})
    async def list_items(
        self,
        app_state: AppState,
        principal: Principal,
        status: Literal["pilot", "operational", "retired"] | None = None,
        skill: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        after: UUID | None = None,
        owner_id: UUID | None = None,
    ) -> ItemPage:
        """The caller's bank, by item id, `limit` at a time (pass `next_after` as `after`)."""
        owner = await _bank_owner(app_state, principal, owner_id, "content.item.read")
        return await services.list_items(
            app_state,
            owner,
            status=status,
            skill=skill,
            limit=limit,
            after=str(after) if after else None,
        )

    @get("/{item_id:uuid}", opt={"action": "content.item.read"})
    async def read(self, app_state: AppState, principal: Principal, item_id: UUID) -> Item:
        """One item, with its key and live parameters, for its owner."""
        return await _owned_item(app_state, principal, item_id, "content.item.read")

    @patch("/{item_id:uuid}", opt={"action": "content.item.update"})
    async def update(
        self, app_state: AppState, principal: Principal, item_id: UUID, data: UpdateItemRequest
    ) -> Item:
        """Edit an item (a new version; `status: retired` retires it)."""
        await _owned_item(app_state, principal, item_id, "content.item.update")
        return await services.update_item(app_state, str(item_id), principal.user_id, data)

    @get("/{item_id:uuid}/versions", opt={"action": "content.item.read"})
    async def versions(
        self, app_state: AppState, principal: Principal, item_id: UUID
    ) -> list[ItemVersion]:
        """Every version of the item, oldest first."""
        await _owned_item(app_state, principal, item_id, "content.item.read")
        return await services.item_versions(app_state, str(item_id))

    @get("/{item_id:uuid}/parameters", opt={"action": "content.item.read"})
    async def list_parameters(
        self, app_state: AppState, principal: Principal, item_id: UUID
    ) -> list[Parameters]:
        """Every calibration of the item, oldest first; `is_live` marks the promoted one."""
        await _owned_item(app_state, principal, item_id, "content.item.read")
        return await parameters.list_parameters(app_state, str(item_id))

    @post(
        "/{item_id:uuid}/parameters",
        status_code=HTTP_201_CREATED,
        opt={"action": "content.item.update"},
    )
    async def add_parameters(
        self, app_state: AppState, principal: Principal, item_id: UUID, data: ParametersIn
    ) -> Parameters:
        """Add a calibration's parameters (a new version); `promote` makes it live at once."""
        await _owned_item(app_state, principal, item_id, "content.item.update")
        return await services.add_parameters(app_state, str(item_id), data)

    @post(
        "/{item_id:uuid}/parameters/{version:int}/promote",
        status_code=HTTP_200_OK,
        opt={"action": "content.item.update"},
    )
    async def promote(
        self, app_state: AppState, principal: Principal, item_id: UUID, version: int
    ) -> Parameters:
        """Make parameter version `version` the live one (new attempts use it)."""
        await _owned_item(app_state, principal, item_id, "content.item.update")
        return await services.promote_parameters(app_state, str(item_id), version)

    @post(
        "/import",
        status_code=HTTP_201_CREATED,
        opt={
            "action": "content.item.create",
            "body_type": ImportRequest,
            "body_media_types": ("application/json", "text/csv"),
        },
        request_max_body_size=MAX_IMPORT_BYTES,
    )
    async def import_items(
        self, app_state: AppState, principal: Principal, request: Request[Any, Any, Any]
    ) -> ImportResult:
        """Bulk import, all or nothing: JSON `{"items": [...]}` or CSV (`Content-Type: text/csv`).

        Size, encoding, NUL, depth and the JSON body's types are checked by the gateway."""
        body = await request.body()
        content_type = request.headers.get("content-type", "application/json").split(";")[0]
        if content_type.strip().lower() == "text/csv":
            items = transfer.parse_csv(body.decode("utf-8-sig"))
        elif content_type.strip().lower() == "application/json":
            try:
                items = msgspec.json.decode(body, type=ImportRequest).items
            except msgspec.ValidationError as exc:
                raise InvalidInput(f"invalid import: {exc}") from None
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"the import body is not valid JSON: {exc}") from None
        else:
            raise InvalidInput(
                f"unsupported Content-Type {content_type!r}: use application/json or text/csv"
            )
        return await transfer.import_items(app_state, principal.user_id, items)

    @get(
        "/export",
        opt={
            "action": "content.item.read",
            "response_type": ExportedBank,
            "response_media_types": ("application/json", "text/csv"),
        },
    )
    async def export(
        self,
        app_state: AppState,
        principal: Principal,
        format: Literal["json", "csv"] = "json",
        owner_id: UUID | None = None,
    ) -> Response[Any]:
        """The whole bank with live parameters, in the import format (JSON or CSV)."""
        owner = await _bank_owner(app_state, principal, owner_id, "content.item.read")
        rows = await transfer.export_items(app_state, owner)
        if format == "csv":
            return Response(transfer.to_csv(rows), media_type="text/csv")
        return Response(
            json.dumps({"items": rows}, ensure_ascii=False), media_type="application/json"
        )
