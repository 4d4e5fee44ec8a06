"""The authenticated caller, put into the ASGI scope by the auth middleware."""

from __future__ import annotations

from datetime import datetime

import msgspec

SCOPE_KEY = "dreamseed.principal"


class Principal(msgspec.Struct, frozen=True):
    user_id: str
    role: str
    token_id: str
    expires_at: datetime
    # An LRS client (role "lrs_client", HTTP Basic): its credential's xAPI scopes and class.
    scopes: tuple[str, ...] = ()
    class_id: str | None = None
