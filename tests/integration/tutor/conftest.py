"""Tutor integration fixtures: the API in process over ASGI on the scratch database (real
PostgreSQL, Redis and the Rego policy), with and without a model (tests/support/fake_llm.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from privacy.consent import set_school_setting
from tests.support.fake_llm import FakeModel, fake_model


def tutor_settings(settings: Settings, **tutor: object) -> Settings:
    """The scratch settings with generous API limits and the given tutor settings."""
    chosen: dict[str, object] = {"questions_per_minute": 1000, **tutor}
    return replace(
        settings,
        rate_limit_per_user=1_000_000,
        rate_limit_per_ip=1_000_000,
        tutor=replace(settings.tutor, **chosen),  # type: ignore[arg-type]
    )


@pytest.fixture
def model() -> Iterator[FakeModel]:
    with fake_model() as server:
        yield server


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """No model configured: the grounded fallback answers."""
    async with AsyncTestClient(create_app(tutor_settings(settings), relay=False)) as test_client:
        yield test_client


def school_allows_external_models(settings: Settings, allowed: bool) -> None:
    """The school's consent setting (privacy.school_settings; the migrations leave it off)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        set_school_setting(conn, allowed)


@asynccontextmanager
async def client_with_model(
    settings: Settings, model: FakeModel, *, consent: bool = True, **tutor: object
) -> AsyncIterator[AsyncTestClient]:
    """The app talking to the scripted model (its own in-process breaker unless told). The
    school allows external models unless `consent=False` (the default is off)."""
    school_allows_external_models(settings, consent)
    chosen: dict[str, object] = {
        "model_url": model.url,
        "model": "scripted",
        "breaker_shared": False,
        **tutor,
    }
    app = create_app(tutor_settings(settings, **chosen), relay=False)
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def model_client(settings: Settings, model: FakeModel) -> AsyncIterator[AsyncTestClient]:
    async with client_with_model(settings, model) as test_client:
        yield test_client
