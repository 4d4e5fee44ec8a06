"""Dependency providers shared by every service router."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from apis.gateway.principal import SCOPE_KEY, Principal
from apis.state import AppState
from core.errors import Unauthenticated


def provide_state(state: State) -> AppState:
    app_state: AppState = state.dreamseed
    return app_state


def provide_principal(request: Request[Any, Any, Any], app_state: AppState) -> Principal:
    """The caller. `app_state` is unused: depending on it makes Litestar resolve the two
    dependencies one after the other; independent dependencies of one handler are resolved
    concurrently, in an anyio task group with a task each, which costs more than both providers.
    """
    del app_state
    principal = request.scope.get(SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise Unauthenticated("authentication required")
    return principal


def request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("dreamseed.request_id", ""))
