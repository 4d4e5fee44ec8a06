"""A streaming client for any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp's
server, Ollama, hosted APIs), with the three timeouts of the issue and one safe retry.

- connect: opening the connection (httpx's connect timeout);
- first token: from sending the request until the first piece of content arrives (a server that
  accepts the request and then says nothing is a failure, not a slow answer);
- total: the whole answer; past it the stream is cut.
Every failure is a `ModelError` with a `kind` (the metric's label). A retry happens only when it
cannot duplicate anything the student saw: nothing was streamed yet and the server either was not
reached or answered 502/503/504 before any content.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

RETRYABLE_STATUSES = frozenset({502, 503, 504})
RETRY_PAUSE_SECONDS = 0.05


class ModelError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ModelConfig:
    url: str  # the API base, e.g. http://127.0.0.1:8080/v1
    model: str
    key: str = ""
    connect_seconds: float = 2.0
    first_token_seconds: float = 10.0
    total_seconds: float = 60.0

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def http_client(config: ModelConfig) -> httpx.AsyncClient:
    """One pooled client per process; the read timeout bounds a silent gap in the stream."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            config.first_token_seconds, connect=config.connect_seconds, pool=config.connect_seconds
        ),
        limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
    )


class ChatClient:
    def __init__(self, config: ModelConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def stream(
        self, messages: list[dict[str, str]], usage: Usage
    ) -> AsyncGenerator[str, None]:
        """Content pieces as they arrive; `usage` is filled if the server reports it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.total_seconds
        for attempt in (1, 2):
            started = False
            try:
                async for piece in self._once(messages, usage, deadline):
                    started = True
                    yield piece
                return
            except ModelError as exc:
                retry = (
                    attempt == 1
                    and not started
                    and exc.kind in ("connect", "unavailable")
                    and loop.time() + RETRY_PAUSE_SECONDS < deadline
                )
                if not retry:
                    raise
            await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def _once(
        self, messages: list[dict[str, str]], usage: Usage, deadline: float
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        headers = {"Authorization": f"Bearer {self.config.key}"} if self.config.key else {}
        url = self.config.url.rstrip("/") + "/chat/completions"
        first_by = min(deadline, loop.time() + self.config.first_token_seconds)
        try:
            async with asyncio.timeout_at(first_by):
                response = await self.http.send(
                    self.http.build_request(
                        "POST", url, json=self._request(messages), headers=headers
                    ),
                    stream=True,
                )
        except TimeoutError:
            raise ModelError(
                "first_token_timeout", "no answer before the first-token timeout"
            ) from None
        except httpx.ConnectError as exc:
            raise ModelError("connect", str(exc) or "connection refused") from None
        except httpx.TimeoutException as exc:
            kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "first_token_timeout"
            raise ModelError(kind, str(exc) or type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise ModelError("transport", str(exc) or type(exc).__name__) from None
        try:
            if response.status_code != 200:
                kind = "unavailable" if response.status_code in RETRYABLE_STATUSES else "status"
                raise ModelError(kind, f"HTTP {response.status_code}")
            async for piece in self._pieces(response, usage, first_by, deadline):
                yield piece
        finally:
            await response.aclose()

    async def _pieces(
        self, response: httpx.Response, usage: Usage, first_by: float, deadline: float
    ) -> AsyncIterator[str]:
        lines = response.aiter_lines()
        got_content = False
        while True:
            when = deadline if got_content else first_by
            try:
                async with asyncio.timeout_at(when):
                    line = await anext(lines)
            except StopAsyncIteration:
                raise ModelError("malformed", "the stream ended without [DONE]") from None
            except TimeoutError:
                kind = "total_timeout" if got_content else "first_token_timeout"
                raise ModelError(kind, "the answer took too long") from None
            except httpx.TimeoutException:
                raise ModelError("stalled", "the stream stalled") from None
            except httpx.HTTPError as exc:
                raise ModelError("transport", str(exc) or type(exc).__name__) from None
            piece = _parse_line(line, usage)
            if piece is None:
                return
            if piece:
                got_content = True
                yield piece


def _parse_line(line: str, usage: Usage) -> str | None:
    """The content of one SSE line ('' when it carries none); None at `data: [DONE]`."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""  # blank separators, comments, `event:` lines
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
        reported = chunk.get("usage")
        if isinstance(reported, dict):
            usage.prompt_tokens = int(reported.get("prompt_tokens") or 0)
            usage.completion_tokens = int(reported.get("completion_tokens") or 0)
        choices = chunk["choices"]
        if not choices:
            return ""
        content = choices[0].get("delta", {}).get("content")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ModelError("malformed", f"unreadable chunk: {data[:80]!r}") from exc
    if content is not None and not isinstance(content, str):
        raise ModelError("malformed", "delta.content is not text")
    return content or ""
