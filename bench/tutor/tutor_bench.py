"""The tutor against its own baselines, in one run (ratios and differences, never timed asserts).

    uv run python -m bench tutor      # or: uv run python bench/tutor/tutor_bench.py --n 200

The API runs as its own process (`dreamseed serve`, uvicorn, real sockets) on a scratch database
with the real Redis and S3; the model is the scripted OpenAI-compatible server of the tests
(tests/support/fake_llm.py), told to wait `--model-ms` before its first token.

- added time to first token: the time from sending a question to the API until its first `token`
  event, minus the fake model's own time to first token measured directly in the same run
  (interleaved, one request at a time). Goal: added p99 ≤ 20 ms.
- retrieval: `PassageIndex.search` over `--passages` (100k) synthetic passages (English words and
  Hangul bigrams). Goal: p99 ≤ 30 ms.
- fallback with the breaker open: a turn against a dead model endpoint once the breaker opened,
  until `done`, next to the same turn with no model configured (pure fallback). Goal: p99 ≤ 10 ms.
- 200 concurrent sessions: 200 conversations (20 students × 10) each asking at once, streaming
  from the model; errors counted (goal 0).
- recall@5 of retrieval on the demo course's labelled set (cli/demo_tutor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from apis.tutor.retrieval import Passage, PassageIndex, split_lesson
from bench.auth.login_storm import api_server, free_port, pct, scratch_database
from cli.demo_courses import LESSON_BODY
from cli.demo_tutor import LABELLED, TUTOR_LESSONS
from core.settings import Settings
from tests.support.fake_llm import FakeModel, fake_model

QUESTION = "How do I compare 2/3 and 3/4?"


def _ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, f"{reply.request.url}: {reply.text}"
    return reply.json()


def _student(api: httpx.Client, join_code: str) -> dict[str, str]:
    email, password = f"s-{secrets.token_hex(4)}@bench.test", "bench-" + secrets.token_hex(6)
    body = {"email": email, "password": password, "display_name": "s", "role": "student"}
    _ok(api.post("/api/v1/auth/register", json=body), 201)
    token = _ok(api.post("/api/v1/auth/login", json={"email": email, "password": password}))
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    _ok(api.post("/api/v1/classes/join", json={"join_code": join_code}, headers=headers))
    return headers


def _school(api: httpx.Client, students: int) -> tuple[str, list[dict[str, str]]]:
    """A teacher's class with the demo lessons published and `students` students."""
    email, password = f"t-{secrets.token_hex(4)}@bench.test", "bench-" + secrets.token_hex(6)
    body = {"email": email, "password": password, "display_name": "t", "role": "teacher"}
    _ok(api.post("/api/v1/auth/register", json=body), 201)
    token = _ok(api.post("/api/v1/auth/login", json={"email": email, "password": password}))
    t = {"Authorization": f"Bearer {token['access_token']}"}
    klass = _ok(api.post("/api/v1/classes", json={"name": "bench"}, headers=t), 201)
    course = _ok(api.post("/api/v1/courses", json={"title": "Fractions"}, headers=t), 201)
    unit = _ok(
        api.post(f"/api/v1/courses/{course['course_id']}/units", json={"title": "u"}, headers=t),
        201,
    )
    for title, text in (("Halves and quarters", LESSON_BODY), *TUTOR_LESSONS):
        lesson = _ok(
            api.post(
                f"/api/v1/units/{unit['unit_id']}/lessons",
                json={"title": title, "body": text},
                headers=t,
            ),
            201,
        )
        _ok(api.post(f"/api/v1/lessons/{lesson['lesson_id']}/publish", headers=t))
    _ok(
        api.post(
            f"/api/v1/courses/{course['course_id']}/classes",
            json={"class_id": klass["class_id"]},
            headers=t,
        )
    )
    _ok(api.put(f"/api/v1/tutor/classes/{klass['class_id']}", json={"mode": "open"}, headers=t))
    return klass["class_id"], [_student(api, klass["join_code"]) for _ in range(students)]


def _conversation(api: httpx.Client, who: dict[str, str], class_id: str) -> str:
    body = {"class_id": class_id}
    reply = api.post("/api/v1/tutor/conversations", json=body, headers=who)
    return str(_ok(reply, 201)["conversation_id"])


