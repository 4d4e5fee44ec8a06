"""A broken policy bundle stops both apps at start-up, naming the file and line."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from apis.app import create_app as create_api
from core.settings import Settings
from dashboards.app import create_app as create_dashboards
from governance import DEFAULT_BUNDLE_DIR, PolicyLoadError


def _copy_bundle(tmp_path: Path) -> Path:
    root = tmp_path / "governance"
    shutil.copytree(DEFAULT_BUNDLE_DIR / "policies", root / "policies")
    shutil.copytree(DEFAULT_BUNDLE_DIR / "data", root / "data")
    return root


def _settings(bundle: Path) -> Settings:
    return replace(Settings(), jwt_secret="x" * 32, policy_dir=bundle, opa_url="")


def _break_rego(bundle: Path) -> tuple[str, int]:
    target = bundle / "policies" / "dreamseed" / "api" / "authz" / "authz.rego"
    lines = target.read_text().splitlines()
    lines.insert(5, "allow if {{{ this is not rego")
    target.write_text("\n".join(lines) + "\n")
    return "policies/dreamseed/api/authz/authz.rego", 6


def test_intact_copy_starts(tmp_path: Path) -> None:
    bundle = _copy_bundle(tmp_path)
    assert create_api(_settings(bundle)) is not None
    assert create_dashboards(_settings(bundle)) is not None


@pytest.mark.parametrize("factory", [create_api, create_dashboards], ids=["api", "dashboards"])
def test_rego_syntax_error_fails_start_up_with_file_and_line(
    tmp_path: Path, factory: object
) -> None:
    bundle = _copy_bundle(tmp_path)
    rel, line = _break_rego(bundle)
    with pytest.raises(PolicyLoadError) as info:
        factory(_settings(bundle))  # type: ignore[operator]
    assert str(info.value).startswith(f"{rel}:{line}:"), str(info.value)
    assert info.value.file == rel and info.value.line == line


@pytest.mark.parametrize("factory", [create_api, create_dashboards], ids=["api", "dashboards"])
def test_bad_policy_data_fails_start_up(tmp_path: Path, factory: object) -> None:
    bundle = _copy_bundle(tmp_path)
    (bundle / "data" / "roles.json").write_text('{"student": [\n  "users.me.read",\n}\n')
    with pytest.raises(PolicyLoadError) as info:
        factory(_settings(bundle))  # type: ignore[operator]
    assert str(info.value).startswith("data/roles.json:3:"), str(info.value)
