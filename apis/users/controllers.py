"""HTTP routes of the users service: /api/v1/auth/*, /api/v1/users/me and account administration
(/api/v1/users: create, list, deactivate, set role; admins, per the policy, every call logged)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from apis.deps import provide_principal
from apis.gateway.principal import Principal
from apis.state import AppState
from apis.users import services
from apis.users.schemas import (
    CreateUserRequest,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    Role,
    SetRoleRequest,
    TokenPair,
    User,
)
from core.auth import Claims
from core.errors import NotFound
from governance import Resource

PUBLIC = {"public": True}


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["users"]

    @post("/register", status_code=HTTP_201_CREATED, opt=PUBLIC)
    async def register(self, app_state: AppState, data: RegisterRequest) -> User:
        """Create a student account, or a teacher account where the policy data allows it
        (`governance/data/registration.json`: anyone, nobody, or e-mails of listed domains)."""
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

    @post("/", status_code=HTTP_201_CREATED, opt={"action": "users.user.create"})
    async def create(
        self, app_state: AppState, principal: Principal, data: CreateUserRequest
    ) -> User:
        """Administration: create an account of any role (admin, analyst, teacher, student)."""
        del principal  # the route guard decided (and logged) who may
        return await services.create_user(
            app_state, data.email, data.password, data.display_name, data.role
        )

    @get("/", opt={"action": "users.user.list"})
    async def list_users(
        self,
        app_state: AppState,
        principal: Principal,
        role: Role | None = None,
        active: bool | None = None,
        after: Annotated[str | None, Parameter(max_length=254)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[User]:
        """Administration: accounts by e-mail; `after` (the last e-mail seen) pages on."""
        del principal
        return await services.list_users(app_state, role, active, after, limit)

    @post(
        "/{user_id:uuid}/deactivate",
        status_code=HTTP_200_OK,
        opt={"action": "users.user.deactivate"},
    )
    async def deactivate(self, app_state: AppState, principal: Principal, user_id: UUID) -> User:
        """Administration: the account can no longer sign in; its tokens are revoked everywhere."""
        target = str(user_id)
        await app_state.policy.authorize(
            principal, "users.user.deactivate", Resource("user", target, owner_id=target)
        )
        return await services.deactivate(app_state, target)

    @put("/{user_id:uuid}/role", opt={"action": "users.user.set_role"})
    async def set_role(
        self, app_state: AppState, principal: Principal, user_id: UUID, data: SetRoleRequest
    ) -> User:
        """Administration: give the account another role; its tokens are revoked (they carry
        the old role), so it signs in again."""
        target = str(user_id)
        await app_state.policy.authorize(
            principal, "users.user.set_role", Resource("user", target, owner_id=target)
        )
        return await services.set_role(app_state, target, data.role)
