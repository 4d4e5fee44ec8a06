"""Signed statements (xAPI 1.0.3 Signed Statements): a statement may carry a JWS over itself as
an attachment of usage type `…/attachments/signature`. The LRS rejects (400) a signature that is
not a compact JWS, uses an algorithm other than RS256/384/512, does not verify against its x5c
certificate, or whose payload is not the statement."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import jwt
import msgspec
from cryptography import x509

from apis.lrs.store import comparable
from core.errors import InvalidInput

SIGNATURE: Final = "http://adlnet.gov/expapi/attachments/signature"
ALGORITHMS: Final = ("RS256", "RS384", "RS512")


def _without_signatures(statement: dict[str, Any]) -> Any:
    body = {k: v for k, v in statement.items() if k != "attachments"}
    return comparable(body)


def check(statement: dict[str, Any], parts: dict[str, tuple[str, bytes]], path: str) -> None:
    where = f"{path}.attachments" if path else "attachments"
    for attachment in statement.get("attachments", []):
        if attachment.get("usageType") != SIGNATURE:
            continue
        if attachment.get("contentType") != "application/octet-stream":
            raise InvalidInput(f"{where}: a signature's contentType is application/octet-stream")
        part = parts.get(str(attachment.get("sha2", "")).lower())
        if part is None:
            raise InvalidInput(f"{where}: the signature part was not sent")
        verify(part[1], statement, where)


def verify(token_bytes: bytes, statement: dict[str, Any], where: str) -> None:
    try:
        token = token_bytes.decode("ascii").strip()
        unverified = jwt.api_jws.PyJWS().decode_complete(token, options={"verify_signature": False})
    except (UnicodeDecodeError, jwt.exceptions.InvalidTokenError):
        raise InvalidInput(f"{where}: the signature is not a JWS (compact serialization)") from None
    header = unverified["header"]
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"{where}: the signature's alg must be one of {', '.join(ALGORITHMS)}")
    chain = header.get("x5c")
    if chain:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
            jwt.api_jws.PyJWS().decode_complete(token, cert.public_key(), algorithms=[algorithm])  # type: ignore[arg-type]
        except (binascii.Error, ValueError, jwt.exceptions.InvalidTokenError):
            raise InvalidInput(f"{where}: the signature does not verify") from None
    try:
        payload = msgspec.json.decode(unverified["payload"])
    except msgspec.DecodeError:
        raise InvalidInput(f"{where}: the signature's payload is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput(f"{where}: the signature's payload is not a statement")
    signed = dict(statement)
    if "id" not in payload or "id" not in signed:  # the LRS may have given the id
        payload.pop("id", None)
        signed.pop("id", None)
    if _without_signatures(payload) != _without_signatures(signed):
        raise InvalidInput(f"{where}: the signature's payload differs from the statement")
