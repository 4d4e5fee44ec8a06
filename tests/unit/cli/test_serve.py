"""`dreamseed serve` refuses to start without a token secret instead of answering every login 500."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.platform import serve


def test_serve_refuses_to_start_without_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DREAMSEED_JWT_SECRET", "")
    result = CliRunner().invoke(serve, ["--port", "1"])
    assert result.exit_code == 2
    assert "DREAMSEED_JWT_SECRET is empty" in result.output
