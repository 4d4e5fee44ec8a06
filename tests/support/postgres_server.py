"""A real, throwaway PostgreSQL cluster on its own port, for tests that stop and restart the server.

Built from Debian's binaries (/usr/lib/postgresql/<version>/bin, package `postgresql`) in a
temporary folder; `initdb` refuses root, so as root everything runs as the `postgres` user. The
shared server on 5432 is never touched. Missing binaries fail the test, loudly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.servers import free_port

INSTALL_HINT = "install Debian's `postgresql` package (apt-get install -y postgresql; .ci/run does)"


def postgres_bindir() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError(
            f"no PostgreSQL server binaries under /usr/lib/postgresql: {INSTALL_HINT}"
        )
    return found[-1].parent


class PostgresServer:
    """A cluster in a temporary folder, trust authentication, loopback only."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        # Not under pytest's tmp_path: its parents are private to root, and the server runs
        # as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="dreamseed-pg-"))
        self.data = self.root / "data"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as_postgres, *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: the tests stop the server cleanly, and the disk is shared.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: roll back open transactions and disconnect every client, as a restart does."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))
        return self.url(name)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(RuntimeError):
                server.stop("immediate")
        shutil.rmtree(server.root, ignore_errors=True)
