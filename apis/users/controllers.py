"""HTTP routes of the users service: /api/v1/auth/* and /api/v1/users/me."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from apis.deps import provide_principal
from apis.gateway.principal import Principal
from apis.state import AppState
from apis.users import services
from apis.users.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
)
from core.auth import Claims
from core.errors import NotFound

PUBLIC = {"public": True}


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["users"]

    @post("/register", status_code=HTTP_201_CREATED, opt=PUBLIC)
    async def register(self, app_state: AppState, data: RegisterRequest) -> User:
        """Create a student or teacher account."""
        return await services.register(
            app_state, data.email, data.password, data.display_name, data.role
        )

    @post("/login", status_code=HTTP_200_OK, opt=PUBLIC)
    async def login(
        self, app_state: AppState, request: Request[Any, Any, Any], data: LoginRequest
    ) -> TokenPair:
        """Exchange e-mail and password for an access and a refresh token."""
        client = request.client.host if request.client else "unknown"
        return await services.login(app_state, data.email, data.password, client)

    @post("/refresh", status_code=HTTP_200_OK, opt=PUBLIC)
    async def refresh(self, app_state: AppState, data: RefreshRequest) -> TokenPair:
        """Exchange a refresh token (single use) for a new pair."""
        return await services.refresh(app_state, data.refresh_token)

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "users.session.delete"},
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
    )
    async def logout(
        self, app_state: AppState, principal: Principal, data: LogoutRequest | None = None
    ) -> None:
        """Revoke the current access token (and the refresh token, when given)."""
        claims = Claims(
            principal.user_id, principal.role, principal.token_id, "access", principal.expires_at
        )
        await services.logout(app_state, claims, data.refresh_token if data else None)


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("/me", opt={"action": "users.me.read"})
    async def me(self, app_state: AppState, principal: Principal) -> User:
        """The signed-in account."""
        user = await services.get_user(app_state, principal.user_id)
        if user is None:
            raise NotFound("account not found")
        return user
