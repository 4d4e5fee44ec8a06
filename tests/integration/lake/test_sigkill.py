"""Exactly once under SIGKILL: a real process running the ingest and the silver step is killed at
random moments 20 times while new outbox rows keep arriving; a final clean run must leave bronze
== the outbox below its horizon and every silver table == bronze per event type, without a
duplicate event id anywhere."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from core.ids import new_id
from core.settings import Settings
from lake.audit import audit_outbox_events, audit_silver
from lake.catalog import load_catalog
from lake.contracts import known_contracts
from lake.ingest import current_horizon, ingest_outbox
from lake.silver import SILVER_TABLES, derive_silver, route
from lake.tables import OUTBOX_EVENTS, identifier

if TYPE_CHECKING:
    from tests.integration.lake.conftest import OutboxKit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 20


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DREAMSEED_")}
    env.update(
        {
            "DREAMSEED_STATE_DIR": str(settings.state_dir),
            "DREAMSEED_DATABASE_URL": settings.database_url,
            "DREAMSEED_LAKE_NAMESPACE": settings.lake_namespace,
            "DREAMSEED_LAKE_BUCKET": settings.lake_bucket,
            "DREAMSEED_LAKE_LOCAL_DIR": str(settings.lake_local_dir),
            "DREAMSEED_S3_ENDPOINT": settings.s3_endpoint,
            "DREAMSEED_S3_ACCESS_KEY": settings.s3_access_key,
            "DREAMSEED_S3_SECRET_KEY": settings.s3_secret_key,
            "DREAMSEED_S3_REGION": settings.s3_region,
            "DREAMSEED_PSEUDONYM_KEY": settings.pseudonym_key,
            "PYTHONPATH": str(ROOT),
            "CRASH_WORKER_PAUSE": "0.05",
        }
    )
    return env


class Writer(threading.Thread):
    """Keeps committing small transactions of mixed events (and an unknown type now and then)."""

    def __init__(self, settings: Settings, kit: type[OutboxKit]) -> None:
        super().__init__(daemon=True)
        self.settings, self.kit = settings, kit
        self.stop = threading.Event()
        self.ids: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                events = self.kit.one_of_each()[: 1 + n % 13]
                self.ids += self.kit.write_events(self.settings, events, wait=False)
                if n % 7 == 0:
                    with psycopg.connect(self.settings.database_url) as conn:
                        conn.execute(
                            "insert into events.outbox (event_id, event_type, aggregate_id,"
                            " occurred_at, payload) values (%s, 'garden.plant.watered.v1', 'x',"
                            " now(), '{}')",
                            (str(new_id()),),
                        )
                    self.ids.append("unknown")  # counted below by type, not by id
                time.sleep(0.02)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def outbox_ids_below(settings: Settings, horizon: int) -> Counter[str]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select event_id::text from events.outbox where txid < %s::xid8", (str(horizon),)
        ).fetchall()
    return Counter(r[0] for r in rows)


def bronze_rows(settings: Settings) -> list[tuple[str, str]]:
    table = load_catalog(settings).load_table(identifier(settings, OUTBOX_EVENTS))
    arrow = table.scan(selected_fields=("event_id", "event_type")).to_arrow()
    return list(
        zip(
            arrow.column("event_id").to_pylist(),
            arrow.column("event_type").to_pylist(),
            strict=True,
        )
    )


def test_sigkill_twenty_times_then_exactly_once(settings: Settings, kit: type[OutboxKit]) -> None:
    seed = int(os.environ.get("DREAMSEED_SIGKILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    env = worker_env(settings)
    writer = Writer(settings, kit)
    writer.start()
    landed: Counter[str] = Counter()
    started = time.monotonic()
    zygote = subprocess.Popen(
        [sys.executable, str(WORKER), "--zygote"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert zygote.stdout is not None
        for line in zygote.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()

    def next_line(timeout: float = 90.0) -> str:
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"crash worker silent for {timeout}s (exit code {zygote.poll()})")

    try:
        assert next_line().endswith(" ready")
        assert zygote.stdin is not None
        for _ in range(KILLS):
            assert writer.error is None, writer.error
            zygote.stdin.write("go\n")
            zygote.stdin.flush()
            line = next_line()
            while " forked " not in line:
                line = next_line()
            pid = int(line.rsplit(" ", 1)[1])
            time.sleep(rng.uniform(0.05, 1.8))
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
            last = "forked"
            while True:
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    break
                if line.startswith(f"{pid} "):
                    last = line.split(" ", 2)[1]
            landed[last] += 1
    finally:
        writer.stop.set()
        writer.join(timeout=30)
        if zygote.stdin is not None:
            zygote.stdin.close()
        zygote.wait(timeout=30)
    assert writer.error is None, writer.error
    killed_in = dict(landed)
    print(f"seed={seed} kills landed after: {killed_in} in {time.monotonic() - started:.1f}s")

    # Final clean run: a last worker without a kill, then in-process until caught up.
    real_ids = [e for e in writer.ids if e != "unknown"]
    kit.wait_final(settings, real_ids)
    final = subprocess.run(
        [sys.executable, str(WORKER), "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr[-3000:]
    ingest_outbox(settings)
    derive_silver(settings, advance_idle=True)

    # Bronze == outbox below the horizon, each event once.
    horizon = current_horizon(settings)
    expected = outbox_ids_below(settings, horizon)
    rows = bronze_rows(settings)
    bronze_ids = Counter(e for e, _ in rows)
    assert not [e for e, n in bronze_ids.items() if n > 1], "duplicate event ids in bronze"
    assert set(bronze_ids) == set(expected)
    assert set(real_ids) <= set(bronze_ids)
    audit = audit_outbox_events(settings)
    assert audit.duplicates == 0 and audit.missing == 0

    # Silver == bronze per type, each event once, unknown types only counted.
    silver = audit_silver(settings)
    assert silver.exact, {
        n: (t.rows, t.expected, t.duplicates) for n, t in silver.tables.items() if not t.exact
    }
    contracts = known_contracts()
    by_type = Counter(t for _, t in rows)
    for name, table in silver.tables.items():
        want = {t: n for t, n in by_type.items() if route(t) == name and t in contracts}
        assert table.rows_by_type == want, name
        assert table.watermark == horizon, name
    assert silver.unknown_by_type.get("garden.plant.watered.v1", 0) == writer.ids.count("unknown")
    catalog = load_catalog(settings)
    silver_ids: Counter[str] = Counter()
    for name in SILVER_TABLES:
        table = catalog.load_table(identifier(settings, name))
        silver_ids.update(
            table.scan(selected_fields=("event_id",)).to_arrow().column("event_id").to_pylist()
        )
    assert not [e for e, n in silver_ids.items() if n > 1], "an event in two silver rows"
    routed = {e for e, t in rows if route(t) is not None and t in contracts}
    assert set(silver_ids) == routed
