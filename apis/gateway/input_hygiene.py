"""Input hygiene for every route, in one place, before any handler or database sees the request.

- Size: bodies are capped (`MAX_BODY_BYTES`, a route may allow more with `request_max_body_size`)
  and answered 413 beyond, before anything is parsed.
- Encoding: JSON and text bodies, query strings and path parameters must be UTF-8.
- NUL: PostgreSQL text cannot hold U+0000, so a NUL in any string (body, query, path) is a 400
  naming the field, never a database error.
- Depth: JSON nested deeper than `MAX_JSON_DEPTH` is refused before a recursive decoder sees it.
- Types: a body is decoded strictly against the route's body type (`data`, or `opt["body_type"]`
  for routes that read the body themselves): `"answer_key": "1"` is a 400, not a coerced 1.
  Litestar then decodes the same, already valid, body for the handler.

Runs after authentication and rate limiting (an anonymous or throttled caller costs no parsing),
and on public routes too (login, register).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware import ASGIMiddleware

from apis.validation import humanize
from core.errors import DomainError, InvalidInput

if TYPE_CHECKING:
    from litestar.handlers import HTTPRouteHandler
    from litestar.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NUL_MESSAGE = "contains a NUL character (\\u0000), which is not allowed"
# A JSON string (escapes included) or one bracket: enough to follow nesting outside strings.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class PayloadTooLarge(DomainError):
    status = 413


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json") or media_type.endswith("+json")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text nests arrays/objects deeper than `limit` (brackets in strings do
    not count). Linear, no recursion; most bodies have too few brackets to need the scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        char = token.group()[0]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def _path_of(value: Any, wanted: Any, path: str = "") -> str | None:
    """The path (`options[1]`, `media[0].uri`) of the first string or key for which `wanted`
    holds, in a decoded JSON value (depth already bounded)."""
    if isinstance(value, str):
        return path if wanted(value) else None
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else str(key)
            if wanted(key):
                return f"{where} (a key)"
            found = _path_of(inner, wanted, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found = _path_of(inner, wanted, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _printable(path: str) -> str:
    """A path safe to put in a message: NUL and undecodable bytes written as escapes."""
    path = path.replace("\x00", "\\u0000")
    try:  # undecodable bytes came in as U+DC80..U+DCFF: show them as the bytes they were
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return path.encode("utf-8", "backslashreplace").decode()


def _has_nul(text: str) -> bool:
    return "\x00" in text


_SURROGATES = re.compile("[\ud800-\udfff]")


def unstorable_path(value: Any) -> str | None:
    """Path of the first string PostgreSQL cannot store (a NUL, a lone surrogate) in a decoded
    value, for routes that decode nested text themselves (JSON cells of a CSV import)."""

    def bad(text: str) -> bool:
        return "\x00" in text or _SURROGATES.search(text) is not None

    found = _path_of(value, bad)
    return _printable(found) if found is not None else None


def _has_undecodable(text: str) -> bool:
    # bytes that are not UTF-8 survive `surrogateescape` as lone surrogates U+DC80..U+DCFF
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def check_json(body: bytes) -> None:
    """Encoding, depth and NUL checks of a JSON body (no types)."""
    if json_too_deep(body):
        raise InvalidInput(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = None
        # the stdlib decoder keeps undecodable bytes as surrogates: find their field
        with contextlib.suppress(ValueError):
            where = _path_of(json.loads(body.decode("utf-8", "surrogateescape")), _has_undecodable)
        name = _printable(where) if where else f"body (byte {exc.start})"
        raise InvalidInput(f"{name}: not valid UTF-8 text") from None
    if b"\\u0000" in body or b"\x00" in body:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise InvalidInput(f"body: {NUL_MESSAGE}") from None
        where = _path_of(decoded, _has_nul)
        if where is not None:
            raise InvalidInput(f"{_printable(where)}: {NUL_MESSAGE}")


def check_text(body: bytes) -> None:
    """A text body (CSV): UTF-8 and no NUL, reported by line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise InvalidInput(f"body line {line}: not valid UTF-8 text") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInput(f"body line {line}: {NUL_MESSAGE}")


