"""HTTP routes of the assignments service: /api/v1/assignments."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.assignments import services
from apis.assignments.schemas import (
    Assignment,
    AssignmentView,
    CreateAssignmentRequest,
    GradeRequest,
    Submission,
    SubmitRequest,
    TodoItem,
    Work,
)
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.learning import holders
from apis.state import AppState
from core.errors import InvalidInput, NotFound
from core.ids import parse_uuid


def _resource(a: Assignment) -> Resource:
    return Resource("assignment", a.assignment_id, a.owner_id, a.class_id)


def _submission(a: Assignment, student_id: str) -> Resource:
    """A student's work: hers (own), and her class's teacher's (class); never a classmate's."""
    return Resource("submission", f"{a.assignment_id}/{student_id}", student_id, a.class_id)


async def _readable(app_state: AppState, principal: Principal, assignment_id: str) -> Assignment:
    """The assignment once the policy let the caller read it (students: their class's, and
    only when it is meant for them)."""
    a = await services.get_assignment(app_state, assignment_id)
    await app_state.policy.authorize(principal, "assignments.assignment.read", _resource(a))
    if principal.role == "student" and not services.targets(a, principal.user_id):
        raise NotFound(f"assignment {assignment_id} not found")
    return a


def _teaches(principal: Principal, a: Assignment) -> bool:
    return principal.role != "student"


class AssignmentsController(Controller):
    path = "/api/v1/assignments"
    tags = ["assignments"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "assignments.assignment.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateAssignmentRequest
    ) -> Assignment:
        """Assign an exam, a lesson or a task to one of the caller's classes (or some of its
        students) with open and due times, a late policy and points."""
        class_id = parse_uuid(data.class_id, "class_id")
        async with app_state.pool.connection() as conn:
            cur = await conn.execute(
                "select teacher_id::text from classes.classes where class_id = %s", (class_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise InvalidInput(f"class_id: class {class_id} not found")
        await app_state.policy.authorize(
            principal,
            "assignments.assignment.create",
            Resource("class", class_id, row["teacher_id"], None),
        )
        return await services.create_assignment(app_state, row["teacher_id"], class_id, data)

    @get("/", opt={"action": "assignments.assignment.create"})
    async def list_owned(
        self, app_state: AppState, principal: Principal, class_id: UUID | None = None
    ) -> list[Assignment]:
        """The assignments the caller set (optionally of one class), soonest due first."""
        return await services.owned(
            app_state, principal.user_id, str(class_id) if class_id else None
        )

    @get("/todo", opt={"action": "assignments.submission.create"})
    async def todo(self, app_state: AppState, principal: Principal) -> list[TodoItem]:
        """What I have to do: every open assignment meant for the caller, with its status
        (not_started, in_progress, submitted, late, graded, returned), soonest due first."""
        return await services.todo(app_state, principal.user_id)

    @get("/{assignment_id:uuid}", opt={"action": "assignments.assignment.read"})
    async def read(
        self, app_state: AppState, principal: Principal, assignment_id: UUID
    ) -> AssignmentView:
        """The assignment with every targeted student's work (its teacher) or the caller's."""
        a = await _readable(app_state, principal, str(assignment_id))
        mine = None if _teaches(principal, a) else principal.user_id
        return await services.view(app_state, a, mine)

    @post(
        "/{assignment_id:uuid}/submissions",
        status_code=HTTP_201_CREATED,
        opt={"action": "assignments.submission.create"},
    )
    async def submit(
        self, app_state: AppState, principal: Principal, assignment_id: UUID, data: SubmitRequest
    ) -> Submission:
        """Hand in a new version (text and/or files; empty for a lesson): versions until the
        due time, a late one as the late policy allows."""
        a = await _readable(app_state, principal, str(assignment_id))
        await app_state.policy.authorize(
            principal, "assignments.submission.create", _submission(a, principal.user_id)
        )
        return await services.submit(app_state, a, principal.user_id, data)

    @get("/{assignment_id:uuid}/submissions", opt={"action": "assignments.submission.read"})
    async def submissions(
        self, app_state: AppState, principal: Principal, assignment_id: UUID
    ) -> list[Submission]:
        """Every version handed in: all students' for the teacher, the caller's own otherwise."""
        a = await _readable(app_state, principal, str(assignment_id))
        if _teaches(principal, a):
            await app_state.policy.authorize(
                principal,
                "assignments.submission.read",
                Resource("submission", a.assignment_id, a.owner_id, a.class_id),
            )
            return await services.submissions(app_state, a.assignment_id, None)
        await app_state.policy.authorize(
            principal, "assignments.submission.read", _submission(a, principal.user_id)
        )
        return await services.submissions(app_state, a.assignment_id, principal.user_id)

    @post(
        "/{assignment_id:uuid}/students/{student_id:uuid}/grade",
        status_code=HTTP_200_OK,
        opt={"action": "assignments.submission.grade"},
    )
    async def grade(
        self,
        app_state: AppState,
        principal: Principal,
        assignment_id: UUID,
        student_id: UUID,
        data: GradeRequest,
    ) -> Work:
        """Grade a student's work with points (up to the assignment's) and feedback."""
        a = await services.get_assignment(app_state, str(assignment_id))
        await app_state.policy.authorize(
            principal, "assignments.submission.grade", _submission(a, str(student_id))
        )
        return await services.grade(app_state, a, str(student_id), data)

    @post(
        "/{assignment_id:uuid}/students/{student_id:uuid}/return",
        status_code=HTTP_200_OK,
        opt={"action": "assignments.submission.grade"},
    )
    async def return_work(
        self, app_state: AppState, principal: Principal, assignment_id: UUID, student_id: UUID
    ) -> Work:
        """Return graded work: the student sees her points and the feedback."""
        a = await services.get_assignment(app_state, str(assignment_id))
        await app_state.policy.authorize(
            principal, "assignments.submission.grade", _submission(a, str(student_id))
        )
        return await services.return_work(app_state, a, str(student_id))


# ------------------------------------------------------------------------------ submission files
async def _submission_upload(app_state: AppState, principal: Principal, assignment_id: str) -> None:
    a = await _readable(app_state, principal, assignment_id)
    await app_state.policy.authorize(
        principal, "assignments.submission.create", _submission(a, principal.user_id)
    )
    if a.kind != "task" or not a.accepts_files:
        raise InvalidInput(f"holder_id: assignment {assignment_id} takes no files")


async def _submission_download(
    app_state: AppState, principal: Principal, media: dict[str, Any]
) -> None:
    a = await services.get_assignment(app_state, media["holder_id"])
    await app_state.policy.authorize(
        principal, "learning.media.read", _submission(a, media["user_id"])
    )


holders.HOLDERS["submission"] = (_submission_upload, _submission_download)
