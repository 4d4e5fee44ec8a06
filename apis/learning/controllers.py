"""HTTP routes of the learning service: /api/v1/courses, /api/v1/units, /api/v1/lessons."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.classes import services as class_services
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.learning import holders, lessons, media, services
from apis.learning.records import Record
from apis.learning.schemas import (
    AssignCourseRequest,
    Course,
    CreateCourseRequest,
    CreateLessonRequest,
    CreateUnitRequest,
    Download,
    Lesson,
    LessonVersion,
    MediaFile,
    ProgressRequest,
    PublishRequest,
    Recorded,
    Unit,
    UpdateCourseRequest,
    UpdateLessonRequest,
    UploadRequest,
    UploadTicket,
)
from apis.state import AppState
from core.errors import Forbidden, NotFound
from core.ids import parse_uuid


def edits(principal: Principal, owner_id: str) -> bool:
    """The owner and admins see drafts; everyone else the published versions."""
    return principal.user_id == owner_id or principal.role == "admin"


async def authorize_course(
    app_state: AppState, principal: Principal, course: Course, action: str, *, read: bool
) -> None:
    """Reads pass the class through which the caller reaches the course (students: one of their
    classes it is assigned to); writes pass none, so only its owner (or an admin) may write."""
    class_id = None
    if read and principal.user_id != course.owner_id:
        class_id = await services.access_class(app_state, course.course_id, principal.user_id)
    await app_state.policy.authorize(
        principal, action, Resource("course", course.course_id, course.owner_id, class_id)
    )
    if read and course.archived and not edits(principal, course.owner_id):
        raise NotFound(f"course {course.course_id} is archived")


async def readable_lesson(
    app_state: AppState, principal: Principal, lesson_id: str, action: str
) -> tuple[dict[str, Any], str | None]:
    """The lesson row once the policy let the caller read it (students: published lessons of a
    course assigned to one of their classes)."""
    row = await lessons.lesson_row(app_state, lesson_id)
    course = await services.get_course_row(app_state, str(row["course_id"]))
    class_id = None
    if principal.user_id != course.owner_id:
        class_id = await services.access_class(app_state, course.course_id, principal.user_id)
    await app_state.policy.authorize(
        principal, action, Resource("lesson", lesson_id, course.owner_id, class_id)
    )
    hidden = course.archived or row["published_version"] is None
    if hidden and not edits(principal, course.owner_id):
        raise NotFound(f"lesson {lesson_id} not found")
    return row, class_id


async def owned_lesson(
    app_state: AppState, principal: Principal, lesson_id: str, action: str
) -> dict[str, object]:
    row = await lessons.lesson_row(app_state, lesson_id)
    await app_state.policy.authorize(
        principal, action, Resource("lesson", lesson_id, str(row["owner_id"]), None)
    )
    return row


class CoursesController(Controller):
    path = "/api/v1/courses"
    tags = ["learning"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "learning.course.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateCourseRequest
    ) -> Course:
        """Create a course (then add units and lessons, and assign it to classes)."""
        return await services.create_course(app_state, principal.user_id, data)

    @get("/", opt={"action": "learning.course.read"})
    async def list_courses(self, app_state: AppState, principal: Principal) -> list[Course]:
        """A teacher's own courses; for a student, what she can study: the courses assigned to
        her classes."""
        return await services.list_courses(app_state, principal.user_id, principal.role)

    @get("/{course_id:uuid}", opt={"action": "learning.course.read"})
    async def read(self, app_state: AppState, principal: Principal, course_id: UUID) -> Course:
        """The course outline: units and lessons (students see published lessons only)."""
        course = await services.get_course_row(app_state, str(course_id))
        await authorize_course(app_state, principal, course, "learning.course.read", read=True)
        return await services.course_outline(
            app_state, course, published_only=not edits(principal, course.owner_id)
        )

    @patch("/{course_id:uuid}", opt={"action": "learning.course.update"})
    async def update(
        self, app_state: AppState, principal: Principal, course_id: UUID, data: UpdateCourseRequest
    ) -> Course:
        """Rename, describe, archive (`archived: true` hides it from its classes) or restore."""
        course = await services.get_course_row(app_state, str(course_id))
        await authorize_course(app_state, principal, course, "learning.course.update", read=False)
        return await services.update_course(app_state, str(course_id), data)

    @post(
        "/{course_id:uuid}/classes",
        status_code=HTTP_200_OK,
        opt={"action": "learning.course.update"},
    )
    async def assign(
        self, app_state: AppState, principal: Principal, course_id: UUID, data: AssignCourseRequest
    ) -> list[str]:
        """Assign the course to one of its teacher's classes; answers the assigned class ids."""
        course = await services.get_course_row(app_state, str(course_id))
        await authorize_course(app_state, principal, course, "learning.course.update", read=False)
        class_id = parse_uuid(data.class_id, "class_id")
        if await class_services.class_teacher(app_state, class_id) != course.owner_id:
            raise Forbidden("class_id: a course can be assigned only to its teacher's classes")
        return await services.set_course_class(app_state, course, class_id, assigned=True)

    @delete(
        "/{course_id:uuid}/classes/{class_id:uuid}",
        status_code=HTTP_200_OK,
        opt={"action": "learning.course.update"},
    )
    async def withdraw(
        self, app_state: AppState, principal: Principal, course_id: UUID, class_id: UUID
    ) -> list[str]:
        """The class no longer sees the course; answers the class ids still assigned."""
        course = await services.get_course_row(app_state, str(course_id))
        await authorize_course(app_state, principal, course, "learning.course.update", read=False)
        return await services.set_course_class(app_state, course, str(class_id), assigned=False)

    @post(
        "/{course_id:uuid}/units",
        status_code=HTTP_201_CREATED,
        opt={"action": "learning.course.update"},
    )
    async def add_unit(
        self, app_state: AppState, principal: Principal, course_id: UUID, data: CreateUnitRequest
    ) -> Unit:
        """Add a unit at the end of the course."""
        course = await services.get_course_row(app_state, str(course_id))
        await authorize_course(app_state, principal, course, "learning.course.update", read=False)
        return await services.create_unit(app_state, course.course_id, data.title)


