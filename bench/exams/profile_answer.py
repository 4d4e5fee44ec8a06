"""CPU profile of the answer path, in process: the app over ASGI (no sockets, no uvicorn).

    uv run python bench/exams/profile_answer.py [--examinees 60] [--kind adaptive|fixed]
        [--concurrency 20] [--profile out.prof] [--top 40]

Same scratch database, seeding and examinee model as `answer_latency.py`, but the app runs in this
process (httpx.ASGITransport on this event loop, the app's lifespan run here: pool, Redis, decision log and the outbox
relay as in production) and the examinees answer without think time, `--concurrency` at a time.
Prints CPU milliseconds per answer (`time.process_time`, the whole process: this includes the
in-process client, which the uvicorn bench does not count) and, with `--profile`, the top
functions by cumulative and by own time under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import random
import secrets
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer_latency import _answer, _scratch_db, _seed_students, _setup

from apis.app import create_app
from bench.asgi import lifespan
from bench.asgi import transport as asgi_transport
from core.settings import Settings


async def _examinee(
    api: Any, headers: dict[str, str], world: dict[str, Any], kind: str, seed: int,
    sem: asyncio.Semaphore, counts: dict[str, int],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    theta = rng.gauss(0, 1)
    async with sem:
        started = await api.post(f"/api/v1/exams/{world[kind]}/attempts", headers=headers)
        assert started.status_code == 201, started.text
    attempt = started.json()
    queue = list(world["fixed_items"]) if kind == "fixed" else []
    item = attempt["next_item"]["item_id"] if kind == "adaptive" else queue.pop(0)
    while item is not None:
        body = {
            "item_id": item,
            "choice": _answer(world["bank"], item, theta, rng),
            "idempotency_key": secrets.token_hex(8),
        }
        async with sem:
            reply = await api.post(
                f"/api/v1/attempts/{attempt['attempt_id']}/responses", json=body, headers=headers
            )
        if reply.status_code != 201:
            counts["errors"] += 1
            return
        counts["answers"] += 1
        if kind == "adaptive":
            nxt = reply.json()["next_item"]
            item = nxt["item_id"] if nxt else None
        else:
            item = queue.pop(0) if queue else None


async def main_async(args: argparse.Namespace) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the client's own request log
    settings = Settings.load()
    admin, url = _scratch_db(settings)
    app_settings = replace(
        settings, database_url=url, rate_limit_per_user=1_000_000, rate_limit_per_ip=100_000_000
    )
    try:
        app = create_app(app_settings, relay=not args.no_relay)
        transport = asgi_transport(app)  # same thread, same event loop: one profile
        async with (
            lifespan(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as api,
        ):
            world = await _setup(api, args.items, args.max_items)
            students = _seed_students(app_settings, url, world["class_id"], args.examinees)
            # Warm up (exam/bank caches, prepared statements) with a few examinees.
            sem = asyncio.Semaphore(args.concurrency)
            warm = {"answers": 0, "errors": 0}
            await asyncio.gather(
                *(
                    _examinee(api, h, world, args.kind, 10_000 + n, sem, warm)
                    for n, h in enumerate(students[: args.warmup])
                )
            )
            counts = {"answers": 0, "errors": 0}
            prof = cProfile.Profile() if args.profile else None
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            await asyncio.gather(
                *(
                    _examinee(api, h, world, args.kind, n, sem, counts)
                    for n, h in enumerate(students[args.warmup :])
                )
            )
            if prof:
                prof.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            requests = counts["answers"] + len(students) - args.warmup
            print(
                f"{args.kind}: {counts['answers']} answers, {counts['errors']} errors, "
                f"{requests} requests (answers + starts) in {wall:.1f} s wall; process CPU "
                f"{1000 * cpu / requests:.2f} ms/request{' (under cProfile)' if prof else ''}; "
                f"load {os.getloadavg()[0]:.1f}"
            )
        if prof:
            prof.dump_stats(args.profile)
            for key in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats(key).print_stats(args.top)
                print(out.getvalue())
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{urlparse(url).path[1:]}" with (force)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examinees", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--max-items", type=int, default=20)
    parser.add_argument("--kind", choices=("adaptive", "fixed"), default="adaptive")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--profile", default="")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--no-relay", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
