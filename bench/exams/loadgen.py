"""A lean HTTP/1.1 keep-alive client for the load generator: one connection per examinee.

The load generator shares the machine's two cores with the service it measures, so every
millisecond of client CPU is a millisecond the API, PostgreSQL or Redis may wait for a core, and
time the client's own event loop adds to the latency it reports. This client writes the request
bytes itself and parses the reply with httptools (the parser uvicorn uses): on uvloop the bench's
load generator spends ≈ 0.85 ms of CPU per answer with it, examinee logic included, against
≈ 1.16 ms with aiohttp and ≈ 3.9 ms with httpx (bench/exams/README.md). It speaks only what the
bench needs: GET/POST, JSON bodies, Content-Length replies, keep-alive, one request at a time per
connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httptools
import msgspec

TIMEOUT_SECONDS = 30.0


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def json(self) -> object:
        return msgspec.json.decode(self.body)


class _Protocol(asyncio.Protocol):
    """Feeds the socket's bytes to httptools; completes `waiter` when a reply is whole."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Reply] | None = None
        self._body: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        reply = Reply(self.parser.get_status_code(), b"".join(self._body), self._headers)
        self._body, self._headers = [], {}
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(reply)


class Connection:
    """One keep-alive connection to `host:port`, sending `headers` with every request."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._fixed = f"Host: {host}:{port}\r\n{fixed}".encode()
        self._protocol: _Protocol | None = None

    async def _connected(self) -> _Protocol:
        if (
            self._protocol is None
            or self._protocol.transport is None
            or (self._protocol.transport.is_closing())
        ):
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            protocol.transport = transport
            self._protocol = protocol
        return self._protocol

    async def request(self, method: str, path: str, json: object | None = None) -> Reply:
        protocol = await self._connected()
        body = b"" if json is None else msgspec.json.encode(json)
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if json is not None:
            head += b"Content-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        protocol.waiter = asyncio.get_running_loop().create_future()
        assert protocol.transport is not None
        protocol.transport.write(head + body)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return await protocol.waiter

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
