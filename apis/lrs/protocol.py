"""The xAPI request protocol around every LRS resource: the alternate request syntax (a POST
with `?method=` and the request in a form body), the `X-Experience-API-Version` header,
authentication (HTTP Basic credentials or a platform bearer token), multipart/mixed bodies with
their SHA-2 checked attachment parts, and the answers (JSON, documents, multipart).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import msgspec
from litestar import Request, Response

from apis.gateway.auth import principal_from_token
from apis.gateway.principal import SCOPE_KEY, Principal
from apis.lrs import credentials
from apis.state import AppState
from core.errors import InvalidInput, Unauthenticated

VERSION: Final = "1.0.3"
VERSION_HEADER: Final = "X-Experience-API-Version"
ACCEPTED_VERSION = re.compile(r"^1\.0(\.\d+)?$")
METHODS: Final = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})
FORM_HEADERS: Final = frozenset(
    {"authorization", "x-experience-api-version", "content-type", "content-length", "if-match",
     "if-none-match"}
)  # fmt: skip
HASHES: Final = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}


@dataclass
class XRequest:
    """One xAPI request, whichever syntax it came in."""

    method: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    principal: Principal | None = None
    parts: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # sha2 -> (type, body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")

    def languages(self) -> list[str]:
        accept = self.headers.get("accept-language", "")
        return [p.split(";")[0].strip() for p in accept.split(",") if p.strip()]


def _params(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("query: not valid UTF-8") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidInput(f"{name}: given more than once")
        params[name] = value
    return params


async def read(request: Request[Any, Any, Any]) -> XRequest:
    """The request as xAPI sees it (the alternate syntax unfolded)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    params = _params(request.scope.get("query_string", b""))
    body = await request.body()
    method = request.method.upper()
    if method == "POST" and "method" in params:
        method = params.pop("method").upper()
        if method not in METHODS:
            raise InvalidInput(f"method: {method!r} is not an HTTP method of the xAPI")
        if params:
            raise InvalidInput(f"{sorted(params)[0]}: the alternate syntax takes only 'method'")
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise InvalidInput("Content-Type: the alternate syntax needs a form body")
        form = _params(body)
        body = form.pop("content", "").encode()
        headers.pop("content-type", None)
        headers.pop("content-length", None)
        for name in list(form):
            if name.lower() in FORM_HEADERS:
                headers[name.lower()] = form.pop(name)
        headers.setdefault("content-type", "application/json")
        params = form
    return XRequest(method, params, headers, body)


def check_version(xreq: XRequest) -> None:
    version = xreq.headers.get("x-experience-api-version")
    if version is None:
        raise InvalidInput(f"{VERSION_HEADER}: the header is required (send {VERSION})")
    if not ACCEPTED_VERSION.match(version.strip()):
        raise InvalidInput(f"{VERSION_HEADER}: version {version!r} is not supported ({VERSION})")


async def authenticate(state: AppState, request: Request[Any, Any, Any], xreq: XRequest) -> None:
    header = xreq.headers.get("authorization", "")
    if not header:
        raise Unauthenticated(
            "credentials required: HTTP Basic (LRS key and secret) or a Bearer token",
            {"WWW-Authenticate": 'Basic realm="DreamSeed LRS"'},
        )
    scheme = header.partition(" ")[0].lower()
    try:
        if scheme == "bearer":
            principal = principal_from_token(state, header.partition(" ")[2].strip())
        else:
            principal = await credentials.authenticate(state.pool, header)
    except Unauthenticated as exc:
        exc.headers["WWW-Authenticate"] = 'Basic realm="DreamSeed LRS"'
        raise
    request.scope[SCOPE_KEY] = principal  # type: ignore[literal-required]
    xreq.principal = principal


def boundary_of(content_type: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise InvalidInput("Content-Type: multipart/mixed needs a boundary")
    return match.group(1).encode()


def _headers_of(block: bytes) -> dict[str, str]:
    out = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def split_multipart(xreq: XRequest) -> bytes:
    """The statement part of a multipart/mixed body; the attachment parts go to `xreq.parts`
    (each checked against its X-Experience-API-Hash)."""
    delimiter = b"--" + boundary_of(xreq.content_type)
    chunks = xreq.body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise InvalidInput("body: a multipart part has no header/body separator")
        parts.append((_headers_of(head), content.removesuffix(b"\r\n")))
    if not parts:
        raise InvalidInput("body: the multipart/mixed body has no parts")
    first_headers, statement = parts[0]
    if not first_headers.get("content-type", "").startswith("application/json"):
        raise InvalidInput("body: the first part must be the statements (application/json)")
    for headers, content in parts[1:]:
        sha2 = headers.get("x-experience-api-hash", "").lower()
        if not sha2:
            raise InvalidInput("body: an attachment part has no X-Experience-API-Hash")
        if headers.get("content-transfer-encoding", "binary").lower() != "binary":
            raise InvalidInput("Content-Transfer-Encoding: attachment parts must be binary")
        digest = HASHES.get(len(sha2))
        if digest is None or digest(content).hexdigest() != sha2:
            raise InvalidInput(f"X-Experience-API-Hash: {sha2} is not the SHA-2 of its part")
        xreq.parts[sha2] = (headers.get("content-type", "application/octet-stream"), content)
    return statement


def json_body(xreq: XRequest) -> Any:
    body = xreq.body
    if xreq.content_type.startswith("multipart/mixed"):
        body = split_multipart(xreq)
    elif not xreq.content_type.startswith("application/json"):
        raise InvalidInput("Content-Type: statements are application/json or multipart/mixed")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"body: not valid JSON ({exc})") from None


def answer(
    content: Any = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
    *,
    head: bool = False,
) -> Response[bytes]:
    """An xAPI answer: JSON (or raw bytes), the version header, no body for HEAD."""
    body = content if isinstance(content, bytes) else b""
    if content is not None and not isinstance(content, bytes):
        body = msgspec.json.encode(content)
    out = {VERSION_HEADER: VERSION, **(headers or {})}
    if head:
        out["Content-Length"] = str(len(body))
        body = b""
    return Response(body, status_code=status, headers=out, media_type=media_type)


def http_date(at: datetime) -> str:
    return format_datetime(at.astimezone(UTC), usegmt=True)


def multipart(statements_json: bytes, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/mixed answer: the statements, then each attachment with its hash."""
    boundary = "xapi-" + hashlib.sha1(statements_json, usedforsecurity=False).hexdigest()
    out = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), statements_json]
    for sha2, content_type, content in files:
        out.append(
            f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {sha2}\r\n\r\n".encode()
        )
        out.append(content)
    out.append(f"\r\n--{boundary}--".encode())
    return b"".join(out), f'multipart/mixed; boundary="{boundary}"'
