"""The processes a launcher starts, and stopping all of them however the launcher is asked to stop.

Each child runs in its own session (process group), so a Ctrl-C in the terminal reaches only the
launcher, which then stops the children in order. SIGTERM (a supervisor, `timeout`, `kill`) and
SIGHUP (the terminal closed) would otherwise end the launcher at once and leave the children
running with the ports taken; `stop_signals()` turns them into `StopRequested`, an exception that
runs the same clean-up as Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from cli.processes import descendants, same_process

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StopRequested(BaseException):
    """A stop signal arrived. A BaseException, so no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise StopRequested(signum)


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `StopRequested` (SIGINT raises KeyboardInterrupt)."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Children:
    """The launcher's children, each the leader of its own process group."""

    grace_seconds: float = 15.0
    running: list[Child] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None
    ) -> Child:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        child = Child(name, proc, log)
        self.running.append(child)
        return child

    def run(self, name: str, args: list[str], log: Path) -> int:
        """Run a step to completion as a child (stopped with the others if a stop arrives)."""
        child = self.start(name, args, log)
        code = child.proc.wait()
        self.running.remove(child)
        return code

    def first_stopped(self) -> Child | None:
        return next((c for c in self.running if c.proc.poll() is not None), None)

    def stop_all(self) -> None:
        """SIGTERM every child's process group and wait for the whole tree to exit; after the
        grace period SIGKILL what is left, including descendants that left their group."""
        for sig in (*STOP_SIGNALS, signal.SIGINT):  # a second Ctrl-C must not cut this short
            signal.signal(sig, signal.SIG_IGN)
        tree = {pid: t for c in self.running for pid, t in descendants(c.proc.pid).items()}
        for child in self.running:
            if child.proc.poll() is None:
                _signal_group(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds

        def left() -> bool:
            leaders = any(c.proc.poll() is None for c in self.running)
            return leaders or any(same_process(p, t) for p, t in tree.items())

        while left() and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in self.running:
            # Only a live leader: a reaped leader's pid (and so its group id) may be reused;
            # members that outlived it are in the tree.
            if child.proc.poll() is None:
                _signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        for pid, started in tree.items():
            if same_process(pid, started):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.running.clear()


def _signal_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)
