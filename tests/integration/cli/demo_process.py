"""Run `dreamseed demo` as a real subprocess in a private state folder, and find its processes.

The private state folder adopts the S3 server that `dreamseed up` started (its `services.env` and
pid file are copied), so the demo starts nothing but its own children; the database is the test
session's scratch database and every port is a free one. Every process the demo starts inherits
a marker variable, so a test can find all of them afterwards, even one that left its group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[3]
MARKER = "DREAMSEED_TEST_DEMO_MARKER"


@dataclass
class DemoRun:
    env: dict[str, str]
    state: Path
    output: Path
    ports: dict[str, int]
    marker: str

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with self.output.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "cli", "demo", *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals from the test reach the demo alone
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def marked_processes(self) -> dict[int, str]:
        """Every live process carrying this run's marker: pid → command line."""
        wanted = f"{MARKER}={self.marker}".encode()
        found: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if wanted in environ.split(b"\0") and stat.rsplit(")", 1)[1].split()[0] != "Z":
                found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        return found

    def kill_leftovers(self) -> None:
        for pid in self.marked_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def demo_run(settings: Settings, base: Settings, tmp: Path) -> DemoRun:
    state = tmp / "state"
    (state / "s3").mkdir(parents=True)
    shutil.copy(base.state_dir / "services.env", state / "services.env")
    shutil.copy(base.state_dir / "s3" / "weed.pid", state / "s3" / "weed.pid")
    ports = {"api": free_port(), "dashboards": free_port(), "dagster": free_port()}
    marker = secrets.token_hex(8)
    env = {
        **os.environ,
        "DREAMSEED_STATE_DIR": str(state),
        "DREAMSEED_DATABASE_URL": settings.database_url,
        "DREAMSEED_LAKE_NAMESPACE": settings.lake_namespace,
        "DREAMSEED_API_PORT": str(ports["api"]),
        "DREAMSEED_DASHBOARD_PORT": str(ports["dashboards"]),
        "DREAMSEED_DAGSTER_PORT": str(ports["dagster"]),
        # As under `uv run`: the environment's scripts (dbt, dagster) come first on PATH.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        MARKER: marker,
        "COLUMNS": "200",  # rich wraps the demo's messages at the terminal width
    }
    return DemoRun(env, state, tmp / "demo.out", ports, marker)
