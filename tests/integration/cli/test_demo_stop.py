"""`dreamseed demo` stops everything it started on SIGTERM and SIGHUP, as on Ctrl-C, and refuses
to start, naming the holder, when a port it needs is taken.

The demo runs as a real subprocess (tests/integration/cli/demo_process.py). The school is taken
as already seeded (an empty logins file: seeding through the API is covered by the end-to-end
tests) and `--no-pipeline` skips materializing, so the run goes straight to the children this is
about: the API (with its relay), the dashboards and `dagster dev` (webserver, daemon, code
servers).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.processes import port_is_free
from core.settings import Settings
from orchestration.home import DAGSTER_YAML
from tests.integration.cli.demo_process import DemoRun, demo_run


@pytest.fixture
def run(settings: Settings, base_settings: Settings, tmp_path: Path) -> Iterator[DemoRun]:
    demo = demo_run(settings, base_settings, tmp_path)
    (demo.state / "demo").mkdir(parents=True)
    (demo.state / "demo" / "logins.json").write_text("[]")
    # Dagster's code server gets 180 s to load by default; a loaded CI machine may need more.
    (demo.state / "dagster").mkdir()
    (demo.state / "dagster" / "dagster.yaml").write_text(
        DAGSTER_YAML + "code_servers:\n  local_startup_timeout: 900\n"
    )
    try:
        yield demo
    finally:
        demo.kill_leftovers()  # never leave a process behind on a shared machine


def _wait_for(demo: DemoRun, proc: subprocess.Popen[bytes], ready: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        assert proc.poll() is None, f"the demo exited early:\n{demo.text()}"
        assert time.monotonic() < deadline, f"the demo did not get there:\n{demo.text()}"
        time.sleep(0.5)


def _assert_all_stopped(demo: DemoRun, proc: subprocess.Popen[bytes]) -> None:
    code = proc.wait(timeout=90)
    assert code == 0, demo.text()
    assert "stopping" in demo.text()
    assert demo.marked_processes() == {}, "processes outlived the demo"
    for name, port in demo.ports.items():
        assert port_is_free("127.0.0.1", port), f"{name} port {port} still taken"


def _dagster_processes(demo: DemoRun) -> list[str]:
    return [c for c in demo.marked_processes().values() if "dagster" in c]


@pytest.mark.timeout(1200)  # three servers start; minutes on a loaded machine
def test_sigterm_while_serving_stops_api_dashboards_and_dagster(run: DemoRun) -> None:
    proc = run.start("--no-pipeline")
    # Serving: the API and the dashboards answer, and `dagster dev` has started its code server
    # (a grandchild of the demo; the webserver and daemon follow once it has loaded the
    # definitions, which takes minutes on a loaded machine and is not what this is about).
    _wait_for(
        run,
        proc,
        lambda: (
            all(not port_is_free("127.0.0.1", run.ports[n]) for n in ("api", "dashboards"))
            and any("code-server" in c for c in _dagster_processes(run))
        ),
        timeout=1000,
    )
    children = run.marked_processes()
    del children[proc.pid]
    commands = " | ".join(children.values())
    assert "cli serve" in commands and "cli dashboards serve" in commands, commands
    assert len(_dagster_processes(run)) >= 2, commands  # dagster dev and its code server

    proc.send_signal(signal.SIGTERM)
    _assert_all_stopped(run, proc)
    assert "SIGTERM" in run.text()


def test_sighup_during_start_up_stops_what_was_started(run: DemoRun) -> None:
    proc = run.start("--no-pipeline")
    # The API answers; the dashboards and Dagster are starting (or about to).
    _wait_for(run, proc, lambda: not port_is_free("127.0.0.1", run.ports["api"]), timeout=400)
    proc.send_signal(signal.SIGHUP)
    _assert_all_stopped(run, proc)
    assert "SIGHUP" in run.text()


def test_a_busy_port_is_named_with_its_holder_before_anything_starts(run: DemoRun) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
            "print('listening', flush=True); time.sleep(300)",
            str(run.ports["dashboards"]),
            "--a-port-squatter",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"listening\n"
        proc = run.start()
        assert proc.wait(timeout=120) == 1
        text = " ".join(run.text().split())  # the message may be wrapped
        port = run.ports["dashboards"]
        assert f"port {port}, wanted for the dashboards (DREAMSEED_DASHBOARD_PORT)" in text, text
        assert f"pid {holder.pid}" in text and "--a-port-squatter" in text, text
        # Nothing was started: no log folder, no API on its port, no process left.
        assert not (run.state / "logs").exists()
        assert port_is_free("127.0.0.1", run.ports["api"])
        assert run.marked_processes() == {}
    finally:
        holder.kill()
        holder.wait()


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)
