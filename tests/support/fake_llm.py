"""A real HTTP server speaking the OpenAI chat-completions protocol (streaming SSE chunks) and
/embeddings, for the tutor's tests and bench. It is a scripted model: by default it repeats
everything it was given (every message's content), so a test can prove what reached it.

Behaviours (set `server.behaviour` at any time): `echo`, `slow_first` (waits `delay` seconds
before the first chunk), `error` (HTTP 500), `unavailable` (HTTP 503), `hang` (accepts, then
says nothing), `malformed` (a chunk that is not JSON), `down` (closes the connection at once).
Every request is logged in `server.requests` (method, path, parsed JSON body).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECHO_PREFIX = "Echo of what I was given: "
EMBED_DIMENSIONS = 64


class FakeModel(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = "echo"
        self.delay = 0.0  # seconds before the first chunk (slow_first), between chunks (all)
        self.chunk_delay = 0.0
        self.reply: str | None = None  # a fixed reply instead of the echo
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def chat_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def everything_received(self) -> str:
        """Every message content of every chat request, joined: what the model ever saw."""
        return "\n".join(
            str(m.get("content", ""))
            for r in self.chat_requests()
            for m in (r["body"] or {}).get("messages", [])
        )


def embed(text: str) -> list[float]:
    """A deterministic bag-of-words vector (hashed words), enough to rank by overlap."""
    vector = [0.0] * EMBED_DIMENSIONS
    for word in text.lower().split():
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % EMBED_DIMENSIONS] += 1.0
    return vector


class _Handler(BaseHTTPRequestHandler):
    server: FakeModel
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.server.lock:
            self.server.requests.append({"method": "POST", "path": self.path, "body": body})
        if self.path.endswith("/embeddings"):
            self._embeddings(body or {})
            return
        behaviour = self.server.behaviour
        if behaviour == "down":
            self.close_connection = True
            self.connection.close()
            return
        if behaviour in ("error", "unavailable"):
            status = 500 if behaviour == "error" else 503
            payload = b'{"error": {"message": "scripted failure"}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if behaviour == "hang":
            time.sleep(3600)
            return
        if behaviour == "slow_first":
            time.sleep(self.server.delay)
        try:
            self._stream(body or {}, malformed=behaviour == "malformed")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _send(self, data: str) -> None:
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], *, malformed: bool) -> None:
        messages = body.get("messages", [])
        text = self.server.reply
        if text is None:
            text = ECHO_PREFIX + " | ".join(str(m.get("content", "")) for m in messages)
        words = text.split(" ")
        for i, word in enumerate(words):
            if malformed and i == 2:
                self._send("{not json")
                return
            piece = word if i == len(words) - 1 else word + " "
            self._send(json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}))
            if self.server.chunk_delay:
                time.sleep(self.server.chunk_delay)
        usage = {"prompt_tokens": sum(len(str(m.get("content", ""))) for m in messages) // 4,
                 "completion_tokens": len(words)}  # fmt: skip
        self._send(json.dumps({"choices": [], "usage": usage}))
        self._send("[DONE]")

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        data = [{"index": i, "embedding": embed(str(t))} for i, t in enumerate(inputs)]
        payload = json.dumps({"data": data, "model": body.get("model")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def fake_model() -> Iterator[FakeModel]:
    server = FakeModel()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
