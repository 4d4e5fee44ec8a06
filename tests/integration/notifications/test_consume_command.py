"""`dreamseed consume notifications` as its own process: it joins its consumer group, serves its
metrics, handles events, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from core.settings import Settings
from tests.support.servers import free_port

pytestmark = pytest.mark.integration
DREAMSEED = Path(sys.executable).with_name("dreamseed")


def test_a_member_joins_its_group_serves_metrics_and_stops_on_sigterm(settings: Settings) -> None:
    prefix = f"test:{secrets.token_hex(4)}:events."
    port = free_port()
    env = {
        **os.environ,
        "DREAMSEED_DATABASE_URL": settings.database_url,
        "DREAMSEED_REALTIME_STREAM_PREFIX": prefix,
        "DREAMSEED_REALTIME_METRICS_PORT": str(port),
    }
    proc = subprocess.Popen(
        [str(DREAMSEED), "consume", "notifications", "--member", "smoke"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + 120
        metrics = None
        while metrics is None:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no metrics within 120 s"
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert metrics.status_code == 200
        groups = {g["name"] for g in client.xinfo_groups(prefix + "assignments")}
        assert "notifications" in groups  # made before the metrics answered
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, output
        assert "member smoke reading" in output
    finally:
        if proc.poll() is None:
            proc.kill()
        client.delete(prefix + "assignments", prefix + "exams")
        client.close()
