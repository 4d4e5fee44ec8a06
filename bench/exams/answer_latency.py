"""Answer → next-item latency of adaptive exams under ≥ 300 concurrent simulated examinees.

    uv run python -m bench.exams.answer_latency [--examinees 300] [--items 300] [--think 4 12]

Starts the API (uvicorn, 1 worker, free loopback port) and the outbox relay as two processes on a
scratch database, seeds a teacher, a class, N students and a calibrated 300-item bank, then every
examinee takes an adaptive exam concurrently (one keep-alive connection each, `loadgen`, think
time between answers, bounded time). Reports p50/p90/p99/max of POST /attempts/{id}/responses
(its reply carries the next item), errors, and the persisted response count against the
acknowledged count. Baseline in the same run, same examinees and think time: the fixed-form
answer path (no CAT, no next item); and, as the floor, a bare one-row durable commit measured at
the same time. No timing asserts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httptools
import httpx
import psycopg
import uvloop

from bench.exams.loadgen import Connection
from core.auth import hash_password, issue_token
from core.ids import new_id
from core.migrate import migrate
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120.0
SKILLS = ("algebra", "geometry", "numbers")


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # the API's own Server-Timing
    # (client latency, {stage: ms}) per answer, from the Server-Timing header
    stages: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    # (time.perf_counter() when sent, client latency, {stage: ms}) per answer, for --trace
    trace: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    submitted: int = 0
    attempts: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _scratch_db(settings: Settings) -> tuple[str, str]:
    name = f"dreamseed_bench_{secrets.token_hex(4)}"
    admin = urlparse(settings.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlparse(settings.database_url)._replace(path=f"/{name}").geturl()
    migrate(url)
    return admin, url


def _serve(url: str, port: int, workers: int) -> list[subprocess.Popen[bytes]]:
    """The API and the outbox relay as production runs them (infra/k8s): `dreamseed serve
    --no-relay` (1 worker) and `dreamseed relay`, two processes, on the scratch database."""
    env = {
        **os.environ,
        "DREAMSEED_DATABASE_URL": url,
        "DREAMSEED_RATE_LIMIT_PER_USER": "1000000",
        "DREAMSEED_RATE_LIMIT_PER_IP": "100000000",
    }
    dreamseed = str(Path(sys.executable).with_name("dreamseed"))
    api = [dreamseed, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-relay"]
    api += ["--workers", str(workers)]
    return [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in (api, [dreamseed, "relay"])
    ]


def _seed_students(settings: Settings, url: str, class_id: str, n: int) -> list[dict[str, str]]:
    """Students straight into PostgreSQL (password hashing per account would dominate the
    seeding time); tokens minted with the API's own secret, exactly as login does."""
    pw = hash_password("bench-password")
    headers = []
    with psycopg.connect(url) as conn:
        for k in range(n):
            uid = str(new_id())
            conn.execute(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, 'student', %s)",
                (uid, f"s{k}-{uid[-6:]}@bench.test", f"Student {k}", pw),
            )
            conn.execute(
                "insert into classes.memberships (class_id, student_id) values (%s, %s)",
                (class_id, uid),
            )
            token, _ = issue_token(
                settings.jwt_secret, uid, "student", "access", timedelta(hours=2)
            )
            headers.append({"Authorization": f"Bearer {token}"})
    return headers


