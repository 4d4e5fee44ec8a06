"""HTTP routes of the exams service: /api/v1/exams and /api/v1/attempts."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.deps import provide_principal
from apis.exams import services
from apis.exams.schemas import AnswerRequest, Attempt, CreateExamRequest, Exam
from apis.exams.schemas import Response as AnswerRecord
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState


def _exam_resource(exam: Exam) -> Resource:
    return Resource("exam", exam.exam_id, exam.owner_id, exam.class_id)


class ExamsController(Controller):
    path = "/api/v1/exams"
    tags = ["exams"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "exams.exam.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateExamRequest
    ) -> Exam:
        """Create a fixed-form exam from items of the caller's bank, optionally for a class."""
        return await services.create_exam(
            app_state,
            principal.user_id,
            data.title,
            [str(i) for i in data.item_ids],
            str(data.class_id) if data.class_id else None,
        )

    @get("/{exam_id:uuid}", opt={"action": "exams.exam.read"})
    async def read(self, app_state: AppState, principal: Principal, exam_id: UUID) -> Exam:
        """One exam, for its owner and the students of its class."""
        exam = await services.get_exam(app_state, str(exam_id))
        await app_state.policy.authorize(principal, "exams.exam.read", _exam_resource(exam))
        return exam

    @post("/{exam_id:uuid}/attempts", opt={"action": "exams.attempt.start"})
    async def start(
        self, app_state: AppState, principal: Principal, exam_id: UUID
    ) -> Response[Attempt]:
        """Start an attempt (201), or resume the one in progress (200)."""
        exam = await services.get_exam(app_state, str(exam_id))
        await app_state.policy.authorize(principal, "exams.attempt.start", _exam_resource(exam))
        attempt, created = await services.start_attempt(app_state, exam, principal.user_id)
        return Response(attempt, status_code=HTTP_201_CREATED if created else HTTP_200_OK)


class AttemptsController(Controller):
    path = "/api/v1/attempts"
    tags = ["exams"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    async def _authorize(
        self, app_state: AppState, principal: Principal, attempt_id: UUID, action: str
    ) -> None:
        row, exam = await services.attempt_owner(app_state, str(attempt_id))
        await app_state.policy.authorize(
            principal,
            action,
            Resource("attempt", row["attempt_id"], row["student_id"], exam.class_id),
        )

    @get("/{attempt_id:uuid}", opt={"action": "exams.attempt.read"})
    async def read(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Attempt:
        """An attempt with its items and answers (correctness once completed)."""
        await self._authorize(app_state, principal, attempt_id, "exams.attempt.read")
        return await services.get_attempt(app_state, str(attempt_id))

    @post("/{attempt_id:uuid}/responses", opt={"action": "exams.attempt.answer"})
    async def answer(
        self, app_state: AppState, principal: Principal, attempt_id: UUID, data: AnswerRequest
    ) -> Response[AnswerRecord]:
        """Answer one item: 201 when recorded, 200 when the same answer was already recorded."""
        await self._authorize(app_state, principal, attempt_id, "exams.attempt.answer")
        record, created = await services.answer(
            app_state, str(attempt_id), str(data.item_id), data.choice
        )
        return Response(record, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @post(
        "/{attempt_id:uuid}/finish", status_code=HTTP_200_OK, opt={"action": "exams.attempt.answer"}
    )
    async def finish(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Attempt:
        """Finish and score the attempt."""
        await self._authorize(app_state, principal, attempt_id, "exams.attempt.answer")
        return await services.finish(app_state, str(attempt_id))
