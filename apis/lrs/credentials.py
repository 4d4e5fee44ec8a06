"""Basic credentials for LRS clients: a key and a secret per integration, issued by an admin or
a teacher (for one of her classes), with xAPI scopes, revocable.

The secret is 256 random bits shown once; the store keeps its SHA-256 (a fast hash is right for
a secret of that entropy, and a content player sends it on every request). Verified credentials
are remembered per process for `CACHE_SECONDS`, so a revocation takes effect within that time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from apis.gateway.principal import Principal
from apis.lrs.db import tuples
from core import outbox
from core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from core.events import LrsCredentialIssuedV1, LrsCredentialRevokedV1
from core.ids import new_id

SCOPES: Final = (
    "statements/write", "statements/read", "statements/read/mine", "state", "define",
    "profile", "all/read", "all",
)  # fmt: skip
CACHE_SECONDS: Final = 5.0
ROLE: Final = "lrs_client"
FAR_FUTURE: Final = datetime(9999, 1, 1, tzinfo=UTC)
_COLUMNS = (
    "credential_id::text, key, name, scopes, issued_by::text, class_id::text, created_at,"
    " revoked_at"
)
_cache: dict[str, tuple[float, Principal | None]] = {}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InvalidInput(f"scopes: {unknown or 'none'} not among {list(SCOPES)}")
    return sorted(set(scopes))


async def issue(
    conn: AsyncConnection[Any],
    *,
    issued_by: str,
    role: str,
    name: str,
    scopes: list[str],
    class_id: str | None,
) -> dict[str, Any]:
    """A new credential (with its secret, shown only now) and its outbox event."""
    scopes = check_scopes(scopes)
    if role == "teacher":
        if class_id is None:
            raise InvalidInput("class_id: a teacher's credential covers one of her classes")
        cur = await tuples(conn).execute(
            "select teacher_id::text from classes.classes where class_id = %s", (class_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"class_id: class {class_id} not found")
        if row[0] != issued_by:
            raise Forbidden("class_id: a teacher issues credentials only for her own classes")
    elif role != "admin":
        raise Forbidden("only an admin or a teacher issues LRS credentials")
    credential_id = str(new_id())
    key = secrets.token_hex(10)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await conn.execute(
        "insert into lrs.credentials (credential_id, key, secret_hash, name, scopes, issued_by,"
        " class_id, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (credential_id, key, hash_secret(secret), name, scopes, issued_by, class_id, now),
    )
    event = LrsCredentialIssuedV1(
        credential_id=credential_id, owner_id=issued_by, class_id=class_id, scopes=scopes,
        issued_at=now,
    )  # fmt: skip
    await outbox.append(conn, event, now)
    return {
        "credential_id": credential_id, "key": key, "secret": secret, "name": name,
        "scopes": scopes, "issued_by": issued_by, "class_id": class_id, "created_at": now,
        "revoked_at": None,
    }  # fmt: skip


async def listing(conn: AsyncConnection[Any], issued_by: str | None) -> list[dict[str, Any]]:
    """Credentials (never their secrets): an issuer's own, or every one (issued_by None)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        if issued_by is None:
            await cur.execute(f"select {_COLUMNS} from lrs.credentials order by created_at")
        else:
            await cur.execute(
                f"select {_COLUMNS} from lrs.credentials where issued_by = %s order by created_at",
                (issued_by,),
            )
        return list(await cur.fetchall())


async def revoke(
    conn: AsyncConnection[Any], credential_id: str, *, by: str, admin: bool
) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_COLUMNS} from lrs.credentials where credential_id = %s for update",
            (credential_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"credential {credential_id} not found")
    if not admin and row["issued_by"] != by:
        raise Forbidden(f"credential {credential_id} was issued by someone else")
    if row["revoked_at"] is None:
        now = datetime.now(UTC)
        await conn.execute(
            "update lrs.credentials set revoked_at = %s where credential_id = %s",
            (now, credential_id),
        )
        event = LrsCredentialRevokedV1(credential_id=credential_id, owner_id=by, revoked_at=now)
        await outbox.append(conn, event, now)
        row["revoked_at"] = now
    return row


def basic_pair(header: str) -> tuple[str, str]:
    """(key, secret) of an `Authorization: Basic …` header; 401 when malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated("the Authorization header must be Basic or Bearer")
    try:
        key, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        key, sep, secret = "", "", ""
    if not sep or not key:
        raise Unauthenticated("Basic credentials must be base64 of 'key:secret'")
    return key, secret


async def authenticate(pool: Any, header: str) -> Principal:
    """The LRS client a Basic header names (401 for unknown, wrong or revoked credentials)."""
    key, secret = basic_pair(header)
    cache_key = hashlib.sha256(header.encode()).hexdigest()
    now = time.monotonic()
    hit = _cache.get(cache_key)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = (now, await _lookup(pool, key, secret))
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[cache_key] = hit
    if hit[1] is None:
        raise Unauthenticated("unknown, wrong or revoked LRS credentials")
    return hit[1]


async def _lookup(pool: Any, key: str, secret: str) -> Principal | None:
    async with pool.connection() as conn:
        cur = await tuples(conn).execute(
            "select credential_id::text, secret_hash, scopes, issued_by::text, class_id::text"
            " from lrs.credentials where key = %s and revoked_at is null",
            (key,),
        )
        row = await cur.fetchone()
    if row is None or not hmac.compare_digest(row[1], hash_secret(secret)):
        return None
    return Principal(row[3], ROLE, row[0], FAR_FUTURE, tuple(row[2]), row[4])
