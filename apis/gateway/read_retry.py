"""Idempotent reads (GET, HEAD) run once more when PostgreSQL was lost under them.

A connection can die between the pool's check and the query (a restart, a failover, an idle
connection cut by the network). The database error handler (apis/errors.py) turns that into a
503 and marks the scope; for a read, this middleware holds that answer back and runs the route
once more, on a connection the pool has checked again. Writes are never repeated here: whether a
write took effect is the client's to find out (idempotency keys), not the gateway's to guess.
The innermost middleware, so authentication, rate limits and the access log run once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from litestar.middleware import ASGIMiddleware

from apis.errors import DATABASE_LOST
from apis.scope import discard

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

IDEMPOTENT_READS = frozenset({"GET", "HEAD"})
_log = logging.getLogger("dreamseed.api")


class ReadRetryMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") not in IDEMPOTENT_READS:
            await next_app(scope, receive, send)
            return
        held_back = False

        async def send_unless_lost(message: Message) -> None:
            nonlocal held_back
            if message["type"] == "http.response.start" and scope.get(DATABASE_LOST):
                held_back = True
            if not held_back:
                await send(message)

        await next_app(scope, receive, send_unless_lost)
        if held_back:
            _log.info(
                "retrying %s %s once: PostgreSQL was lost", scope.get("method"), scope["path"]
            )
            discard(scope, DATABASE_LOST)
            await next_app(scope, receive, send)
