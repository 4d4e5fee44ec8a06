"""Request and response bodies of the users service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from apis.validation import pattern

Email = Annotated[
    str,
    pattern(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "a valid e-mail address", min_length=3, max_length=254),
]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Role = Literal["student", "teacher", "admin", "analyst"]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    display_name: DisplayName
    # Admins and analysts are created by an administrator (POST /api/v1/users, or
    # `dreamseed users create`), never self-registered; teachers as the policy data says.
    role: Literal["student", "teacher"] = "student"


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=10, max_length=4096)]


class LogoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str | None = None


class CreateUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    """An account made by an administrator, of any role."""

    email: Email
    password: Password
    display_name: DisplayName
    role: Role


class SetRoleRequest(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class User(msgspec.Struct):
    user_id: str
    email: str
    display_name: str
    role: str
    created_at: datetime
    deactivated_at: datetime | None = None  # set: the account can no longer sign in


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User