async def _setup(api: httpx.AsyncClient, n_items: int, max_items: int) -> dict[str, Any]:
    email, password = f"t-{secrets.token_hex(4)}@bench.test", "bench-" + secrets.token_hex(6)
    reply = await api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": "T", "role": "teacher"},
    )
    reply.raise_for_status()
    login = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
    if login.status_code != 200:
        raise SystemExit(f"bench: the teacher's login failed: {login.status_code} {login.text}")
    token = login.json()["access_token"]
    teacher = {"Authorization": f"Bearer {token}"}
    klass = (await api.post("/api/v1/classes/", json={"name": "Bench"}, headers=teacher)).json()
    rng = random.Random(11)
    rows: list[dict[str, Any]] = []
    for j in range(n_items):
        rows.append(
            {
                "stem": f"Item {j}",
                "options": ["a", "b", "c", "d"],
                "answer_key": j % 4,
                "skills": [SKILLS[j % 3]],
                "parameters": {
                    "model": "2pl",
                    "a": round(rng.uniform(0.7, 2.2), 3),
                    "b": round(rng.gauss(0, 1.1), 3),
                    "calibration_id": "bench",
                },
            }
        )
    imported = await api.post("/api/v1/items/import", json={"items": rows}, headers=teacher)
    imported.raise_for_status()
    ids = imported.json()["item_ids"]
    bank = {
        i: (r["parameters"]["a"], r["parameters"]["b"], r["answer_key"])
        for i, r in zip(ids, rows, strict=True)
    }
    adaptive = await api.post(
        "/api/v1/exams/",
        json={
            "title": "Bench CAT",
            "kind": "adaptive",
            "item_ids": ids,
            "class_id": klass["class_id"],
            "adaptive": {
                "selection": "mfi",
                "exposure": {"method": "randomesque", "randomesque_k": 5},
                "blueprint": {s: 1 for s in SKILLS},
                "stopping": {"min_items": 10, "max_items": max_items, "se_target": 0.3},
                "time_limit_seconds": 3600,
            },
        },
        headers=teacher,
    )
    adaptive.raise_for_status()
    fixed = await api.post(
        "/api/v1/exams/",
        json={"title": "Bench fixed", "item_ids": ids[:max_items], "class_id": klass["class_id"]},
        headers=teacher,
    )
    fixed.raise_for_status()
    return {
        "class_id": klass["class_id"],
        "bank": bank,
        "adaptive": adaptive.json()["exam_id"],
        "fixed": fixed.json()["exam_id"],
        "fixed_items": ids[:max_items],
    }


def _answer(bank: dict[str, Any], item_id: str, theta: float, rng: random.Random) -> int:
    a, b, key = bank[item_id]
    if rng.random() < 1 / (1 + math.exp(-a * (theta - b))):
        return int(key)
    return int((key + 1 + rng.randrange(3)) % 4)


async def _examinee(
    api: Connection, world: dict[str, Any], kind: str, stats: Stats, seed: int,
    think: tuple[float, float], deadline: float,
) -> None:  # fmt: skip
    rng = random.Random(seed)
    theta = rng.gauss(0, 1)
    await asyncio.sleep(rng.uniform(0, think[1]))  # staggered arrival
    try:
        started = await api.request("POST", f"/api/v1/exams/{world[kind]}/attempts")
    except (OSError, TimeoutError, httptools.HttpParserError) as exc:
        stats.error(type(exc).__name__)
        return
    if started.status != 201:
        stats.error(f"start {started.status}")
        return
    attempt: Any = started.json()
    stats.attempts.append(attempt["attempt_id"])
    queue = list(world["fixed_items"]) if kind == "fixed" else []
    item = attempt["next_item"]["item_id"] if kind == "adaptive" else queue.pop(0)
    url = f"/api/v1/attempts/{attempt['attempt_id']}/responses"
    while item is not None and time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(*think))
        body = {
            "item_id": item,
            "choice": _answer(world["bank"], item, theta, rng),
            "idempotency_key": secrets.token_hex(8),
        }
        stats.submitted += 1
        t0 = time.perf_counter()
        try:
            reply = await api.request("POST", url, body)
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            stats.error(type(exc).__name__)
            return
        elapsed = (time.perf_counter() - t0) * 1000
        stats.latencies_ms.append(elapsed)
        stages = _server_timing(reply.headers.get(b"server-timing", b"").decode())
        if "app" in stages:
            stats.server_ms.append(stages["app"])
            stats.stages.append((elapsed, stages))
            stats.trace.append((t0, elapsed, stages))
        if reply.status not in (200, 201):
            stats.error(f"answer {reply.status}")
            return
        stats.acknowledged += 1
        if kind == "adaptive":
            payload: Any = reply.json()
            nxt = payload["next_item"]
            item = nxt["item_id"] if nxt else None
        else:
            item = queue.pop(0) if queue else None


async def _phase(
    port: int, students: list[dict[str, str]], world: dict[str, Any], kind: str,
    think: tuple[float, float], budget: float,
) -> tuple[Stats, float]:  # fmt: skip
    stats = Stats()
    # One keep-alive connection per examinee, driven by the lean client (`loadgen`): it shares
    # the machine's two cores with the API under test.
    connections = [Connection("127.0.0.1", port, h) for h in students]
    try:
        t0 = time.monotonic()
        deadline = t0 + budget
        await asyncio.gather(
            *(
                _examinee(api, world, kind, stats, n, think, deadline)
                for n, api in enumerate(connections)
            )
        )
        return stats, time.monotonic() - t0
    finally:
        for api in connections:
            api.close()


