"""`dreamseed migrate`, `dreamseed serve [SERVICE…]` and `dreamseed relay`."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import click

from cli.context import settings_of
from cli.processes import busy_ports
from core.migrate import migrate as apply_migrations
from core.settings import Settings


@click.command()
def migrate() -> None:
    """Apply pending SQL migrations (creates the database first if needed)."""
    from cli.services import ensure_database

    settings = settings_of()
    ensure_database(settings.database_url)
    applied = apply_migrations(settings.database_url)
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@click.command()
@click.argument("services", nargs=-1)
@click.option("--host", default=None, help="bind address (default: DREAMSEED_API_HOST)")
@click.option("--port", type=int, default=None, help="port (default: DREAMSEED_API_PORT)")
@click.option("--workers", type=int, default=1, show_default=True)
@click.option("--no-relay", is_flag=True, help="do not run the outbox relay in this process")
def serve(
    services: tuple[str, ...], host: str | None, port: int | None, workers: int, no_relay: bool
) -> None:
    """Serve the API: all services, or only the SERVICES named (users classes content exams)."""
    import uvicorn

    from apis.app import SERVICES, create_app

    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise click.BadParameter(f"unknown services {unknown}; choose from {sorted(SERVICES)}")
    settings = settings_of()
    if not settings.jwt_secret:
        # Without it every login would fail with a 500; refuse to start instead.
        raise click.UsageError(
            "DREAMSEED_JWT_SECRET is empty: run `dreamseed up` (it writes .env with generated "
            "secrets) or set it in the environment"
        )
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    busy = busy_ports([(bind_host, bind_port, "the API (--port, DREAMSEED_API_PORT)")])
    if busy:
        raise click.ClickException(f"cannot serve: {busy[0].describe()}")
    options: dict[str, Any] = {
        "host": bind_host,
        "port": bind_port,
        "log_level": "warning",
        "access_log": False,  # the gateway writes its own JSON access log
    }
    if workers <= 1:
        uvicorn.run(create_app(settings, services or None, relay=not no_relay), **options)
        return
    # Several worker processes: uvicorn imports the app in each, so it gets a factory and the
    # choices travel in the environment the workers inherit (the settings' `serve` section).
    os.environ["DREAMSEED_SERVE_SERVICES"] = ",".join(services)
    os.environ["DREAMSEED_SERVE_RELAY"] = "0" if no_relay else "1"
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, **options)


def app_from_environment() -> Any:
    """The app of one `serve --workers N` worker (see `serve`)."""
    from apis.app import create_app

    settings = Settings.load()
    return create_app(settings, settings.serve.services or None, relay=settings.serve.relay)


@click.command()
def relay() -> None:
    """Run the outbox relay on its own (outbox → Redis Streams) until interrupted."""
    from redis.asyncio import Redis

    from core.db import create_pool
    from core.relay import run_relay

    settings = settings_of()

    async def main() -> None:
        pool = create_pool(settings.database_url, min_size=1, max_size=2)
        await pool.open(wait=True)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            await run_relay(
                pool, redis, asyncio.Event(), stream_prefix=settings.realtime.stream_prefix
            )
        finally:
            await redis.aclose()
            await pool.close()

    asyncio.run(main())
