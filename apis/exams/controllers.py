"""HTTP routes of the exams service: /api/v1/exams, /api/v1/attempts and /api/v1/results."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.deps import provide_principal
from apis.exams import assembly, delivery, services
from apis.exams.schemas import (
    AnswerReply,
    AnswerRequest,
    AssembledExam,
    AssembleRequest,
    Attempt,
    CreateExamRequest,
    Exam,
    ItemReport,
    Replay,
    Result,
)
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState
from core.errors import InvalidInput


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
        """Create a fixed-form exam (items in order) or an adaptive one (`kind: adaptive`: the
        items are the pool; `adaptive` sets selection, exposure, blueprint, stopping, time limit
        and pilot share), from items of the caller's bank, optionally for a class."""
        if data.kind == "adaptive":
            return await services.create_adaptive_exam(app_state, principal.user_id, data)
        if data.adaptive is not None:
            raise InvalidInput("adaptive settings need kind 'adaptive'")
        return await services.create_exam(
            app_state,
            principal.user_id,
            data.title,
            [str(i) for i in data.item_ids],
            str(data.class_id) if data.class_id else None,
            data.time_limit_seconds,
        )

    @post("/assemble", status_code=HTTP_201_CREATED, opt={"action": "exams.exam.assemble"})
    async def assemble(
        self, app_state: AppState, principal: Principal, data: AssembleRequest
    ) -> AssembledExam:
        """Build a fixed form automatically (MILP, van der Linden 2005) from the caller's
        calibrated items: blueprint counts per skill, enemy sets, an exposure cap and a target
        test information at chosen θ points; creates the exam and reports the information
        achieved. A specification no form can meet is a 400 naming the constraint."""
        return await assembly.assemble_exam(app_state, principal.user_id, data)

    @get("/", opt={"action": "exams.exam.read"})
    async def list_exams(self, app_state: AppState, principal: Principal) -> list[Exam]:
        """A student's available exams (those of her classes); a teacher's own exams."""
        return await services.list_exams(app_state, principal.user_id, principal.role)

    @get("/{exam_id:uuid}", opt={"action": "exams.exam.read"})
    async def read(self, app_state: AppState, principal: Principal, exam_id: UUID) -> Exam:
        """One exam, for its owner and the students of its class."""
        exam = await services.get_exam(app_state, str(exam_id))
        await app_state.policy.authorize(principal, "exams.exam.read", _exam_resource(exam))
        if exam.kind == "adaptive" and principal.user_id != exam.owner_id:
            # Students see the rules, not the pool.
            exam.item_ids = []
        return exam

    @post(
        "/{exam_id:uuid}/attempts",
        opt={"action": "exams.attempt.start"},
        responses={200: ResponseSpec(Attempt, description="The attempt in progress, resumed.")},
    )
    async def start(
        self, app_state: AppState, principal: Principal, exam_id: UUID
    ) -> Response[Attempt]:
        """Start an attempt (201), or resume the one in progress (200). Adaptive attempts carry
        the first (or current) item in `next_item`."""
        exam = await delivery.cached_exam(app_state, str(exam_id))
        await app_state.policy.authorize(principal, "exams.attempt.start", _exam_resource(exam))
        attempt, created = await delivery.start_attempt(app_state, exam, principal.user_id)
        return Response(attempt, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/{exam_id:uuid}/item-report", opt={"action": "exams.result.read"})
    async def item_report(
        self, app_state: AppState, principal: Principal, exam_id: UUID
    ) -> ItemReport:
        """Per item: exposure (selections, rate), responses, proportion correct, mean θ of
        takers and live parameters; for the exam's teacher."""
        return await delivery.item_report(app_state, principal, str(exam_id))


class AttemptsController(Controller):
    path = "/api/v1/attempts"
    tags = ["exams"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/{attempt_id:uuid}", opt={"action": "exams.attempt.read"})
    async def read(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Attempt:
        """An attempt with its items and answers (correctness once completed); adaptive attempts
        also carry the item to answer now (`next_item`) or the result."""
        return await delivery.get_attempt(app_state, principal, str(attempt_id))

    @post(
        "/{attempt_id:uuid}/responses",
        opt={"action": "exams.attempt.answer"},
        responses={
            200: ResponseSpec(AnswerReply, description="Already recorded: the stored outcome.")
        },
    )
    async def answer(
        self, app_state: AppState, principal: Principal, attempt_id: UUID, data: AnswerRequest
    ) -> Response[AnswerReply]:
        """Answer one item: 201 when recorded (adaptive: with the next item, or the result when
        the stopping rule fired), 200 when the same answer / idempotency key was already
        recorded."""
        reply, created = await delivery.answer(app_state, principal, str(attempt_id), data)
        return Response(reply, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @post(
        "/{attempt_id:uuid}/finish", status_code=HTTP_200_OK, opt={"action": "exams.attempt.answer"}
    )
    async def finish(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Attempt:
        """Finish and score the attempt (adaptive: on the answers given so far)."""
        return await delivery.finish(app_state, principal, str(attempt_id))

    @get("/{attempt_id:uuid}/result", opt={"action": "exams.result.read"})
    async def result(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Result:
        """θ, SE, scale score, percentile and per-skill profile of a finished attempt."""
        return await delivery.get_result(app_state, principal, str(attempt_id))

    @get("/{attempt_id:uuid}/replay", opt={"action": "exams.attempt.replay"})
    async def replay(self, app_state: AppState, principal: Principal, attempt_id: UUID) -> Replay:
        """Recompute the adaptive attempt from its seed, rules, parameters and responses, and say
        whether every selection reproduces (teachers of the class, admins)."""
        return await delivery.replay(app_state, principal, str(attempt_id))


class ResultsController(Controller):
    path = "/api/v1/results"
    tags = ["exams"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/", opt={"action": "exams.result.read"})
    async def list_results(
        self,
        app_state: AppState,
        principal: Principal,
        exam_id: UUID | None = None,
        class_id: UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
    ) -> list[Result]:
        """Finished attempts: a student's own; a teacher's classes' and exams'; admins all."""
        return await delivery.list_results(
            app_state,
            principal,
            str(exam_id) if exam_id else None,
            str(class_id) if class_id else None,
            limit,
        )
