"""Assignments integration fixtures: the API in process over ASGI on the scratch database, with real
PostgreSQL, Redis and the S3 server (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    app = create_app(
        replace(settings, rate_limit_per_user=1_000_000, rate_limit_per_ip=1_000_000),
        relay=False,
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client