def _server_timing(header: str) -> dict[str, float]:
    """`a;dur=1.2, b;dur=3.4` → {"a": 1.2, "b": 3.4}."""
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def _stage_breakdown(stats: Stats) -> str:
    """Mean ms per server stage for the median-ish answers and for the slowest 1 %."""
    if not stats.stages:
        return ""
    ranked = sorted(stats.stages, key=lambda s: s[0])
    n = len(ranked)
    groups = {
        "p45-p55": ranked[int(0.45 * n) : int(0.55 * n) + 1],
        "slowest 1%": ranked[-max(1, n // 100) :],
    }
    names = sorted({k for _, st in ranked for k in st}, key=lambda k: (k == "app", k))
    lines = []
    for label, group in groups.items():
        mean_client = statistics.fmean(c for c, _ in group)
        cells = "  ".join(
            f"{k} {statistics.fmean(st.get(k, 0.0) for _, st in group):.2f}" for k in names
        )
        lines.append(f"      {label:>10} (client {mean_client:.2f} ms): {cells}")
    return "\n".join(lines)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (uvicorn's workers), from Linux
    /proc, to separate service time from queueing on a machine shared with other work."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:  # itself or a child
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _persisted(url: str, attempts: list[str]) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from exams.responses where attempt_id = any(%s::uuid[])", (attempts,)
        ).fetchone()
    return int(row[0]) if row else 0


async def _commit_probe(
    url: str, stop: asyncio.Event, out: list[float], trace: list[tuple[float, float]]
) -> None:
    """The floor under every answer, measured at the same time: a one-row INSERT committed
    durably on its own connection, 10 times a second. Its tail is the disk's flush tail (the
    machine's virtual disk stalls for 10-50 ms now and then); answers that commit during a stall
    wait as long, whatever the service does."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("create table if not exists bench_commit_probe (n bigserial, v int)")
        while not stop.is_set():
            t0 = time.perf_counter()
            await conn.execute("insert into bench_commit_probe (v) values (1)")
            out.append((time.perf_counter() - t0) * 1000)
            trace.append((t0, out[-1]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)


def _write_trace(
    path: str, kind: str, stats: Stats, probe_trace: list[tuple[float, float]]
) -> None:
    """One JSON line per answer and per bare commit, to line the slow answers up with the
    probe's stalls (`sent` is time.perf_counter(), one clock for both)."""
    with Path(path).open("a") as out:
        for sent, ms, stage_ms in stats.trace:
            out.write(json.dumps({"phase": kind, "sent": sent, "ms": ms, **stage_ms}) + "\n")
        for sent, ms in probe_trace:
            out.write(json.dumps({"phase": kind, "probe": True, "sent": sent, "ms": ms}) + "\n")


def _report(
    name: str,
    stats: Stats,
    seconds: float,
    persisted: int,
    cpu: dict[str, float],
    probe: list[float],
) -> dict[str, Any]:
    requests = max(1, len(stats.latencies_ms) + len(stats.attempts))
    lat = stats.latencies_ms
    out: dict[str, Any] = {
        "path": name,
        "answers": len(lat),
        "throughput_per_s": round(len(lat) / seconds, 1),
        "p50_ms": round(_pct(lat, 0.50), 2),
        "p90_ms": round(_pct(lat, 0.90), 2),
        "p99_ms": round(_pct(lat, 0.99), 2),
        "max_ms": round(max(lat), 2) if lat else float("nan"),
        "mean_ms": round(statistics.fmean(lat), 2) if lat else float("nan"),
        "server_p50_ms": round(_pct(stats.server_ms, 0.50), 2),
        "server_p99_ms": round(_pct(stats.server_ms, 0.99), 2),
        "errors": sum(stats.errors.values()),
        "error_kinds": stats.errors,
        "submitted": stats.submitted,
        "acknowledged": stats.acknowledged,
        "persisted": persisted,
        "attempts": len(stats.attempts),
        "cpu_ms_per_request": {k: round(1000 * v / requests, 2) for k, v in cpu.items()},
        "bare_commit_ms": {
            "n": len(probe),
            "p50": round(_pct(probe, 0.50), 2),
            "p99": round(_pct(probe, 0.99), 2),
            "max": round(max(probe), 2) if probe else float("nan"),
        },
    }
    print(
        f"{name:>28}: n={out['answers']:5d}  {out['throughput_per_s']:6.1f}/s  "
        f"p50 {out['p50_ms']:6.2f} ms  p90 {out['p90_ms']:6.2f}  p99 {out['p99_ms']:6.2f}  "
        f"max {out['max_ms']:7.2f}  (in the app: p50 {out['server_p50_ms']:.2f}, "
        f"p99 {out['server_p99_ms']:.2f})  errors {out['errors']}  "
        f"submitted {out['submitted']} acknowledged {out['acknowledged']} persisted {persisted}  "
        "CPU ms/request: " + ", ".join(f"{k} {v}" for k, v in out["cpu_ms_per_request"].items())
    )
    print(_stage_breakdown(stats))
    bare = out["bare_commit_ms"]
    print(
        f"      {'bare commit':>10} (one-row INSERT, own connection, 10/s, same time): "
        f"n={bare['n']} p50 {bare['p50']:.2f} ms  p99 {bare['p99']:.2f}  max {bare['max']:.2f}"
    )
    return out


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings.load()
    admin, url = _scratch_db(settings)
    port = _free_port()
    server, relay = _serve(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            # Start-up takes ~25 s on a 2-core machine at load 10+ (imports, pool, policy).
            started = time.monotonic()
            while True:
                try:
                    if (await api.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > STARTUP_SECONDS:
                    raise SystemExit(f"the API did not start within {STARTUP_SECONDS:.0f} s")
                await asyncio.sleep(0.1)
            world = await _setup(api, args.items, args.max_items)
        students = _seed_students(settings, url, world["class_id"], args.examinees)
        think = (args.think[0], args.think[1])
        print(
            f"load average before: {os.getloadavg()[0]:.2f}; "
            f"{args.examinees} concurrent examinees, {args.items}-item bank, up to "
            f"{args.max_items} items each, think time U({think[0]}, {think[1]}) s, "
            f"API: uvicorn {args.workers} worker(s) on {base}, {os.cpu_count()} cores shared with PostgreSQL, "
            "Redis and this client"
        )
        results = []
        for kind, name in (
            ("adaptive", "adaptive answer->next item"),
            ("fixed", "baseline: fixed-form answer"),
        ):
            cpu0, relay0 = _cpu_seconds(server.pid), _cpu_seconds(relay.pid)
            client0 = time.process_time()
            stop = asyncio.Event()
            probe: list[float] = []
            probe_trace: list[tuple[float, float]] = []
            prober = asyncio.create_task(_commit_probe(url, stop, probe, probe_trace))
            stats, seconds = await _phase(port, students, world, kind, think, args.budget)
            stop.set()
            await prober
            cpu = {
                "server": _cpu_seconds(server.pid) - cpu0,
                "relay": _cpu_seconds(relay.pid) - relay0,
                "load generator": time.process_time() - client0,
            }
            if args.trace:
                _write_trace(args.trace, kind, stats, probe_trace)
            persisted = _persisted(url, stats.attempts)
            results.append(_report(name, stats, seconds, persisted, cpu, probe))
        a, f = results
        if a["p99_ms"] and f["p99_ms"]:
            print(
                f"ratio adaptive/fixed: p50 {a['p50_ms'] / f['p50_ms']:.2f}x, "
                f"p99 {a['p99_ms'] / f['p99_ms']:.2f}x"
            )
        print(
            "persisted == acknowledged:",
            all(r["persisted"] == r["acknowledged"] for r in results),
            "| goal p99 <= 15 ms:",
            a["p99_ms"] <= 15.0,
        )
    finally:
        for process in (server, relay):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep_db:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{urlparse(url).path[1:]}" with (force)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examinees", type=int, default=300)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--max-items", type=int, default=20)
    parser.add_argument("--think", type=float, nargs=2, default=(4.0, 12.0), metavar=("MIN", "MAX"))
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per phase, at most")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--trace", help="append every answer's timings as JSON lines to this file")
    # uvloop on the client too: the load generator shares the two cores with the service.
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
