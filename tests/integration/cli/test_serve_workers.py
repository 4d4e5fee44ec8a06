"""`dreamseed serve --workers N` hands uvicorn a factory; each worker builds the app the command
line asked for from the environment it inherits."""

from __future__ import annotations

import pytest

from cli.platform import app_from_environment


def test_worker_factory_builds_the_chosen_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAMSEED_SERVE_SERVICES", "users")
    monkeypatch.setenv("DREAMSEED_SERVE_RELAY", "0")
    paths = {route.path for route in app_from_environment().routes}
    assert any(p.startswith("/api/v1/users") for p in paths)
    assert not any(p.startswith("/api/v1/exams") for p in paths)

    monkeypatch.setenv("DREAMSEED_SERVE_SERVICES", "")
    paths = {route.path for route in app_from_environment().routes}
    assert any(p.startswith("/api/v1/exams") for p in paths)  # no choice: every service
