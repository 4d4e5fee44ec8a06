"""Event contracts as the lake sees them: core's contracts, plus the ones the lake expects.

`core.events.EVENT_TYPES` is the source of truth and always wins (learning records now live
there: `learning.record.recorded.v1`, the tutor's `tutor.turn.completed.v1`, the notifications'
`notifications.notification.delivered.v1`). A service that is not built yet can have its silver table
defined from an expected contract here, so the table exists (empty, queryable, governed) and fills
as soon as the service lands; when the service adds its real contract to `core.events`, the silver
table picks it up by family (`<domain>.<entity>`): new fields become new nullable columns, a
conflicting type fails the silver step loudly. Contracts deliberately carry no free text (no tutor
messages, no notification bodies): those belong to their services' stores, not to the analytical
lake.

Each contract field maps to an Iceberg column: str -> string, int -> long, float -> double,
bool -> boolean, datetime -> timestamptz, list[X] -> list<X>, `X | None` -> optional X. Person
ids (`lake.pseudonym.PERSON_FIELDS`) become `<name>_key` columns holding their pseudonyms (a list
of ids, `student_ids`, a `student_keys` list of pseudonyms).
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any

import msgspec
from pyiceberg.types import (
    BooleanType,
    DoubleType,
    IcebergType,
    ListType,
    LongType,
    StringType,
    TimestamptzType,
)

from core import events as core_events
from core.events import Event
from lake.pseudonym import PERSON_FIELDS

EXPECTED_EVENT_TYPES: dict[str, type[Event]] = {}


def known_contracts() -> dict[str, type[Event]]:
    """Every contract the lake can decode, read at call time (core's registry wins)."""
    merged = dict(EXPECTED_EVENT_TYPES)
    merged.update(core_events.EVENT_TYPES)
    return merged


def family(event_type: str) -> str:
    """`exams.response.recorded.v1` -> `exams.response`."""
    parts = event_type.split(".")
    return ".".join(parts[:2])


def version(event_type: str) -> int:
    """`exams.response.recorded.v2` -> 2 (0 when the name has no version)."""
    last = event_type.rsplit(".", 1)[-1]
    return int(last[1:]) if last.startswith("v") and last[1:].isdigit() else 0


def decode(event_type: str, payload: str | bytes) -> Event:
    """Decode with core's contract, else an expected one; KeyError when neither knows it."""
    contract = core_events.EVENT_TYPES.get(event_type) or EXPECTED_EVENT_TYPES[event_type]
    return msgspec.json.decode(payload, type=contract)


class ColumnType(msgspec.Struct, frozen=True):
    """A column derived from a contract field: its silver name and a hashable type description."""

    name: str
    kind: str  # string | long | double | boolean | timestamptz | list<...>


_SCALARS: dict[Any, str] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    datetime: "timestamptz",
}


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {annotation!r} in an event contract")
        return _kind(args[0])
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return f"list<{_kind(inner)}>"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"unsupported field type {annotation!r} in an event contract")


def contract_columns(contract: type[Event]) -> list[ColumnType]:
    """The silver columns of one contract, in field order (person ids renamed to `_key`)."""
    columns = []
    for info in msgspec.structs.fields(contract):
        if info.name in PERSON_FIELDS:
            # a list of person ids becomes a list of keys
            many = _kind(info.type).startswith("list<")
            kind = "list<string>" if many else "string"
            columns.append(ColumnType(PERSON_FIELDS[info.name], kind))
        else:
            columns.append(ColumnType(info.name, _kind(info.type)))
    return columns


def iceberg_type(kind: str, next_id: typing.Callable[[], int]) -> IcebergType:
    if kind.startswith("list<"):
        inner = kind[5:-1]
        element_id = next_id()
        return ListType(element_id, iceberg_type(inner, next_id), element_required=False)
    return {
        "string": StringType(),
        "long": LongType(),
        "double": DoubleType(),
        "boolean": BooleanType(),
        "timestamptz": TimestamptzType(),
    }[kind]
