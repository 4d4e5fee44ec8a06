"""A server of the API for the privacy tests, and one student with data in every store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from apis.app import create_app
from core.settings import Settings
from tests.integration.privacy.story import Student, make_student
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[str]:
    # The per-address window counts every test on this machine (127.0.0.1): out of reach here.
    unthrottled = replace(settings, rate_limit_per_ip=1_000_000, rate_limit_per_user=1_000_000)
    with serve_in_thread(create_app(unthrottled)) as url:
        yield url


@pytest.fixture(scope="module")
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def student(api: httpx.Client, settings: Settings) -> Student:
    return make_student(api, settings, "Jiwoo Privacy")
