"""Who holds a port, and which processes descend from ours: read from Linux's /proc.

The launcher (`dreamseed demo`, `dreamseed serve`) uses these to say which process holds a port
it needs before it starts anything, and to stop every process it started, grandchildren
included. Where /proc is absent (not Linux) the answers degrade to "unknown" and "none".
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP state code of a listening socket in /proc/net/tcp


@dataclass(frozen=True)
class PortHolder:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


@dataclass(frozen=True)
class BusyPort:
    port: int
    what: str  # what we wanted it for, e.g. "the API (DREAMSEED_API_PORT)"
    holders: tuple[PortHolder, ...]

    def describe(self) -> str:
        if self.holders:
            by = ", ".join(str(h) for h in self.holders)
        else:
            by = "a process this user cannot see (try `ss -ltnp` as root)"
        return f"port {self.port}, wanted for {self.what}, is taken by {by}"


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind `host:port` now (with SO_REUSEADDR, as uvicorn binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # fields: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if (
                len(fields) > 9
                and fields[3] == _LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def command_of(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part) or "?"


def port_holders(port: int) -> tuple[PortHolder, ...]:
    """The processes with a listening TCP socket on `port` (those whose /proc we may read)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return ()
    found: list[PortHolder] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:  # gone, or not ours to read
            continue
        if links & wanted:
            found.append(PortHolder(int(entry.name), command_of(int(entry.name))))
    return tuple(sorted(found, key=lambda h: h.pid))


def busy_ports(wanted: list[tuple[str, int, str]]) -> list[BusyPort]:
    """Those of `wanted` (host, port, what for) that cannot be bound now, with their holders."""
    return [
        BusyPort(port, what, port_holders(port))
        for host, port, what in wanted
        if not port_is_free(host, port)
    ]


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from the state field on ("pid (comm) state ppid …"; comm may hold spaces
    and parentheses, so the split is after the last ")"), or None if the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def descendants(root: int) -> dict[int, str]:
    """Every live process below `root` (children, grandchildren, …; `root` excluded), each with
    its start time, so that a later `same_process` can tell it from a reused pid."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child, started in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def same_process(pid: int, started: str) -> bool:
    """Whether `pid` still is the live process that started at `started` (not a zombie)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"
