"""Calibration tests get a database and lake namespace of their own (per test): the calibration
reads the whole response history, so another test's responses (or a drifted history left behind
by one of these tests) must not reach it -- nor its promotions reach other tests' pipelines."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlparse

import psycopg
import pytest

from core.migrate import migrate
from core.settings import Settings


@pytest.fixture
def settings(base_settings: Settings) -> Iterator[Settings]:
    suffix = secrets.token_hex(4)
    name = f"dreamseed_test_cal_{suffix}"
    admin = urlparse(base_settings.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'create database "{name}"')
    url = urlparse(base_settings.database_url)._replace(path=f"/{name}").geturl()
    try:
        migrate(url)
        yield replace(base_settings, database_url=url, lake_namespace=f"test_cal_{suffix}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
