"""HTTP routes of the classes service: /api/v1/classes."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.classes import services
from apis.classes.schemas import CreateClassRequest, JoinClassRequest, Membership, SchoolClass
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState


class ClassesController(Controller):
    path = "/api/v1/classes"
    tags = ["classes"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "classes.class.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateClassRequest
    ) -> SchoolClass:
        """Create a class; the answer carries the join code to give to students."""
        return await services.create_class(app_state, principal.user_id, data.name)

    @post("/join", status_code=HTTP_200_OK, opt={"action": "classes.class.join"})
    async def join(
        self, app_state: AppState, principal: Principal, data: JoinClassRequest
    ) -> Membership:
        """Join a class with its code (joining twice is harmless)."""
        return await services.join_class(app_state, principal.user_id, data.join_code)

    @get("/", opt={"action": "classes.class.read"})
    async def list_mine(self, app_state: AppState, principal: Principal) -> list[SchoolClass]:
        """The classes the caller teaches or belongs to."""
        return await services.list_classes(app_state, principal.user_id)

    @get("/{class_id:uuid}", opt={"action": "classes.class.read"})
    async def read(self, app_state: AppState, principal: Principal, class_id: UUID) -> SchoolClass:
        """One class, for its teacher and its members."""
        school_class = await services.get_class(app_state, str(class_id))
        await app_state.policy.authorize(
            principal,
            "classes.class.read",
            Resource(
                "class", school_class.class_id, school_class.teacher_id, school_class.class_id
            ),
        )
        if school_class.teacher_id != principal.user_id and principal.role != "admin":
            school_class.join_code = None
        return school_class
