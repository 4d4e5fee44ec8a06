"""The engine as a library of its own: `uv build --package dreamseed-psychometrics` builds a wheel
holding psychometrics/ alone, depending on numpy and scipy alone, that imports and calibrates in
a fresh virtual environment without the platform."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "psychometrics"


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    assert found, "uv is needed to build the wheel (make install puts it in .tools/bin)"
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [_uv(), "build", "--package", "dreamseed-psychometrics", "--wheel", "--out-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("dreamseed_psychometrics-*.whl")
    return built


def test_wheel_holds_psychometrics_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    info = [n for n in names if n.startswith("dreamseed_psychometrics-")]
    files = [n for n in names if n not in info]
    assert files and all(n.startswith("psychometrics/") for n in files), files
    assert {n.split("/")[1] for n in info} == {"METADATA", "WHEEL", "RECORD"}
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= set(files), sources - set(files)
    assert "psychometrics/pyproject.toml" not in files
    assert not [n for n in files if n.endswith(".pyc")]


def test_wheel_metadata_depends_on_numpy_and_scipy_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(meta_name))
    assert meta["Name"] == "dreamseed-psychometrics"
    requires = meta.get_all("Requires-Dist") or []
    always = [r for r in requires if "extra ==" not in r]
    optional = [r for r in requires if "extra ==" in r]
    assert sorted(_name(r) for r in always) == ["numpy", "scipy"]
    # only the MILP solver of test assembly, and only with the `assembly` extra
    assert [(_name(r), r.split("extra ==")[1].strip(" '\"")) for r in optional] == [
        ("highspy", "assembly")
    ]
    assert "# psychometrics" in (meta.get_payload() or "")  # the README is the description


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0]


def test_wheel_installs_alone_imports_and_calibrates(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv = _uv()
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--python", str(python), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
        env=env,
    )
    probe = """
import importlib, pkgutil, sys
import numpy as np
import psychometrics
from psychometrics import calibrate
from psychometrics.stream import ArraySource, calibrate_stream
for m in pkgutil.walk_packages(psychometrics.__path__, "psychometrics."):
    importlib.import_module(m.name)
rng = np.random.default_rng(0)
theta = rng.standard_normal(2000)
a, d = rng.lognormal(0, 0.3, 10), rng.normal(0, 1, 10)
y = (rng.random((2000, 10)) < 1 / (1 + np.exp(-(theta[:, None] * a + d)))).astype(np.int8)
res = calibrate(y, "2pl")
person, item = np.nonzero(y >= 0)
streamed = calibrate_stream(ArraySource(person, item, y[person, item], res.items.names, 4000))
assert res.converged and np.allclose(streamed.items.a, res.items.a, atol=1e-3)
platform = {"core", "lake", "governance", "apis", "cli", "orchestration", "dashboards"}
loaded = {name.split(".")[0] for name in sys.modules}
assert not loaded & platform, loaded & platform
print(psychometrics.__file__)
"""
    out = subprocess.run(
        [str(python), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # not the repository: the installed wheel must be what is imported
        env=env,
    )
    assert str(venv) in out.stdout
