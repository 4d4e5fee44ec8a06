"""Drive a Litestar app in this process and on this event loop (no server, no sockets): its
lifespan, and an httpx transport to it. Shared by the benches that profile or compare builds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from litestar import Litestar

Message = MutableMapping[str, Any]
#: An ASGI app as a server (or httpx) calls it: plain mappings for the scope and the messages.
ServerASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Coroutine[Any, Any, None],
]


def as_served(app: Litestar) -> ServerASGIApp:
    """`app` as a server sees it. Litestar types its scope as the TypedDicts it builds (with keys
    such as `app` that it adds itself), so it does not match the plain form; the protocol is the
    same, hence the one cast."""
    return cast("ServerASGIApp", app)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan (start-up, then shutdown) on this event loop."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope: Message = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(as_served(app)(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"start-up failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def transport(app: Litestar) -> httpx.ASGITransport:
    """An httpx transport that calls `app` directly."""
    return httpx.ASGITransport(app=as_served(app))
