"""DreamSeed's own keys on the ASGI scope (the principal, the request id, a lost database).

The ASGI specification lets servers and middleware add keys to the scope; Litestar's `Scope`
TypedDicts do not declare them, so they are written and removed here, in one typed place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from litestar.types import Scope


def put(scope: Scope, key: str, value: object) -> None:
    """Set extension key `key` (e.g. `dreamseed.principal`) on the scope."""
    cast("dict[str, object]", scope)[key] = value


def discard(scope: Scope, key: str) -> None:
    """Remove extension key `key` from the scope if it is there."""
    cast("dict[str, object]", scope).pop(key, None)
