"""HTTP routes of the analytics service: /api/v1/analytics (live learner analytics, presence).

The route guard checks the role's action; then `data.dreamseed.analytics.access.decision`
(governance/policies/dreamseed/analytics/access/) decides on the resource: a student reads only
her own progress, a class's progress and presence are its teacher's and the admins'.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get
from litestar.di import Provide

from apis.analytics import presence, services
from apis.analytics.schemas import ClassPresence, ClassProgress, StudentProgress
from apis.deps import provide_principal
from apis.gateway.principal import Principal
from apis.state import AppState
from core.errors import Forbidden
from governance import ANALYTICS_ACCESS

PROGRESS = "analytics.progress.read"
PRESENCE = "analytics.presence.read"


async def _decide(
    state: AppState, principal: Principal, action: str, resource: dict[str, Any]
) -> None:
    payload = {
        "subject": {"user_id": principal.user_id, "role": principal.role, "class_ids": []},
        "action": action,
        "resource": resource,
    }
    decision = await state.policy.decide(ANALYTICS_ACCESS, payload, action)
    if not decision.allowed:
        raise Forbidden(f"{action} on {resource['type']} is not permitted: {decision.reason}")


def _class_resource(kind: str, class_id: str, facts: services.ClassFacts) -> dict[str, Any]:
    return {"type": kind, "class_id": class_id, "class_teacher_id": facts.teacher_id}


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/me/progress", opt={"action": PROGRESS})
    async def my_progress(self, app_state: AppState, principal: Principal) -> StudentProgress:
        """The caller's live progress: mastery per skill and class, θ history, standing per
        class. Updated within seconds of each response, completed attempt or returned work."""
        await _decide(
            app_state,
            principal,
            PROGRESS,
            {"type": "student_progress", "student_id": principal.user_id},
        )
        return await services.my_progress(app_state, principal.user_id)

    @get("/classes/{class_id:uuid}/progress", opt={"action": PROGRESS})
    async def class_progress(
        self, app_state: AppState, principal: Principal, class_id: UUID
    ) -> ClassProgress:
        """The class's running summary, its students and skills (its teacher and admins)."""
        facts = await services.class_facts(app_state, str(class_id))
        resource = _class_resource("class_progress", str(class_id), facts)
        await _decide(app_state, principal, PROGRESS, resource)
        return await services.progress_of_class(app_state, str(class_id), facts)

    @get("/classes/{class_id:uuid}/presence", opt={"action": PRESENCE})
    async def class_presence(
        self, app_state: AppState, principal: Principal, class_id: UUID
    ) -> ClassPresence:
        """Who of the class is online now (an open notification stream; its teacher and
        admins)."""
        facts = await services.class_facts(app_state, str(class_id))
        resource = _class_resource("class_presence", str(class_id), facts)
        await _decide(app_state, principal, PRESENCE, resource)
        ttl = presence.ttl_seconds(app_state.settings.realtime.sse_heartbeat_seconds)
        return await presence.online(app_state.redis, str(class_id), ttl)
