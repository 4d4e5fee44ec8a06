"""`dreamseed consume NAME`: run one member of an event consumer (core.consumers) until stopped.

Run as many as the load needs: members of one consumer share its consumer group, each event goes
to one of them, and a member that dies leaves its pending events to the others.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Awaitable, Callable

import click
from redis.asyncio import Redis

from cli.context import settings_of
from core.consumers import Consumer, ConsumerConfig, ConsumerSpec, lag
from core.db import Pool, create_pool
from core.settings import Settings


def _notifications(redis: Redis, settings: Settings) -> ConsumerSpec:
    from apis.notifications.rules import consumer

    return consumer(redis, settings.realtime.stream_prefix, settings.email.digest_window_seconds)


def _analytics(redis: Redis, settings: Settings) -> ConsumerSpec:
    from apis.analytics.consumer import consumer

    del settings
    return consumer(redis)


CONSUMERS: dict[str, Callable[[Redis, Settings], ConsumerSpec]] = {
    "notifications": _notifications,
    "analytics": _analytics,
}

#: Work a member does beside reading its streams, until the event is set.
Background = Callable[[Pool, Redis, Settings, asyncio.Event], list[Awaitable[None]]]


def _notifications_background(
    pool: Pool, redis: Redis, settings: Settings, stop: asyncio.Event
) -> list[Awaitable[None]]:
    """The mail sender and the periodic sweep (due soon, dead letters to admins)."""
    from apis.notifications.mail import transport_for
    from apis.notifications.mail_queue import run_sender
    from apis.notifications.sweeps import SweepSettings, run_sweeps

    realtime = settings.realtime
    sweeps = SweepSettings(
        stream_prefix=realtime.stream_prefix,
        due_soon_hours=realtime.due_soon_hours,
        email_delay_seconds=settings.email.digest_window_seconds,
        consumers=tuple(sorted(CONSUMERS)),
    )
    return [
        run_sender(pool, transport_for(settings.email), settings.email, stop),
        run_sweeps(pool, redis, sweeps, realtime.sweep_seconds, stop),
    ]


BACKGROUND: dict[str, Background] = {"notifications": _notifications_background}


def _serve_metrics(port: int, member: Consumer, redis: Redis, settings: Settings) -> None:
    from prometheus_client import Gauge, start_http_server

    labels = ("consumer", "stream")
    lag_gauge = Gauge("dreamseed_consumer_lag", "Entries not yet delivered to the group", labels)
    pending = Gauge("dreamseed_consumer_pending", "Delivered but unacknowledged entries", labels)
    handled = Gauge("dreamseed_consumer_handled", "Events this member handled", ["consumer"])
    parked = Gauge("dreamseed_consumer_dead_letters", "Events this member parked", ["consumer"])
    start_http_server(port)

    async def refresh() -> None:
        while True:
            figures = await lag(
                redis, settings.realtime.stream_prefix, member.spec.name, member.spec.domains
            )
            for stream, f in figures.items():
                lag_gauge.labels(member.spec.name, stream).set(f["lag"])
                pending.labels(member.spec.name, stream).set(f["pending"])
            handled.labels(member.spec.name).set(member.handled)
            parked.labels(member.spec.name).set(member.parked)
            await asyncio.sleep(5)

    asyncio.get_running_loop().create_task(refresh())


async def run_consumer(
    name: str,
    settings: Settings,
    stop: asyncio.Event,
    member: str | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run one member of consumer `name` until `stop` is set; `on_ready` is called once its
    groups exist (the command below; the dashboards' browser tests run the demo's analytics
    consumer with it in a thread)."""
    realtime = settings.realtime
    config = ConsumerConfig(
        stream_prefix=realtime.stream_prefix,
        claim_idle_ms=realtime.claim_idle_ms,
        max_deliveries=realtime.max_deliveries,
        batch_size=realtime.batch_size,
        block_ms=realtime.block_ms,
    )
    pool = create_pool(settings.database_url, min_size=1, max_size=4)
    await pool.open(wait=True)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        spec = CONSUMERS[name](redis, settings)
        runner = Consumer(
            spec, pool, redis, member or f"{socket.gethostname()}-{os.getpid()}", config
        )
        await runner.ensure_groups()  # before metrics answer: a probe that sees them sees groups
        if realtime.metrics_port:
            _serve_metrics(realtime.metrics_port, runner, redis, settings)
        if on_ready is not None:
            on_ready()
        click.echo(f"consumer {name}: member {runner.member} reading {', '.join(runner.streams)}")
        if name == "notifications" and not settings.email.smtp_host:
            click.echo("e-mail: no SMTP server (DREAMSEED_EMAIL_SMTP_HOST): mails go to this log")
        background = BACKGROUND.get(name)
        extra = background(pool, redis, settings, stop) if background else []
        await asyncio.gather(runner.run(stop), *extra)
    finally:
        await redis.aclose()
        await pool.close()


@click.command()
@click.argument("name", type=click.Choice(sorted(CONSUMERS)))
@click.option("--member", default=None, help="This member's name in the group (default: host-pid).")
def consume(name: str, member: str | None) -> None:
    """Run one member of an event consumer (notifications, analytics) on the Redis Streams."""
    settings = settings_of()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_consumer(name, settings, stop, member)

    asyncio.run(main())
