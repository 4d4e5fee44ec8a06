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