async def _ask(
    client: httpx.AsyncClient, who: dict[str, str], conversation: str
) -> tuple[float, float, str]:
    """(ms to the first token event, ms to done, kind) of one turn."""
    start = time.perf_counter()
    first, kind, event = 0.0, "", ""
    async with client.stream(
        "POST",
        f"/api/v1/tutor/conversations/{conversation}/messages",
        json={"text": QUESTION},
        headers=who,
    ) as reply:
        if reply.status_code != 200:
            return 0.0, 0.0, f"http {reply.status_code}"
        async for line in reply.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                if event == "token" and not first:
                    first = (time.perf_counter() - start) * 1000
            elif line.startswith("data:") and event == "done":
                kind = "model" if '"kind":"model"' in line else line
    return first, (time.perf_counter() - start) * 1000, kind


async def _model_first_token(client: httpx.AsyncClient, model: FakeModel) -> float:
    start = time.perf_counter()
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    async with client.stream("POST", model.url + "/chat/completions", json=body) as reply:
        async for line in reply.aiter_lines():
            if '"content"' in line:
                return (time.perf_counter() - start) * 1000
    raise RuntimeError("the fake model sent no content")


@contextmanager
def _serving(settings: Settings, tutor: dict[str, str], log: Path) -> Iterator[str]:
    saved = dict(os.environ)
    os.environ.update({f"DREAMSEED_TUTOR_{k.upper()}": v for k, v in tutor.items()})
    os.environ["DREAMSEED_TUTOR_QUESTIONS_PER_MINUTE"] = "1000000"
    os.environ["DREAMSEED_TUTOR_CLASS_DAILY_TOKENS"] = "1000000000"
    try:
        with api_server(settings, log, services=()) as url:
            yield url
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _row(name: str, samples: list[float], base: float | None = None) -> str:
    p50, p99 = pct(samples, 0.5), pct(samples, 0.99)
    ratio = f"{p99 / base:8.2f}" if base else "       —"
    return f"{name:<44} {p50:9.2f} {p99:9.2f} {ratio}"


async def bench_model_path(settings: Settings, n: int, model_ms: float, logs: Path) -> None:
    with fake_model() as model:
        model.behaviour, model.delay = "slow_first", model_ms / 1000
        tutor = {"model_url": model.url, "model": "bench", "breaker_shared": "false"}
        with _serving(settings, tutor, logs / "api-model.log") as url:
            with httpx.Client(base_url=url, timeout=60) as api:
                class_id, students = _school(api, 20)
                conversations = [
                    (who, _conversation(api, who, class_id)) for who in students for _ in range(10)
                ]
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
                await _ask(client, *conversations[0])  # warm: index built, pools open
                direct, platform = [], []
                for i in range(n):
                    direct.append(await _model_first_token(client, model))
                    first, _, kind = await _ask(client, *conversations[i % len(conversations)])
                    assert kind == "model", kind
                    platform.append(first)
                added = [p - d for p, d in zip(platform, direct, strict=True)]
                print(f"\n{'time to first token (ms)':<44} {'p50':>9} {'p99':>9} {'p99/base':>8}")
                print(_row("fake model alone (baseline)", direct))
                print(_row("through the platform", platform, pct(direct, 0.99)))
                print(_row("added by the platform (pairwise)", added))
                print(f"added p99 {pct(platform, 0.99) - pct(direct, 0.99):.2f} ms (goal <= 20)")

                model.delay = 0.0
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(_ask(client, who, conv) for who, conv in conversations),
                    return_exceptions=True,
                )
                wall = time.perf_counter() - started
                errors = [r for r in results if isinstance(r, BaseException) or r[2] != "model"]
                done = [r[1] for r in results if not isinstance(r, BaseException)]
                print(
                    f"\n{len(conversations)} concurrent sessions: {len(errors)} errors"
                    f" (goal 0), done p50 {pct(done, 0.5):.0f} ms, p99 {pct(done, 0.99):.0f} ms,"
                    f" wall {wall:.1f} s"
                )
                for error in errors[:3]:
                    print("  error:", error)


