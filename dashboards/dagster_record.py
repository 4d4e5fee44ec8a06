"""What Dagster recorded about the pipeline, read from its instance storage without importing
Dagster: the local instance (`<state_dir>/dagster`, see orchestration/home.py) keeps an SQLite
index (`history/runs/index.db`) with one row per asset (`asset_keys`: last materialization time) and
one per asset-check evaluation (`asset_check_executions`: status, time).

Read-only (`mode=ro`), in a worker thread; a missing file or table means "nothing recorded yet"
(empty lists), never an error page.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.settings import Settings


@dataclass(frozen=True, slots=True)
class AssetRun:
    asset: str
    last_materialized_at: datetime | None


@dataclass(frozen=True, slots=True)
class CheckRun:
    asset: str
    check: str
    status: str  # SUCCEEDED, FAILED, PLANNED (latest execution)
    evaluated_at: datetime | None
    failures: int  # failed evaluations on record


@dataclass(frozen=True, slots=True)
class PipelineRecord:
    assets: tuple[AssetRun, ...]
    checks: tuple[CheckRun, ...]
    found: bool  # False: no Dagster instance storage yet


def index_path(settings: Settings) -> Path:
    """The event-log index of the default local instance storage (`history/runs/index.db`)."""
    return settings.state_dir / "dagster" / "history" / "runs" / "index.db"


def asset_name(raw: str) -> str:
    """`["lake", "responses"]` (Dagster's serialized AssetKey) → `lake/responses`."""
    try:
        parts = json.loads(raw)
    except ValueError:
        return raw
    return "/".join(str(p) for p in parts) if isinstance(parts, list) else raw


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}


def read_record(path: Path) -> PipelineRecord:
    if not path.is_file():
        return PipelineRecord((), (), found=False)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        tables = _tables(conn)
        assets: list[AssetRun] = []
        if "asset_keys" in tables:
            for key, stamp in conn.execute(
                "select asset_key, last_materialization_timestamp from asset_keys"
                " where wipe_timestamp is null"
            ):
                assets.append(AssetRun(asset_name(key), _when(stamp)))
        checks: list[CheckRun] = []
        if "asset_check_executions" in tables:
            for key, name, status, stamp, failures in conn.execute(
                "select e.asset_key, e.check_name, e.execution_status,"
                " coalesce(e.evaluation_event_timestamp, e.create_timestamp),"
                " (select count(*) from asset_check_executions f where f.asset_key = e.asset_key"
                "  and f.check_name = e.check_name and f.execution_status = 'FAILED')"
                " from asset_check_executions e where e.id = (select max(id)"
                "  from asset_check_executions l where l.asset_key = e.asset_key"
                "  and l.check_name = e.check_name)"
            ):
                checks.append(
                    CheckRun(asset_name(key), str(name), str(status), _when(stamp), int(failures))
                )
    finally:
        conn.close()
    return PipelineRecord(
        tuple(sorted(assets, key=lambda a: a.asset)),
        tuple(sorted(checks, key=lambda c: (c.status != "FAILED", c.asset, c.check))),
        found=True,
    )


async def load_record(settings: Settings) -> PipelineRecord:
    try:
        return await asyncio.to_thread(read_record, index_path(settings))
    except sqlite3.Error:  # locked past the timeout or a schema we do not know: show nothing
        return PipelineRecord((), (), found=False)


__all__ = ["AssetRun", "CheckRun", "PipelineRecord", "asset_name", "load_record", "read_record"]
