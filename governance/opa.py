"""The governance contract answered by an OPA server's REST data API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from governance.decision import PolicyUnavailable
from governance.engine import PolicyEngine


class RemoteOpaEngine(PolicyEngine):
    """``POST {url}/v1/data/<rule path with / for .>`` with ``{"input": ...}``; the answer is
    ``{"result": ...}`` (absent when undefined). Any transport error, timeout, non-2xx status,
    or missing/malformed result raises :class:`PolicyUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        revision: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self._url = url.rstrip("/")
        self._revision = revision or f"opa:{httpx.URL(self._url).host}"
        self._client = httpx.AsyncClient(base_url=self._url, timeout=timeout, transport=transport)

    @property
    def revision(self) -> str:
        return self._revision

    @staticmethod
    def _path(rule: str) -> str:
        if not rule.startswith("data."):
            raise PolicyUnavailable(f"not a data rule path: {rule}", rule=rule)
        return "/v1/data/" + rule.removeprefix("data.").replace(".", "/")

    @staticmethod
    def _result(rule: str, response: httpx.Response) -> Any:
        if response.status_code != 200:
            raise PolicyUnavailable(f"OPA answered HTTP {response.status_code}", rule=rule)
        try:
            body = response.json()
        except ValueError as exc:
            raise PolicyUnavailable("OPA answered non-JSON", rule=rule) from exc
        if not isinstance(body, Mapping) or body.get("result") is None:
            raise PolicyUnavailable(f"policy result undefined: {rule}", rule=rule)
        return body["result"]

    async def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        try:
            response = await self._client.post(self._path(rule), json={"input": input})
        except PolicyUnavailable:
            raise
        except Exception as exc:  # transport errors, timeouts, anything: fail closed
            raise PolicyUnavailable(f"OPA unreachable: {exc!r}", rule=rule) from exc
        return self._result(rule, response)

    async def aclose(self) -> None:
        await self._client.aclose()
