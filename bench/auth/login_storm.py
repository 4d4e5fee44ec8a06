"""A password-guessing storm against the API, and what it does to everybody else.

    uv run python -m bench login        # or: uv run python bench/auth/login_storm.py [--n 400]

The API runs as its own process (`dreamseed serve users`, uvicorn, real sockets) on a scratch
PostgreSQL database (created and dropped here) and the real Redis; this process is the load.
The failed-sign-in throttles are raised out of reach for the run, so every guess costs a full
argon2 check: the worst case for the server's CPU (with the default throttles, guesses past the
5th per account and address are refused without hashing).

1. `/health` latency, idle: `--n` sequential requests (the baseline).
2. `/health` latency during a burst: the same, while `--guessers` clients send wrong-password
   logins back to back. Goal: p99 during the burst ≤ 3 × p99 idle.
3. Sign-in time for a known e-mail with a wrong password vs an unknown e-mail (the baseline),
   interleaved, `--timing-n` each. Goal: ratio of medians within 0.8–1.25.
No timed asserts: it prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg

from core.migrate import migrate
from core.settings import Settings

UNLIMITED = str(10**9)


@contextmanager
def scratch_database(base: Settings) -> Iterator[Settings]:
    name = f"dreamseed_bench_{secrets.token_hex(4)}"
    admin = urlparse(base.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlparse(base.database_url)._replace(path=f"/{name}").geturl()
    try:
        migrate(url)
        yield replace(base, database_url=url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_server(
    settings: Settings, log: Path, services: Sequence[str] = ("users",)
) -> Iterator[str]:
    """`dreamseed serve SERVICES` (all when empty) in its own process, throttles out of reach."""
    port = free_port()
    env = {
        **os.environ,
        "DREAMSEED_DATABASE_URL": settings.database_url,
        "DREAMSEED_RATE_LIMIT_PER_IP": UNLIMITED,
        "DREAMSEED_RATE_LIMIT_PER_USER": UNLIMITED,
        "DREAMSEED_LOGIN_FAILURES_PER_ACCOUNT_CLIENT": UNLIMITED,
        "DREAMSEED_LOGIN_FAILURES_PER_CLIENT": UNLIMITED,
        "DREAMSEED_LOGIN_FAILURES_PER_ACCOUNT": UNLIMITED,
    }
    args = [sys.executable, "-m", "cli", "serve", *services, "--port", str(port), "--no-relay"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {log}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def health_latencies(client: httpx.AsyncClient, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        reply = await client.get("/health")
        samples.append((time.perf_counter() - start) * 1000)
        assert reply.status_code == 200, reply.text
        await asyncio.sleep(0.005)  # a prober, not a flood
    return samples


async def guess(client: httpx.AsyncClient, emails: list[str], stop: asyncio.Event) -> list[int]:
    statuses = []
    n = 0
    while not stop.is_set():
        email = emails[n % len(emails)]
        reply = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": f"guess-{n}"}
        )
        statuses.append(reply.status_code)
        n += 1
    return statuses


async def login_ms(client: httpx.AsyncClient, email: str) -> float:
    start = time.perf_counter()
    reply = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "not the password"}
    )
    elapsed = (time.perf_counter() - start) * 1000
    assert reply.status_code == 401, reply.text
    return elapsed


async def run(url: str, n: int, guessers: int, timing_n: int) -> None:
    limits = httpx.Limits(max_connections=guessers + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        emails = []
        for i in range(4):
            email = f"known-{i}-{secrets.token_hex(3)}@bench.test"
            body = {"email": email, "password": "bench password 1", "display_name": "B"}
            reply = await client.post("/api/v1/auth/register", json=body)
            assert reply.status_code == 201, reply.text
            emails.append(email)
        await login_ms(client, emails[0])  # warm: the dummy hash, connections
        await login_ms(client, "warm@nowhere.test")

        idle = await health_latencies(client, n)

        stop = asyncio.Event()
        started = time.perf_counter()
        storm = [asyncio.create_task(guess(client, emails, stop)) for _ in range(guessers)]
        await asyncio.sleep(1.0)  # let the storm build up
        during = await health_latencies(client, n)
        stop.set()
        statuses = [s for task in storm for s in await task]
        storm_seconds = time.perf_counter() - started

        known: list[float] = []
        unknown: list[float] = []
        for i in range(timing_n):
            pair = [
                (known, emails[i % len(emails)]),
                (unknown, f"nobody-{secrets.token_hex(4)}@bench.test"),
            ]
            for samples, email in pair if i % 2 else reversed(pair):
                samples.append(await login_ms(client, email))

    p_idle = (pct(idle, 0.5), pct(idle, 0.99))
    p_during = (pct(during, 0.5), pct(during, 0.99))
    print(
        f"\n/health, ms (n={n} each; {guessers} guessers, {len(statuses)} guesses in"
        f" {storm_seconds:.1f} s: {statuses.count(401)} × 401, {statuses.count(503)} × 503)"
    )
    print(f"  {'':<22}{'p50':>9}{'p99':>9}")
    print(f"  {'idle (baseline)':<22}{p_idle[0]:>9.2f}{p_idle[1]:>9.2f}")
    print(f"  {'during the burst':<22}{p_during[0]:>9.2f}{p_during[1]:>9.2f}")
    print(f"  p99 ratio burst/idle: {p_during[1] / p_idle[1]:.2f}   (goal ≤ 3)")
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"\nfailed sign-in, ms (n={timing_n} each, interleaved)")
    print(f"  {'':<26}{'median':>9}{'p10':>9}{'p90':>9}")
    for name, samples in (("known e-mail", known), ("unknown e-mail (baseline)", unknown)):
        print(
            f"  {name:<26}{statistics.median(samples):>9.1f}"
            f"{pct(samples, 0.1):>9.1f}{pct(samples, 0.9):>9.1f}"
        )
    print(f"  ratio of medians known/unknown: {k / u:.2f}   (goal 0.8–1.25)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="/health requests per phase")
    parser.add_argument("--guessers", type=int, default=4, help="concurrent guessing clients")
    parser.add_argument("--timing-n", type=int, default=40, help="sign-ins per e-mail kind")
    args = parser.parse_args()
    with (
        scratch_database(Settings.load()) as settings,
        tempfile.TemporaryDirectory() as tmp,
        api_server(settings, Path(tmp) / "api.log") as url,
    ):
        asyncio.run(run(url, args.n, args.guessers, args.timing_n))


if __name__ == "__main__":
    main()
