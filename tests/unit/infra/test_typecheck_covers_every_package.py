"""`make check` runs mypy --strict on every package of the repository, the new ones included.

mypy checks the folders listed in `[tool.mypy] files`; a package added at the top of the
repository without being listed there would escape the strict check unnoticed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NOT_TYPECHECKED = {"tests"}  # tests are run, not typed


def test_every_top_level_package_is_typechecked_strictly() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["strict"] is True
    packages = {
        p.name
        for p in ROOT.iterdir()
        if (p / "__init__.py").is_file() and not p.name.startswith(".")
    }
    missing = sorted(packages - NOT_TYPECHECKED - set(mypy["files"]))
    assert not missing, f"add {missing} to [tool.mypy] files in pyproject.toml"
