"""Request and response bodies of the credential routes (msgspec Structs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

Scope = Literal[
    "statements/write", "statements/read", "statements/read/mine", "state", "define", "profile",
    "all/read", "all",
]  # fmt: skip


class IssueCredentialRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=8)]
    # A teacher's credential covers one of her classes (required for teachers).
    class_id: str | None = None


class Credential(msgspec.Struct):
    credential_id: str
    key: str
    name: str
    scopes: list[str]
    issued_by: str
    class_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class IssuedCredential(Credential):
    """The credential with its secret: shown once, never stored in clear."""

    secret: str