def check_query(query_string: bytes) -> None:
    if not query_string or (b"%" not in query_string and b"\x00" not in query_string):
        return
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        raw_name = unquote_to_bytes(name.replace(b"+", b" "))
        label = _printable(raw_name.decode("utf-8", "replace"))
        for part in (raw_name, unquote_to_bytes(value.replace(b"+", b" "))):
            if b"\x00" in part:
                raise InvalidInput(f"query parameter {label}: {NUL_MESSAGE}")
            try:
                part.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"query parameter {label}: not valid UTF-8 text") from None


def check_path_params(scope: Scope) -> None:
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"path parameter {name}: {NUL_MESSAGE}")


class BodyTypes:
    """Per route handler: the type its JSON body must decode to, with a strict decoder."""

    def __init__(self) -> None:
        self._decoders: dict[int, tuple[Any, msgspec.json.Decoder[Any] | None, bool]] = {}

    def of(self, handler: Any) -> tuple[Any, msgspec.json.Decoder[Any] | None, bool]:
        """(body type, strict decoder, body required) of the handler (None: no typed body)."""
        key = id(handler)
        found = self._decoders.get(key)
        if found is None:
            body_type: Any = handler.opt.get("body_type")
            required = False
            data = handler.parsed_fn_signature.parameters.get("data")
            if body_type is None and data is not None:
                body_type = data.annotation
                required = not (data.is_optional or data.has_default)
            decoder = msgspec.json.Decoder(body_type, strict=True) if body_type else None
            found = self._decoders[key] = (body_type, decoder, required)
        return found


class InputHygieneMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self.body_types = BodyTypes()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        check_query(scope.get("query_string", b""))
        check_path_params(scope)
        if scope.get("method") in BODY_METHODS:
            await self._check_body(scope, receive)
        await next_app(scope, receive, send)

    async def _check_body(self, scope: Scope, receive: Receive) -> None:
        # an http scope (`scopes`), so its handler is an HTTP route handler
        handler = cast("HTTPRouteHandler", scope["route_handler"])
        request: Request[Any, Any, Any] = Request(scope, receive)
        try:
            body = await request.body()  # cached for the handler's own Request
        except RequestEntityTooLarge:
            limit = handler.resolve_request_max_body_size() or MAX_BODY_BYTES
            raise PayloadTooLarge(
                f"body: larger than {limit:,} bytes; send less per request"
            ) from None
        body_type, decoder, required = self.body_types.of(handler)
        media_type = _media_type(scope)
        if not body.strip():
            if required:
                raise InvalidInput("body: a JSON body is required")
            return
        if media_type.startswith("text/"):
            check_text(body)
            if decoder is None or handler.opt.get("body_type") is not None:
                return  # a route that reads text itself (CSV import)
        elif not _is_json(media_type) and decoder is None:
            return  # not ours to judge (the route parses it, or ignores it)
        check_json(body)
        if decoder is not None:
            try:
                decoder.decode(body)
            except msgspec.ValidationError as exc:
                _typed_again(body, body_type, exc)
            except msgspec.DecodeError as exc:
                raise InvalidInput(f"body: not valid JSON ({exc})") from None


def _integral_floats_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_int(v) for v in value]
    return value


def _typed_again(body: bytes, body_type: Any, first: msgspec.ValidationError) -> None:
    """A strict decode failed. JSON numbers like `2.0` are integers for JSON Schema (and for
    clients that write every number as a float), so they pass where an integer belongs; strings,
    booleans and fractions still do not. Raises the (humanized) error if the body stays invalid."""
    try:
        msgspec.convert(_integral_floats_as_int(msgspec.json.decode(body)), body_type, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(humanize(str(exc), body_type)) from None
    except msgspec.DecodeError:
        raise InvalidInput(humanize(str(first), body_type)) from None
