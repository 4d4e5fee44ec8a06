"""Shared fixtures. Integration tests use the real services that `dreamseed up` started.

Nothing here skips: if PostgreSQL, Redis or S3 is missing the suite fails and says which.
Each test session gets its own scratch database (migrated) and its own lake namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests.support.database import scratch_settings


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = Settings.load()
    if not settings.s3_endpoint:
        pytest.fail("no S3 endpoint configured: run `dreamseed up` first (`make test` does)")
    return settings


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, migrated scratch database and a private lake namespace."""
    with scratch_settings(base_settings) as scratch:
        yield scratch
