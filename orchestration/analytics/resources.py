"""dbt: the project location, its manifest, and a CLI resource connected from Settings."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject

from core.settings import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "transforms" / "dbt"
_SOURCE_DIRS = ("models", "macros", "tests", "seeds", "snapshots", "analyses")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml")


def dbt_env(database_url: str) -> dict[str, str]:
    """The DREAMSEED_PG_* variables that transforms/dbt/profiles.yml reads."""
    url = urlparse(database_url)
    return {
        "DREAMSEED_PG_HOST": url.hostname or "127.0.0.1",
        "DREAMSEED_PG_PORT": str(url.port or 5432),
        "DREAMSEED_PG_USER": unquote(url.username or "postgres"),
        "DREAMSEED_PG_PASSWORD": unquote(url.password or ""),
        "DREAMSEED_PG_DBNAME": url.path.lstrip("/") or "dreamseed",
        # Offline: never phone home.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class DreamSeedDbtResource(DbtCliResource):
    """DbtCliResource whose invocations connect to `database_url` (via profiles.yml env vars).

    dagster-dbt builds the subprocess environment from os.environ, so the variables are set
    around each invocation (runs execute steps one at a time per process).
    """

    database_url: str

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        with _environment(dbt_env(self.database_url)):
            return super().cli(args, **kwargs)


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _SOURCE_FILES:
        path = project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for folder in _SOURCE_DIRS:
        for path in (project_dir / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def ensure_manifest(project: DbtProject) -> Path:
    """Make `target/manifest.json` exist and be newer than the project's sources.

    A clean checkout has no manifest; `dbt parse` (offline: no packages, no usage stats, no
    database connection) writes it in a few seconds. Run at definition load, so neither a manual
    step nor `dagster dev` is needed.
    """
    manifest = Path(project.manifest_path)
    project_dir = Path(project.project_dir)
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(project_dir):
        return manifest
    resource = DbtCliResource(
        project_dir=os.fspath(project_dir), profiles_dir=os.fspath(project_dir)
    )
    with _environment({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        resource.cli(["parse", "--quiet"], target_path=Path(project.target_path)).wait()
    if not manifest.exists():
        raise RuntimeError(f"dbt parse did not write {manifest}")
    return manifest


def build_dbt_resource(settings: Settings, project: DbtProject) -> DreamSeedDbtResource:
    return DreamSeedDbtResource(
        project_dir=os.fspath(project.project_dir),
        profiles_dir=os.fspath(project.project_dir),
        database_url=settings.database_url,
    )