class UnitsController(Controller):
    path = "/api/v1/units"
    tags = ["learning"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post(
        "/{unit_id:uuid}/lessons",
        status_code=HTTP_201_CREATED,
        opt={"action": "learning.lesson.create"},
    )
    async def add_lesson(
        self, app_state: AppState, principal: Principal, unit_id: UUID, data: CreateLessonRequest
    ) -> Lesson:
        """Add a lesson (Markdown body, version 1, unpublished) at the end of the unit."""
        course = await services.unit_course(app_state, str(unit_id))
        await authorize_course(app_state, principal, course, "learning.lesson.create", read=False)
        return await lessons.create_lesson(app_state, course, str(unit_id), principal.user_id, data)


class LessonsController(Controller):
    path = "/api/v1/lessons"
    tags = ["learning"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/{lesson_id:uuid}", opt={"action": "learning.lesson.read"})
    async def read(self, app_state: AppState, principal: Principal, lesson_id: UUID) -> Lesson:
        """The lesson with its body rendered to sanitised HTML and its attachments (download
        each through GET /api/v1/media/{media_id}). Students get the published version."""
        row, class_id = await readable_lesson(
            app_state, principal, str(lesson_id), "learning.lesson.read"
        )
        reader = not edits(principal, str(row["owner_id"]))
        lesson = await lessons.show_lesson(app_state, row, published=reader)
        if reader and principal.role == "student":  # her reading is a learning record
            await lessons.record(
                app_state,
                Record(
                    user_id=principal.user_id,
                    verb="experienced",
                    object_type="lesson",
                    object_id=lesson.lesson_id,
                    class_id=class_id,
                ),
            )
        return lesson

    @post(
        "/{lesson_id:uuid}/progress",
        status_code=HTTP_201_CREATED,
        opt={"action": "learning.record.create"},
    )
    async def progress(
        self, app_state: AppState, principal: Principal, lesson_id: UUID, data: ProgressRequest
    ) -> Recorded:
        """Report progress through the lesson (share done, seconds spent since the last report,
        completed): an xAPI statement in the learning records. Completing it hands in the
        lesson's assignments."""
        row, class_id = await readable_lesson(
            app_state, principal, str(lesson_id), "learning.record.create"
        )
        record = Record(
            user_id=principal.user_id,
            verb="completed" if data.completed else "progressed",
            object_type="lesson",
            object_id=str(row["lesson_id"]),
            class_id=class_id,
            progress=1.0 if data.completed else data.progress,
            completion=data.completed,
            duration_seconds=data.seconds,
        )
        statement_id = await lessons.record(app_state, record)
        return Recorded(statement_id, record.verb)

    @patch("/{lesson_id:uuid}", opt={"action": "learning.lesson.update"})
    async def update(
        self, app_state: AppState, principal: Principal, lesson_id: UUID, data: UpdateLessonRequest
    ) -> Lesson:
        """Edit title, body or attachments: a new version (students keep the published one)."""
        await owned_lesson(app_state, principal, str(lesson_id), "learning.lesson.update")
        return await lessons.update_lesson(app_state, str(lesson_id), principal.user_id, data)

    @get("/{lesson_id:uuid}/versions", opt={"action": "learning.lesson.update"})
    async def versions(
        self, app_state: AppState, principal: Principal, lesson_id: UUID
    ) -> list[LessonVersion]:
        """Every version of the lesson, oldest first (its teacher)."""
        await owned_lesson(app_state, principal, str(lesson_id), "learning.lesson.update")
        return await lessons.lesson_versions(app_state, str(lesson_id))

    @post(
        "/{lesson_id:uuid}/publish",
        status_code=HTTP_200_OK,
        opt={"action": "learning.lesson.update"},
    )
    async def publish(
        self,
        app_state: AppState,
        principal: Principal,
        lesson_id: UUID,
        data: PublishRequest | None = None,
    ) -> Lesson:
        """Students see `version` (default: the newest) from now on."""
        await owned_lesson(app_state, principal, str(lesson_id), "learning.lesson.update")
        version = data.version if data is not None and data.version is not None else None
        return await lessons.set_published(app_state, str(lesson_id), version)

    @post(
        "/{lesson_id:uuid}/unpublish",
        status_code=HTTP_200_OK,
        opt={"action": "learning.lesson.update"},
    )
    async def unpublish(self, app_state: AppState, principal: Principal, lesson_id: UUID) -> Lesson:
        """Students no longer see the lesson (its versions are kept)."""
        await owned_lesson(app_state, principal, str(lesson_id), "learning.lesson.update")
        return await lessons.set_published(app_state, str(lesson_id), 0)


class MediaController(Controller):
    path = "/api/v1/media"
    tags = ["learning"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/uploads", status_code=HTTP_201_CREATED, opt={"action": "learning.media.create"})
    async def request_upload(
        self, app_state: AppState, principal: Principal, data: UploadRequest
    ) -> UploadTicket:
        """Declare a file (holder, name, content type, size, SHA-256): when the policy lets the
        caller change the holder and the type and size are within the limits, answers a
        presigned PUT. Then PUT the bytes there and call finalise."""
        data.holder_id = await holders.authorize_upload(
            app_state, principal, data.holder_type, data.holder_id
        )
        return await media.request_upload(app_state, principal.user_id, data)

    @post(
        "/{media_id:uuid}/finalise",
        status_code=HTTP_200_OK,
        opt={"action": "learning.media.create"},
    )
    async def finalise(
        self, app_state: AppState, principal: Principal, media_id: UUID
    ) -> MediaFile:
        """Check the stored object against the declaration: size, content type, leading bytes
        and SHA-256. A mismatch deletes the object and the upload (400); nothing uploaded: 409."""
        row = await media.media_row(app_state, str(media_id))
        await app_state.policy.authorize(
            principal,
            "learning.media.create",
            Resource("media", row["media_id"], row["user_id"], None),
        )
        return await media.finalise(app_state, row)

    @get("/{media_id:uuid}", opt={"action": "learning.media.read"})
    async def download(self, app_state: AppState, principal: Principal, media_id: UUID) -> Download:
        """A short-lived presigned GET, for callers the policy lets read what holds the file."""
        row = await media.media_row(app_state, str(media_id))
        await holders.authorize_download(app_state, principal, row)
        return media.download(app_state, row)
