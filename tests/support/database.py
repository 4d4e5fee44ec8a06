"""A fresh, migrated scratch database and a private lake namespace, dropped afterwards.

The session's `settings` fixture (tests/conftest.py) makes one for the whole session. A test
module whose assertions cover a whole database (a check over every class, a job that handles
every pending request, marts over all rows) overrides `settings` with one of its own, so other
tests' rows in the shared database cannot make it pass or fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import urlparse

import psycopg
import pytest
import redis

from core.migrate import migrate
from core.settings import Settings


def _admin(url: str) -> str:
    return urlparse(url)._replace(path="/postgres").geturl()


@contextmanager
def scratch_settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, migrated scratch database and a private lake namespace."""
    suffix = secrets.token_hex(4)
    name = f"dreamseed_test_{suffix}"
    admin = _admin(base_settings.database_url)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'create database "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {admin} does not answer: {exc}")
    url = urlparse(base_settings.database_url)._replace(path=f"/{name}").geturl()
    try:
        migrate(url)
        try:
            redis.Redis.from_url(base_settings.redis_url, socket_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {base_settings.redis_url} does not answer: {exc}")
        yield replace(base_settings, database_url=url, lake_namespace=f"test_{suffix}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
