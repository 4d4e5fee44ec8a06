"""`dreamseed` loads a subcommand's module only when that subcommand runs.

The help listing comes from `cli.main.COMMANDS`, so it must say what the commands say; and
the start-up of `--help` and of `irt calibrate` must not import the platform's heavy
libraries (checked on `sys.modules` in a fresh interpreter, not by timing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, load_command, main

PLATFORM = ("pyiceberg", "sqlalchemy", "psycopg", "redis", "dagster", "duckdb", "litestar")
ENGINE = ("numpy", "scipy", "pyarrow", "psychometrics", "polars", "pandas")


def loaded_after(code: str) -> set[str]:
    """Top-level modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_help_is_the_commands_own(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert command.get_short_help_str(limit=1000) == COMMANDS[name].help


def test_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert f"  {name} " in result.output
    modules = loaded_after(
        "from cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not modules & {*PLATFORM, *ENGINE, "core", "lake", "governance", "rich"}


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_irt_calibrate_loads_the_engine_and_not_the_platform(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    y = (rng.random((300, 6)) < 0.6).astype(np.int8)
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({f"q{j}": y[:, j] for j in range(6)}), path)
    modules = loaded_after(
        "from cli.main import main\n"
        f"try:\n    main(['irt', 'calibrate', '--input', {str(path)!r}])\n"
        "except SystemExit:\n    pass"
    )
    assert {"numpy", "pyarrow", "psychometrics"} <= modules
    # polars/pandas would mean a float64 detour; the rest is the platform
    assert not modules & {*PLATFORM, "polars", "pandas", "core", "lake", "governance"}


def test_irt_calibrate_long_sorted_file_needs_no_platform(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    person, item = np.nonzero(rng.random((300, 6)) < 0.6)
    path = tmp_path / "long.parquet"
    pq.write_table(
        pa.table({"person": person, "item": item, "response": rng.integers(0, 2, person.size)}),
        path,
    )
    modules = loaded_after(
        "from cli.main import main\n"
        f"try:\n    main(['irt', 'calibrate', '--input', {str(path)!r}])\n"
        "except SystemExit:\n    pass"
    )
    assert {"numpy", "pyarrow", "psychometrics", "lake"} <= modules
    # a sorted file streams straight from Parquet: no DuckDB sort, no catalog
    assert not modules & {*PLATFORM, "polars", "pandas", "core", "governance"}


def test_the_engine_does_not_import_scipy_stats() -> None:
    """scipy.stats costs 0.3 s (quiet machine) of every `dreamseed irt` start; the engine uses
    scipy.special's distribution functions instead."""
    probe = "import sys, psychometrics; print('scipy.stats' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "False"
