"""HTTP routes of the classes service: /api/v1/classes."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from apis.classes import services
from apis.classes.schemas import (
    CreateClassRequest,
    JoinClassRequest,
    Member,
    Membership,
    SchoolClass,
    UpdateClassRequest,
)
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

    @patch("/{class_id:uuid}", opt={"action": "classes.class.update"})
    async def update(
        self, app_state: AppState, principal: Principal, class_id: UUID, data: UpdateClassRequest
    ) -> SchoolClass:
        """Rename the class, archive it (no one can join it any more) or restore it."""
        await _taught_class(app_state, principal, str(class_id), "classes.class.update")
        return await services.update_class(app_state, str(class_id), data)

    @get("/{class_id:uuid}/members", opt={"action": "classes.member.read"})
    async def members(
        self, app_state: AppState, principal: Principal, class_id: UUID
    ) -> list[Member]:
        """The roster: the class's students with names and e-mails, for its teacher."""
        await _taught_class(app_state, principal, str(class_id), "classes.member.read")
        return await services.roster(app_state, str(class_id))

    @delete(
        "/{class_id:uuid}/members/{student_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "classes.class.update"},
    )
    async def remove_member(
        self, app_state: AppState, principal: Principal, class_id: UUID, student_id: UUID
    ) -> None:
        """Remove a student from the class (her past work and results are kept)."""
        await _taught_class(app_state, principal, str(class_id), "classes.class.update")
        await services.remove_member(app_state, str(class_id), str(student_id))


async def _taught_class(
    app_state: AppState, principal: Principal, class_id: str, action: str
) -> SchoolClass:
    """The class, once the policy let the caller act on it as its teacher (or an admin): the
    resource carries no class id, so only its owner's scope applies, not membership."""
    school_class = await services.get_class(app_state, class_id)
    await app_state.policy.authorize(
        principal, action, Resource("class", class_id, school_class.teacher_id, None)
    )
    return school_class
