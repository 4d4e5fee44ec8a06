"""Validation messages written for people: which field, and what is wrong with it, in words.

msgspec reports `Expected `str` matching regex '^[^@\\s]+@…' - at `$.email``; a person wants
`email: not a valid e-mail address`. Schemas give their patterns a meaning with `pattern()`, and
`humanize()` turns any msgspec (or Litestar parameter) message into `<field>: <what is wrong>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi

# regex -> what a matching value is, e.g. "a valid e-mail address"; filled by `pattern()`.
PATTERN_MEANINGS: dict[str, str] = {}


def pattern(regex: str, meaning: str, **constraints: Any) -> msgspec.Meta:
    """A string constraint whose failure reads `not <meaning>` instead of quoting the regex."""
    PATTERN_MEANINGS[regex] = meaning
    return msgspec.Meta(pattern=regex, description=meaning[:1].upper() + meaning[1:], **constraints)


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
    "uuid": "a UUID",
    "datetime": "a date-time",
}
_BOUND_WORDS = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}
_LOCATION = re.compile(r"^(?P<what>.*?) - at `(?:key` in `)?(?P<path>[^`]*)`$")
_KEY_IN = re.compile(r" - at `key` in `")
#: Turns one msgspec message (matched by its rule's regex) into words; gets the field's type info.
_Phrase = Callable[[re.Match[str], Any], str]
_RULES: list[tuple[re.Pattern[str], _Phrase]] = []


def _rule(regex: str) -> Callable[[_Phrase], _Phrase]:
    def register(fn: _Phrase) -> _Phrase:
        _RULES.append((re.compile(regex), fn))
        return fn

    return register


def _types(spec: str) -> str:
    words = [_TYPE_WORDS.get(t.strip(), t.strip()) for t in spec.split("|")]
    words = [w for w in words if w != "null"] or words
    return " or ".join(words)


@_rule(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
def _wrong_type(m: re.Match[str], _: Any) -> str:
    return f"must be {_types(m['want'])}, not {_types(m['got'])}"


@_rule(r"^Expected `str` of length (?P<op>[<>]=?) (?P<n>\d+)$")
def _str_length(m: re.Match[str], _: Any) -> str:
    if m["op"] == ">=" and m["n"] == "1":
        return "must not be empty"
    return f"must be {_BOUND_WORDS[m['op']]} {m['n']} characters long"


@_rule(r"^Expected `(?:array|object)` of length (?P<op>[<>]=?) (?P<n>\d+)$")
def _collection_length(m: re.Match[str], _: Any) -> str:
    if m["op"] == ">=" and m["n"] == "1":
        return "must not be empty"
    return f"must have {_BOUND_WORDS[m['op']]} {m['n']} entries"


@_rule(r"^Expected `(?:int|float)` (?P<op>[<>]=?) (?P<bound>\S+)$")
def _number_bound(m: re.Match[str], _: Any) -> str:
    bound = m["bound"].removesuffix(".0")
    return f"must be {_BOUND_WORDS[m['op']]} {bound}"


@_rule(r"^Expected `(?:int|float)` that is a multiple of (?P<n>\S+)$")
def _multiple(m: re.Match[str], _: Any) -> str:
    return f"must be a multiple of {m['n']}"


@_rule(r"^Expected `str` matching regex (?P<regex>'.*')$")
def _regex(m: re.Match[str], _: Any) -> str:
    regex = m["regex"][1:-1].encode().decode("unicode_escape")
    meaning = PATTERN_MEANINGS.get(regex)
    return f"not {meaning}" if meaning else "has a form that is not accepted here"


@_rule(r"^Invalid enum value (?P<value>.*)$")
def _enum(m: re.Match[str], info: Any) -> str:
    values = _literal_values(info)
    if values:
        return f"{m['value']} is not one of " + ", ".join(repr(v) for v in values)
    return f"{m['value']} is not one of the allowed values"


@_rule(r"^Invalid UUID$")
def _uuid(m: re.Match[str], _: Any) -> str:
    return "not a valid UUID"


@_rule(r"^Invalid RFC3339 encoded (?P<what>datetime|date|time)$")
def _rfc3339(m: re.Match[str], _: Any) -> str:
    return "not a valid date-time (RFC 3339 with a time zone, e.g. 2024-05-01T08:00:00Z)"


@_rule(r"^Object missing required field `(?P<field>[^`]+)`$")
def _missing(m: re.Match[str], _: Any) -> str:
    return "is required"


@_rule(r"^Object contains unknown field `(?P<field>[^`]+)`$")
def _unknown(m: re.Match[str], _: Any) -> str:
    return "is not a field of this request"


def _join(path: str, field: str | None) -> str:
    """`$.parameters.b[0]` -> `parameters.b[0]`; the body itself is `body`."""
    where = path.removeprefix("$").removeprefix(".")
    if field:
        where = f"{where}.{field}" if where else field
    return where or "body"


def _literal_values(info: Any) -> tuple[Any, ...]:
    while isinstance(info, mi.UnionType):
        literal = [t for t in info.types if isinstance(t, mi.LiteralType)]
        if not literal:
            return ()
        info = literal[0]
    return tuple(info.values) if isinstance(info, mi.LiteralType) else ()


_SEGMENT = re.compile(r"\.(?P<name>[A-Za-z_][\w]*)|\[(?P<index>\d+|\.\.\.)\]")


def _type_at(root: Any, path: str) -> Any:
    """The msgspec type info at a JSON path like `$.adaptive.exposure.method` (or None)."""
    if root is None:
        return None
    try:
        info: mi.Type | None = mi.type_info(root)
    except (TypeError, ValueError):
        return None
    for seg in _SEGMENT.finditer(path.removeprefix("$")):
        while isinstance(info, mi.UnionType):
            inner = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(inner) != 1:
                # a union of a struct with others: follow the struct for field names
                inner = [t for t in inner if isinstance(t, mi.StructType)] or inner[:1]
            info = inner[0]
        if isinstance(info, mi.Metadata):
            info = info.type
        if seg["name"] and isinstance(info, mi.StructType):
            fields = {f.encode_name: f.type for f in info.fields}
            info = fields.get(seg["name"])
        elif seg["index"] is not None and isinstance(info, mi.DictType):
            info = info.value_type
        elif seg["index"] is not None and isinstance(info, (mi.ListType, mi.SetType)):
            info = info.item_type
        else:
            return None
        if info is None:
            return None
    if isinstance(info, mi.Metadata):
        info = info.type
    return info


def humanize(message: str, body_type: Any = None, where: str | None = None) -> str:
    """`<field>: <what is wrong>` from a msgspec message. `body_type` (the request body's type)
    lets enum errors list the allowed values; `where` names the field when the message does not
    (a query parameter that Litestar reports on its own)."""
    located = _LOCATION.match(message)
    what, path = (located["what"], located["path"]) if located else (message, "$")
    field: str | None = None
    text: str | None = None
    for regex, describe in _RULES:
        matched = regex.match(what)
        if matched:
            field = matched.groupdict().get("field")
            text = describe(matched, _type_at(body_type, path))
            break
    if text is None:
        text = what.replace("`", "")
        text = text[:1].lower() + text[1:]
    name = _join(path, field) if (located or field) else (where or "body")
    if located and _KEY_IN.search(message):
        text = f"a key is {text}" if text.startswith("not ") else f"a key {text}"
    return f"{name}: {text}"


# A UUID carried as text (the field stays a `str` for the code that uses it).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UuidText = Annotated[str, pattern(UUID_PATTERN, "a UUID (8-4-4-4-12 hexadecimal digits)")]
