"""HTTP routes of the content service: /api/v1/items."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED

from apis.content import services
from apis.content.schemas import CreateItemRequest, Item
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState


class ItemsController(Controller):
    path = "/api/v1/items"
    tags = ["content"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "content.item.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateItemRequest
    ) -> Item:
        """Add an item to the caller's bank."""
        return await services.create_item(app_state, principal.user_id, data)

    @get("/{item_id:uuid}", opt={"action": "content.item.read"})
    async def read(self, app_state: AppState, principal: Principal, item_id: UUID) -> Item:
        """One item, with its key, for its owner."""
        item = await services.get_item(app_state, str(item_id))
        await app_state.policy.authorize(
            principal, "content.item.read", Resource("item", item.item_id, item.owner_id, None)
        )
        return item
