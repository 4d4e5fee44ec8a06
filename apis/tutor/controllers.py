"""HTTP routes of the tutor service: /api/v1/tutor.

A student opens conversations in her classes and asks; answers stream as Server-Sent Events
(`apis.tutor.turns`). She reads her own transcripts, her teachers read their classes', admins
audit any. A class's teacher sets the tutor's mode for the class.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post, put
from litestar.di import Provide
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from apis.classes import services as class_services
from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.state import AppState
from apis.tutor import services, turns
from apis.tutor.schemas import (
    ClassTutor,
    ClassTutorRequest,
    Conversation,
    OpenConversationRequest,
    SendMessageRequest,
)

SSE = {"response_media_types": ("text/event-stream",), "response_type": str}


class TutorController(Controller):
    path = "/api/v1/tutor"
    tags = ["tutor"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post(
        "/conversations",
        status_code=HTTP_201_CREATED,
        opt={"action": "tutor.conversation.create"},
    )
    async def open(
        self, app_state: AppState, principal: Principal, data: OpenConversationRequest
    ) -> Conversation:
        """Open a tutoring session in one of your classes, optionally on a lesson, an assignment
        or an item of an exam you finished (`exam_id` with `item_id`)."""
        await app_state.policy.authorize(
            principal,
            "tutor.conversation.create",
            Resource("class", data.class_id, None, data.class_id),
        )
        return await services.open_conversation(app_state, principal.user_id, data)

    @get("/conversations", opt={"action": "tutor.conversation.read"})
    async def list_conversations(
        self,
        app_state: AppState,
        principal: Principal,
        class_id: UUID | None = None,
    ) -> list[Conversation]:
        """Students: their own conversations (of `class_id` if given). Teachers: those of the
        classes they teach (of `class_id`, which must be theirs). Admins: any."""
        class_filter = str(class_id) if class_id else None
        if principal.role == "student":
            return await services.list_conversations(
                app_state, user_id=principal.user_id, class_id=class_filter
            )
        if class_filter is not None:
            teacher_id = await class_services.class_teacher(app_state, class_filter, "class_id: ")
            await app_state.policy.authorize(
                principal,
                "tutor.conversation.read",
                Resource("class", class_filter, teacher_id, None),
            )
        taught_by = principal.user_id if principal.role == "teacher" else None
        return await services.list_conversations(
            app_state, class_id=class_filter, taught_by=taught_by
        )

    @get("/conversations/{conversation_id:uuid}", opt={"action": "tutor.conversation.read"})
    async def read(
        self, app_state: AppState, principal: Principal, conversation_id: UUID
    ) -> Conversation:
        """The conversation with its transcript: for the student who had it, her class's
        teacher and admins."""
        conversation = await services.get_conversation(app_state, str(conversation_id))
        await app_state.policy.authorize(
            principal,
            "tutor.conversation.read",
            Resource(
                "conversation",
                conversation.conversation_id,
                conversation.user_id,
                conversation.class_id,
            ),
        )
        conversation.messages = await services.transcript(app_state, conversation.conversation_id)
        return conversation

    @post(
        "/conversations/{conversation_id:uuid}/messages",
        status_code=HTTP_200_OK,
        opt={"action": "tutor.message.send", **SSE},
    )
    async def ask(
        self,
        app_state: AppState,
        principal: Principal,
        conversation_id: UUID,
        data: SendMessageRequest,
    ) -> ServerSentEvent:
        """Ask in your conversation. The answer streams as Server-Sent Events: `citations`
        (JSON list of {lesson_id, lesson_title, section}), `token` pieces ({"text": …}), and a
        final `done` ({turn_id, turn_index, kind: model|fallback|refusal, reason, citations})."""
        conversation = await services.get_conversation(app_state, str(conversation_id))
        await app_state.policy.authorize(
            principal,
            "tutor.message.send",
            Resource("conversation", conversation.conversation_id, conversation.user_id, None),
        )
        plan = await turns.prepare(app_state, principal, conversation, data.text)
        return ServerSentEvent(turns.stream(app_state, principal, plan))

    @get("/classes/{class_id:uuid}", opt={"action": "tutor.settings.read"})
    async def class_settings(
        self, app_state: AppState, principal: Principal, class_id: UUID
    ) -> ClassTutor:
        """The tutor's mode in a class (for its teacher and students)."""
        teacher_id = await class_services.class_teacher(app_state, str(class_id), "class_id: ")
        await app_state.policy.authorize(
            principal,
            "tutor.settings.read",
            Resource("class", str(class_id), teacher_id, str(class_id)),
        )
        return await services.class_tutor(app_state, str(class_id))

    @put("/classes/{class_id:uuid}", opt={"action": "tutor.settings.update"})
    async def set_class_settings(
        self, app_state: AppState, principal: Principal, class_id: UUID, data: ClassTutorRequest
    ) -> ClassTutor:
        """Set the tutor's mode in your class: off_during_exams (the default), hints_only or
        open. Whatever the mode, active exam items never reach the tutor."""
        teacher_id = await class_services.class_teacher(app_state, str(class_id), "class_id: ")
        await app_state.policy.authorize(
            principal, "tutor.settings.update", Resource("class", str(class_id), teacher_id, None)
        )
        return await services.set_class_tutor(
            app_state, str(class_id), data.mode, principal.user_id
        )
