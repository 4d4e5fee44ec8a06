from pathlib import Path

import pytest

from core.settings import Settings


def test_environment_overrides_files_and_state_dir_is_resolved(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DREAMSEED_API_PORT=9000\nDREAMSEED_REDIS_URL=redis://x:1/0\n")
    state = tmp_path / ".dreamseed"
    state.mkdir()
    (state / "services.env").write_text("# generated\nDREAMSEED_S3_ENDPOINT='http://127.0.0.1:1'\n")
    settings = Settings.load({"DREAMSEED_API_PORT": "9100", "UNRELATED": "1"}, cwd=tmp_path)
    assert settings.api_port == 9100
    assert settings.redis_url == "redis://x:1/0"
    assert settings.s3_endpoint == "http://127.0.0.1:1" and settings.uses_s3
    assert settings.state_dir == state
    assert settings.lake_local_dir == state / "lake"


def test_a_bad_integer_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DREAMSEED_API_PORT must be an integer"):
        Settings.load({"DREAMSEED_API_PORT": "eighty"}, cwd=tmp_path)


def test_sqlalchemy_url_uses_psycopg3() -> None:
    assert Settings().sqlalchemy_url.startswith("postgresql+psycopg://")