async def bench_fallback(settings: Settings, n: int, logs: Path) -> None:
    """Two servers up at once, asked in turn (one request each, interleaved, so the machine's
    load falls on both alike): no model configured (the baseline) and a dead model endpoint whose
    breaker is open (consent given, so the turn gets as far as the breaker)."""
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    tutor_open = {
        "model_url": dead,
        "breaker_threshold": "1",
        "breaker_ttl_seconds": "3600",
        "breaker_shared": "false",
    }
    first: dict[str, list[float]] = {"none": [], "open": []}
    done: dict[str, list[float]] = {"none": [], "open": []}
    with (
        _serving(settings, {}, logs / "api-none.log") as none_url,
        _serving(settings, tutor_open, logs / "api-open.log") as open_url,
    ):
        targets = []
        for name, url in (("none", none_url), ("open", open_url)):
            with httpx.Client(base_url=url, timeout=60) as api:
                class_id, (who,) = _school(api, 1)
                targets.append((name, url, who, _conversation(api, who, class_id)))
        clients = {name: httpx.AsyncClient(base_url=url, timeout=60) for name, url, _, _ in targets}
        try:
            for name, _, who, conv in targets:
                for _ in range(3):  # warm; with a dead model the first turn opens the breaker
                    await _ask(clients[name], who, conv)
            for _ in range(n):
                for name, _, who, conv in targets:
                    to_first, total, kind = await _ask(clients[name], who, conv)
                    expected = "no_model" if name == "none" else "breaker_open"
                    assert expected in kind, kind
                    first[name].append(to_first)
                    done[name].append(total)
        finally:
            for client in clients.values():
                await client.aclose()
    print(f"\n{'grounded fallback turn (ms)':<44} {'p50':>9} {'p99':>9} {'p99/base':>8}")
    for label, samples in (("first fallback event", first), ("done", done)):
        print(_row(f"{label}, no model configured (baseline)", samples["none"]))
        print(_row(f"{label}, breaker open", samples["open"], pct(samples["none"], 0.99)))
        added = [o - b for o, b in zip(samples["open"], samples["none"], strict=True)]
        print(_row(f"{label}, added by breaker open (pairwise)", added))
        print(
            f"{label}: breaker-open p99 {pct(samples['open'], 0.99):.2f} ms (goal <= 10);"
            f" p99 over the baseline's p99 {pct(samples['open'], 0.99) - pct(samples['none'], 0.99):+.2f} ms"
        )


def bench_retrieval(passages: int, queries: int) -> None:
    rng = random.Random(7)
    english = [f"w{i}" for i in range(20000)]
    hangul = [chr(0xAC00 + i) for i in range(600)]

    def text() -> str:
        words = [english[min(int(rng.paretovariate(1.1)), 19999)] for _ in range(40)]
        korean = "".join(rng.choice(hangul) for _ in range(rng.randrange(0, 30)))
        return " ".join(words) + " " + korean

    corpus = [Passage(f"l{i // 5}", "lesson", f"s{i % 5}", text()) for i in range(passages)]
    started = time.perf_counter()
    index = PassageIndex(corpus)
    built = time.perf_counter() - started
    latencies = []
    for _ in range(queries):
        query = text()[:60]
        start = time.perf_counter()
        index.search(query, 5)
        latencies.append((time.perf_counter() - start) * 1000)
    print(f"\nretrieval over {passages} passages (index built in {built:.1f} s):")
    print(f"{'BM25 search, k=5 (ms)':<44} {'p50':>9} {'p99':>9}")
    print(_row("search", latencies) + "   (goal p99 <= 30)")


def recall_at_5() -> None:
    passages = []
    for n, (title, text) in enumerate((("Halves and quarters", LESSON_BODY), *TUTOR_LESSONS)):
        passages.extend(split_lesson(f"lesson-{n}", title, text))
    index = PassageIndex(passages)
    hits = {1: 0, 5: 0}
    for question, lesson, section in LABELLED:
        found = [(p.lesson_title, p.section) for p in index.search(question, 5)]
        hits[5] += (lesson, section) in found
        hits[1] += found[:1] == [(lesson, section)]
    total = len(LABELLED)
    print(
        f"\nlabelled set ({total} questions, English and Korean): recall@5 {hits[5] / total:.2f},"
        f" recall@1 {hits[1] / total:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed turns per phase")
    parser.add_argument("--model-ms", type=float, default=50.0, help="fake model's first token")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument(
        "--only",
        choices=["recall", "retrieval", "model", "fallback"],
        action="append",
        help="run only these phases (repeatable; default: all)",
    )
    args = parser.parse_args()
    phases = set(args.only or ["recall", "retrieval", "model", "fallback"])
    if "recall" in phases:
        recall_at_5()
    if "retrieval" in phases:
        bench_retrieval(args.passages, 500)
    logs = Path(tempfile.mkdtemp(prefix="dreamseed-bench-tutor-"))
    print(f"load average before the API phases: {os.getloadavg()}")
    with scratch_database(Settings.load()) as settings:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            # The school allows external models (the default is no): the model is called.
            conn.execute("update privacy.school_settings set external_models_allowed = true")
        if "model" in phases:
            asyncio.run(bench_model_path(settings, args.n, args.model_ms, logs))
        if "fallback" in phases:
            asyncio.run(bench_fallback(settings, args.n, logs))
    print(f"load average after: {os.getloadavg()}")
    print(f"\nserver logs in {logs}")


if __name__ == "__main__":
    main()
