"""Pseudonymous keys for people in the lake: HMAC-SHA256(settings.pseudonym_key, id), hex.

The same key gives the same pseudonym in every silver table, dimension snapshot and policy
decision, so analysts can join on it; without the key nobody can go back to the clear id (nor test
a guessed id). Rotating the key breaks joins with history written under the old key: do it with a
rebuild of the silver tables from bronze (`lake.silver.rebuild_silver`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pyarrow as pa

# Contract field -> silver column. Every person id in an event or OLTP row goes through here.
PERSON_FIELDS: dict[str, str] = {
    "student_id": "student_key",
    "user_id": "user_key",
    "teacher_id": "teacher_key",
    "owner_id": "owner_key",
    "recipient_id": "recipient_key",
    "subject_id": "subject_key",
    "created_by": "created_by_key",
    "actor_id": "actor_key",  # an xAPI actor: a user id or the canonical IFI of a person
    # A list of person ids becomes a list of keys, element by element (an assignment's targeted
    # students, `assignments.assignment.created.v1`).
    "student_ids": "student_keys",
}


class MissingPseudonymKey(RuntimeError):
    """No `DREAMSEED_PSEUDONYM_KEY`: the lake refuses to write person columns (fail closed)."""


class Pseudonymizer:
    """Keyed hashing with a per-instance cache (ids repeat a lot within a batch)."""

    __slots__ = ("_cache", "_key")

    def __init__(self, key: str) -> None:
        if not key:
            raise MissingPseudonymKey(
                "settings.pseudonym_key is empty: set DREAMSEED_PSEUDONYM_KEY (`dreamseed up` "
                "generates one); the lake never stores clear person ids"
            )
        self._key = key.encode()
        self._cache: dict[str, str] = {}

    def __call__(self, value: str | None) -> str | None:
        if value is None:
            return None
        text = str(value)
        hit = self._cache.get(text)
        if hit is None:
            hit = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
            if len(self._cache) < 1_000_000:
                self._cache[text] = hit
        return hit

    def each(self, values: Iterable[str | None] | None) -> list[str | None] | None:
        """A list field's pseudonyms, element by element (None stays None)."""
        return None if values is None else [self(v) for v in values]

    def array(self, values: Iterable[str | None]) -> pa.Array:
        return pa.array([self(v) for v in values], pa.string())


def subject_key(key: str, user_id: str | None) -> str | None:
    """A signed-in user's key, for row filters on marts that know people by key only (the policy
    matches `Subject.user_key`); None without an id or a key, so that no row matches."""
    return pseudonymize(key, user_id) if user_id and key else None


def pseudonymize(key: str, value: str) -> str:
    """One pseudonym (tests and operators)."""
    result = Pseudonymizer(key)(value)
    assert result is not None
    return result
