"""Shared fixtures. Integration tests use the real services that `dreamseed up` started.

Nothing here skips: if PostgreSQL, Redis or S3 is missing the suite fails and says which.
Each test session gets its own scratch database (migrated) and its own lake namespace.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlparse

import psycopg
import pytest
import redis

from core.migrate import migrate
from core.settings import Settings


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings.load()
    if not settings.s3_endpoint:
        pytest.fail("no S3 endpoint configured: run `dreamseed up` first (`make test` does)")
    return settings


def _admin(url: str) -> str:
    return urlparse(url)._replace(path="/postgres").geturl()


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
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
    migrate(url)
    try:
        redis.Redis.from_url(base_settings.redis_url, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {base_settings.redis_url} does not answer: {exc}")
    yield replace(base_settings, database_url=url, lake_namespace=f"test_{suffix}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
