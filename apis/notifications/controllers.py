"""HTTP routes of the notifications service: /api/v1/notifications (each caller's own only)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK

from apis.analytics import presence
from apis.deps import provide_principal
from apis.gateway.principal import Principal
from apis.notifications import services
from apis.notifications.schemas import (
    MarkedRead,
    Notification,
    NotificationPage,
    Preferences,
    QuietHours,
)
from apis.state import AppState
from core.errors import InvalidInput


def _last_event_id(request: Request[Any, Any, Any]) -> int | None:
    raw = request.headers.get("last-event-id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput(f"Last-Event-ID: {raw[:40]!r} is not an event id of this stream")
    return int(raw)


async def _events(
    app_state: AppState, user_id: str, start: int | None
) -> AsyncIterator[ServerSentEventMessage]:
    """Notifications after `start` (after now when None), then each new one as it is made, with
    a comment line as heartbeat; the stream ends after `sse_max_seconds` (the client resumes)."""
    realtime = app_state.settings.realtime
    # Presence (apis/analytics/presence.py): online in her classes while the stream is open.
    async with app_state.pool.connection() as conn:
        classes = await presence.classes_of(conn, user_id)
    ttl = presence.ttl_seconds(realtime.sse_heartbeat_seconds)
    # A presence write that fails (Redis away, or its connections all busy under a thousand
    # streams) must not end the stream: the next heartbeat writes it again.
    with contextlib.suppress(Exception):
        await presence.seen(app_state.redis, user_id, classes, ttl)
    async with app_state.wakes.listen(user_id) as woken:  # before reading: no gap
        try:
            seq = await services.last_seq(app_state.pool, user_id) if start is None else start
            loop = asyncio.get_running_loop()
            ends = loop.time() + realtime.sse_max_seconds
            yield ServerSentEventMessage(
                data=None, comment="connected", retry=realtime.sse_retry_ms
            )
            while loop.time() < ends:
                for n in await services.after(app_state.pool, user_id, seq):
                    seq = n.seq
                    yield ServerSentEventMessage(
                        data=msgspec.json.encode(n).decode(), event="notification", id=n.seq
                    )
                wait = min(realtime.sse_heartbeat_seconds, max(ends - loop.time(), 0.0))
                try:
                    await asyncio.wait_for(woken.wait(), wait)
                except TimeoutError:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")  # no event
                woken.clear()
                with contextlib.suppress(Exception):
                    await presence.seen(app_state.redis, user_id, classes, ttl)
        finally:
            with contextlib.suppress(Exception):  # Redis away: the sighting expires by itself
                await presence.left(app_state.redis, user_id, classes)


class NotificationsController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/", opt={"action": "notifications.notification.read"})
    async def list_mine(
        self,
        app_state: AppState,
        principal: Principal,
        unread: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        before: Annotated[int | None, Parameter(ge=1)] = None,
    ) -> NotificationPage:
        """The caller's notifications, newest first (`before`: a `seq` to page back from)."""
        return await services.page(
            app_state, principal.user_id, unread_only=unread, limit=limit, before=before
        )

    @get(
        "/stream",
        opt={
            "action": "notifications.notification.read",
            "response_media_types": ("text/event-stream",),
            "response_type": Notification,  # each event's data
        },
    )
    async def stream(
        self, app_state: AppState, principal: Principal, request: Request[Any, Any, Any]
    ) -> ServerSentEvent:
        """Server-Sent Events: each new notification as event `notification` (id = its `seq`),
        a comment as heartbeat. Send `Last-Event-ID` to resume after a disconnect (what was made
        meanwhile comes first). Authenticate with the Authorization header (a fetch-based
        EventSource). The server ends a stream after `DREAMSEED_REALTIME_SSE_MAX_SECONDS`."""
        start = _last_event_id(request)
        return ServerSentEvent(_events(app_state, principal.user_id, start))

    @post(
        "/{notification_id:uuid}/read",
        status_code=HTTP_200_OK,
        opt={"action": "notifications.notification.update"},
    )
    async def mark_read(
        self, app_state: AppState, principal: Principal, notification_id: UUID
    ) -> Notification:
        """Mark one of the caller's notifications read (again: no change)."""
        return await services.mark_read(app_state, principal.user_id, str(notification_id))

    @post("/read-all", status_code=HTTP_200_OK, opt={"action": "notifications.notification.update"})
    async def mark_all_read(self, app_state: AppState, principal: Principal) -> MarkedRead:
        return MarkedRead(await services.mark_all_read(app_state, principal.user_id))

    @get("/preferences", opt={"action": "notifications.notification.read"})
    async def get_preferences(self, app_state: AppState, principal: Principal) -> Preferences:
        """Per kind and channel (`in_app`, `email`): on unless turned off."""
        return await services.preferences(app_state, principal.user_id)

    @put("/preferences", opt={"action": "notifications.notification.update"})
    async def put_preferences(
        self, app_state: AppState, principal: Principal, data: Preferences
    ) -> Preferences:
        return await services.set_preferences(app_state, principal.user_id, data)

    @get("/preferences/quiet-hours", opt={"action": "notifications.notification.read"})
    async def get_quiet_hours(self, app_state: AppState, principal: Principal) -> QuietHours:
        """Her quiet hours for e-mail (`enabled` false: none)."""
        return await services.quiet_hours(app_state, principal.user_id)

    @put("/preferences/quiet-hours", opt={"action": "notifications.notification.update"})
    async def put_quiet_hours(
        self, app_state: AppState, principal: Principal, data: QuietHours
    ) -> QuietHours:
        """Set her quiet hours (local `starts`-`ends` in `time_zone`; mails wait until they
        end, in-app notifications still arrive), or turn them off with `enabled` false."""
        return await services.set_quiet_hours(app_state, principal.user_id, data)
