"""HTTP routes of the privacy service: /api/v1/privacy (administrators only).

Every route is checked by the policy for its action and, once the request is known, again with
the request as resource, so each request and each download link handed out is a decision in the
decision log (its resource is the request id, never the person's id).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from apis.deps import provide_principal
from apis.gateway.policy import Resource
from apis.gateway.principal import Principal
from apis.privacy import services
from apis.privacy.schemas import DownloadLink, Kind, PrivacyRequest, Status, SubjectRequest
from apis.state import AppState
from core.errors import NotFound


def _resource(request_id: str) -> Resource:
    return Resource("privacy_request", request_id, None, None)


class PrivacyController(Controller):
    path = "/api/v1/privacy"
    tags = ["privacy"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    async def _create(
        self, app_state: AppState, principal: Principal, kind: str, user_id: str
    ) -> PrivacyRequest:
        request_id = services.new_request_id()
        await app_state.policy.authorize(principal, f"privacy.{kind}.create", _resource(request_id))
        return await services.create(app_state, kind, user_id, principal.user_id, request_id)

    @post("/exports", status_code=HTTP_202_ACCEPTED, opt={"action": "privacy.export.create"})
    async def request_export(
        self, app_state: AppState, principal: Principal, data: SubjectRequest
    ) -> PrivacyRequest:
        """Request an export of everything about a person (PostgreSQL, the lake, S3, Redis, the
        LRS) into one archive. The request runs in the background (Dagster sensor
        `privacy_requests_sensor`); follow it with `GET /api/v1/privacy/requests/{request_id}`.
        An open export about the same person is returned instead of a second one."""
        return await self._create(app_state, principal, "export", data.user_id)

    @post("/erasures", status_code=HTTP_202_ACCEPTED, opt={"action": "privacy.erasure.create"})
    async def request_erasure(
        self, app_state: AppState, principal: Principal, data: SubjectRequest
    ) -> PrivacyRequest:
        """Request the erasure of a person from every store, the lake's history included
        (resumable steps; identity, contact data and free text deleted, learning data severed
        from her). An open erasure of the same person is returned instead of a second one."""
        return await self._create(app_state, principal, "erasure", data.user_id)

    @get("/requests", opt={"action": "privacy.request.read"})
    async def list_requests(
        self,
        app_state: AppState,
        kind: Kind | None = None,
        status: Status | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    ) -> list[PrivacyRequest]:
        """The latest privacy requests (newest first) with their progress."""
        return await services.recent(app_state, kind, status, limit)

    @get("/requests/{request_id:uuid}", opt={"action": "privacy.request.read"})
    async def read_request(
        self, app_state: AppState, principal: Principal, request_id: UUID
    ) -> PrivacyRequest:
        """One request's status and progress: the step running now and the steps done."""
        await app_state.policy.authorize(
            principal, "privacy.request.read", _resource(str(request_id))
        )
        found = await services.load(app_state, str(request_id))
        if found is None:
            raise NotFound(f"request_id: no privacy request {request_id}")
        return found

    @get("/exports/{request_id:uuid}/download", opt={"action": "privacy.export.download"})
    async def download(
        self,
        app_state: AppState,
        principal: Principal,
        request_id: UUID,
        seconds: Annotated[int, Parameter(ge=30, le=3600)] = services.LINK_SECONDS,
    ) -> DownloadLink:
        """A short-lived presigned link (`seconds`, 300 by default) to a finished export's
        archive; 409 while the export is still running. Each link handed out is logged."""
        await app_state.policy.authorize(
            principal, "privacy.export.download", _resource(str(request_id))
        )
        return await services.download_link(app_state, str(request_id), seconds)
