"""DAGSTER_HOME: a project-local folder under the state dir, with its dagster.yaml."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings

DAGSTER_YAML = """\
# Written by DreamSeed (orchestration/home.py). Local runs keep Dagster's own storage as SQLite
# files in this folder. For Postgres storage use dagster-postgres with
# `scheme: postgresql+psycopg2` under postgres_db: with SQLAlchemy 2.1 the default driver
# breaks `NOTIFY run_events, $1`.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
"""


def dagster_home(settings: Settings) -> Path:
    """Create `<state_dir>/dagster` with a dagster.yaml if missing; return its absolute path."""
    home = (settings.state_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home
