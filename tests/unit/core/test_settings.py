from pathlib import Path

import pytest

from core.settings import PREFIX, CalibrationSettings, Settings, SettingsError, variables


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


def test_the_state_dir_named_in_dotenv_holds_the_services_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("export DREAMSEED_STATE_DIR=elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "services.env").write_text(
        'DREAMSEED_JWT_SECRET="from services"\nDREAMSEED_S3_SECRET_KEY=a$b${c}\n'
    )
    settings = Settings.load({}, cwd=tmp_path)
    assert settings.state_dir == tmp_path / "elsewhere"
    assert settings.jwt_secret == "from services"
    assert settings.s3_secret_key == "a$b${c}"  # taken literally, never expanded


def test_a_bad_integer_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DREAMSEED_API_PORT must be an integer, got 'eighty'"):
        Settings.load({"DREAMSEED_API_PORT": "eighty"}, cwd=tmp_path)


def test_sqlalchemy_url_uses_psycopg3() -> None:
    assert Settings().sqlalchemy_url.startswith("postgresql+psycopg://")


def test_calibration_section_reads_its_variables_and_the_dotenv_layers(tmp_path: Path) -> None:
    # the calibration thresholds follow the same layering as every other setting
    (tmp_path / ".env").write_text("DREAMSEED_CALIBRATION_MIN_ITEM_RESPONSES=70\n")
    cfg = Settings.load(
        {
            "DREAMSEED_CALIBRATION_MAX_ICC_RMSD": "0.1",
            "DREAMSEED_CALIBRATION_STANDARD_ERRORS": "false",
            "DREAMSEED_CALIBRATION_SLOPE_PRIOR": "0,0.5",
            "DREAMSEED_CALIBRATION_MODEL": "RASCH",
            "DREAMSEED_CALIBRATION_TOL": "",
            "UNRELATED": "x",
        },
        cwd=tmp_path,
    ).calibration
    assert (cfg.min_item_responses, cfg.max_icc_rmsd, cfg.standard_errors) == (70, 0.1, False)
    assert cfg.slope_prior == pytest.approx((0.0, 0.5)) and cfg.model == "rasch"
    assert cfg.tol == pytest.approx(CalibrationSettings().tol)
    assert Settings.from_mapping({}).calibration == CalibrationSettings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DREAMSEED_CALIBRATION_SLOPE_PRIOR", "1", "DREAMSEED_CALIBRATION_SLOPE_PRIOR is invalid"),
        ("DREAMSEED_CALIBRATION_TOL", "tiny", "DREAMSEED_CALIBRATION_TOL must be a number"),
        ("DREAMSEED_SERVE_RELAY", "maybe", "DREAMSEED_SERVE_RELAY must be true or false"),
    ],
)
def test_a_bad_section_value_names_its_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_mapping({name: value})


def test_serve_section_lists_services_separated_by_commas() -> None:
    serve = Settings.from_mapping(
        {"DREAMSEED_SERVE_SERVICES": "users, exams", "DREAMSEED_SERVE_RELAY": "0"}
    ).serve
    assert serve.services == ("users", "exams") and serve.relay is False
    assert Settings.from_mapping({"DREAMSEED_SERVE_SERVICES": ""}).serve.services == ()


def test_every_field_has_its_own_variable() -> None:
    # a section's variables must not collide with a top-level field's (e.g. a `login` section
    # beside `login_window_seconds`)
    names = variables()  # raises TypeError when two fields share a variable
    assert all(name.startswith(PREFIX) for name in names)
    assert {"DREAMSEED_DATABASE_URL", "DREAMSEED_CALIBRATION_SLOPE_PRIOR"} <= set(names)
    sections = {v.path[0] for v in names.values() if len(v.path) == 2}
    flat = {v.path[0] for v in names.values() if len(v.path) == 1}
    assert not {f for f in flat for s in sections if f.startswith(s + "_")}
