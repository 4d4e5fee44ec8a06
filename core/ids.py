"""Identifiers. UUIDv7 keeps primary-key inserts index-friendly and sorts by creation time."""

from __future__ import annotations

import os
import time
import uuid

from core.errors import InvalidInput


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 68) << 64 & (0xFFF << 64)  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)


def parse_uuid(value: str, field: str) -> str:
    """`value` as a canonical UUID string; a 400 naming `field` when it is not one."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a UUID") from None
