"""Dashboard latency at N responses (default 1 M): first render and filter change of every page,
against the query that answers the page's main figure straight from the OLTP tables, same run.

A scratch database gets a generated school (20 teachers with a class of 50 students each, 20
exams of 50 items per class, each item with two 2PL calibrations, the second live; N responses
spread over the last 180 days), the dbt marts are built
as Dagster assets in process, and the dashboards app is driven through Starlette's TestClient
as an admin (the widest view):
- first render: GET /pages/<name>/ (policy gate, preload queries, server-side HTML);
- filter change: one Shiny WebSocket session per page, alternating one input between two values
  and timing until the page's output is re-rendered;
- baseline: the same figure computed from exams.* with psycopg (no mart).
Goals (issue 18): p95 ≤ 1.5 s first render, ≤ 0.5 s filter change. Compare ratios across runs.

    python -m bench dashboards [--responses N] [--repeat R]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from bench.lake.lakehouse import scratch
from core.auth import hash_password, issue_token
from core.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TEACHERS, STUDENTS_PER_CLASS, EXAMS, ITEMS = 20, 50, 20, 50

SEED_SQL = """
insert into users.accounts (user_id, email, display_name, role, password_hash)
select md5('bt' || t)::uuid, 'teacher' || t || '@bench.example', 'Teacher ' || t, 'teacher', %(pw)s
from generate_series(1, %(teachers)s) t;
insert into users.accounts (user_id, email, display_name, role, password_hash)
select md5('bs' || s)::uuid, 'student' || s || '@bench.example', 'Student ' || s, 'student', %(pw)s
from generate_series(1, %(teachers)s * %(per_class)s) s;
insert into classes.classes (class_id, name, teacher_id, join_code)
select md5('bc' || t)::uuid, 'Bench class ' || t, md5('bt' || t)::uuid, 'B' || upper(substr(md5('bj' || t), 1, 8))
from generate_series(1, %(teachers)s) t;
insert into classes.memberships (class_id, student_id)
select md5('bc' || ((s - 1) / %(per_class)s + 1))::uuid, md5('bs' || s)::uuid
from generate_series(1, %(teachers)s * %(per_class)s) s;
insert into content.items (item_id, owner_id, stem, options, answer_key, skills, status)
select md5('bi' || t || '-' || i)::uuid, md5('bt' || t)::uuid, 'Q' || i, '["A", "B", "C", "D"]', 0,
       array[(array['algebra', 'geometry', 'number'])[1 + i %% 3]], 'operational'
from generate_series(1, %(teachers)s) t, generate_series(1, %(items)s) i;
insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)
select md5('be' || t || '-' || e)::uuid, md5('bt' || t)::uuid, md5('bc' || t)::uuid, 'Exam ' || e,
       array(select md5('bi' || t || '-' || i)::uuid from generate_series(1, %(items)s) i)
from generate_series(1, %(teachers)s) t, generate_series(1, %(exams)s) e;
"""

# A calibrated bank, as a bank with 1 M responses would be: two 2PL calibrations per item, the
# second live (so the page draws item and test information curves and calibration drift).
PARAMS_SQL = """
insert into content.item_parameters (param_id, item_id, version, calibration_id, model, a, b, c, d,
                                     is_live, created_at, promoted_at)
select md5('bp' || t || '-' || i || '-' || v)::uuid, md5('bi' || t || '-' || i)::uuid, v,
       'bench-cal-' || v, '2pl', x.a, array[x.b], 0, array[-x.a * x.b], v = 2,
       now() - make_interval(days => 60 / v), case when v = 2 then now() - interval '30 days' end
from generate_series(1, %(teachers)s) t, generate_series(1, %(items)s) i, generate_series(1, 2) v,
     lateral (select 0.6 + ((i * 7 + v * 3) %% 10) / 10.0 as a,
                     -2.0 + ((i * 13 + t + v) %% 41) / 10.0 as b) x;
"""

ATTEMPTS_SQL = """
insert into exams.attempts (attempt_id, exam_id, student_id, status, started_at, completed_at,
                            raw_score, max_score)
select md5('ba' || s || '-' || e)::uuid, md5('be' || ((s - 1) / %(per_class)s + 1) || '-' || e)::uuid,
       md5('bs' || s)::uuid, 'completed', st, st + interval '20 minutes', 0, %(items)s
from generate_series(1, %(teachers)s * %(per_class)s) s, generate_series(1, %(exams)s) e,
     lateral (select now() - make_interval(days => (s * 7 + e * 13) %% 180, mins => (s * e) %% 600) as st) x
limit %(attempts)s;
"""

RESPONSES_SQL = """
insert into exams.responses (attempt_id, item_id, choice, is_correct, answered_at, position, score)
select a.attempt_id, i.item_id, case when c then 0 else 1 end, c,
       a.started_at + make_interval(secs => 20 * i.k), i.k - 1, c::int
from exams.attempts a join exams.exams e using (exam_id),
     lateral unnest(e.item_ids) with ordinality as i(item_id, k),
     lateral (select random() < 0.6 as c) r;
update exams.attempts a set raw_score = s.score
from (select attempt_id, sum(score) as score from exams.responses group by 1) s
where s.attempt_id = a.attempt_id;
-- The marts read responses from the lake's copy (lake_silver.responses, decision 0014); the bench
-- measures the pages, not the pipeline, so the copy is filled as the lake would fill it (one row
-- per response event; student_key left null: no staging model reads it).
insert into lake_silver.responses (event_id, event_type, event_version, occurred_at, attempt_id,
                                   exam_id, item_id, choice, is_correct, answered_at, position,
                                   item_version, score, pilot)
select gen_random_uuid()::text, 'exams.response.recorded.v1', 1, r.answered_at,
       r.attempt_id::text, a.exam_id::text, r.item_id::text, r.choice, r.is_correct,
       r.answered_at, r.position, r.item_version, r.score, r.pilot
from exams.responses r join exams.attempts a using (attempt_id);
"""

# Classes, exams, items, attempts and memberships from the lake too (decision 0014): the marts
# know people by their pseudonymous key, so the copies are filled as the lake would fill them
# (one created event per class, exam and item), keys from bench_keys.
LAKE_PEOPLE_SQL = """
insert into lake_silver.class_events (event_id, event_type, event_version, occurred_at, class_id,
                                      teacher_key, name, created_at)
select gen_random_uuid()::text, 'classes.class.created.v1', 1, c.created_at, c.class_id::text,
       k.user_key, c.name, c.created_at
from classes.classes c join bench_keys k on k.user_id = c.teacher_id;
insert into lake_silver.exam_events (event_id, event_type, event_version, occurred_at, exam_id,
                                     owner_key, class_id, item_count, created_at, kind, title,
                                     exposure_max_rate)
select gen_random_uuid()::text, 'exams.exam.created.v1', 1, e.created_at, e.exam_id::text,
       k.user_key, e.class_id::text, cardinality(e.item_ids), e.created_at, e.kind, e.title,
       (e.config -> 'exposure' ->> 'max_rate')::float8
from exams.exams e join bench_keys k on k.user_id = e.owner_id;
insert into lake_silver.item_events (event_id, event_type, event_version, occurred_at, item_id,
                                     owner_key, skills, created_at, version, status, scoring,
                                     option_count)
select gen_random_uuid()::text, 'content.item.created.v1', 1, i.created_at, i.item_id::text,
       k.user_key, i.skills, i.created_at, i.version, i.status, i.scoring,
       jsonb_array_length(i.options)
from content.items i join bench_keys k on k.user_id = i.owner_id;
insert into lake_silver.class_events (event_id, event_type, event_version, occurred_at, class_id,
                                      student_key, joined_at)
select gen_random_uuid()::text, 'classes.membership.joined.v1', 1, m.joined_at, m.class_id::text,
       k.user_key, m.joined_at
from classes.memberships m join bench_keys k on k.user_id = m.student_id;
insert into lake_silver.attempts (event_id, event_type, event_version, occurred_at, attempt_id,
                                  exam_id, student_key, class_id, raw_score, max_score,
                                  started_at, completed_at)
select gen_random_uuid()::text, 'exams.attempt.completed.v1', 1, a.completed_at,
       a.attempt_id::text, a.exam_id::text, k.user_key, e.class_id::text, a.raw_score,
       a.max_score, a.started_at, a.completed_at
from exams.attempts a join exams.exams e using (exam_id) join bench_keys k on k.user_id = a.student_id
"""

# Item parameters from the lake too (issue 18: stg_content__item_parameters reads
# lake_silver.item_events): one added event per version, one promoted event per promoted version,
# as the copy would hold them (no provenance: the bench's calibrations have none).
LAKE_PARAMETERS_SQL = """
insert into lake_silver.item_events (event_id, event_seq, event_type, event_version, occurred_at,
                                     param_id, item_id, version, calibration_id, model, a, b, c,
                                     created_at)
select gen_random_uuid()::text, null, 'content.item_parameters.added.v1', 1, p.created_at,
       p.param_id::text, p.item_id::text, p.version, p.calibration_id, p.model, p.a, p.b, p.c,
       p.created_at
from content.item_parameters p;
insert into lake_silver.item_events (event_id, event_seq, event_type, event_version, occurred_at,
                                     param_id, item_id, version, calibration_id, promoted_at)
select gen_random_uuid()::text, null, 'content.item_parameters.promoted.v1', 1, p.promoted_at,
       p.param_id::text, p.item_id::text, p.version, p.calibration_id, p.promoted_at
from content.item_parameters p where p.promoted_at is not null
"""


def fill_lake_keys(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """A temporary bench_keys (user_id, user_key): every account's lake pseudonym."""
    from lake.pseudonym import Pseudonymizer

    key = Pseudonymizer(settings.pseudonym_key)
    ids = conn.execute("select user_id::text from users.accounts")
    conn.execute("create temporary table bench_keys (user_id uuid primary key, user_key text)")
    with conn.cursor().copy("copy bench_keys (user_id, user_key) from stdin") as copy:
        for (user_id,) in ids.fetchall():
            copy.write_row((user_id, key(user_id)))


# The page's main figure straight from the OLTP tables (None: the page reads OLTP already).
BASELINES: dict[str, str | None] = {
    "attempts_per_day": """
        select a.completed_at::date, e.class_id, count(*), avg(a.raw_score::numeric / a.max_score)
        from exams.attempts a join exams.exams e using (exam_id)
        where a.status = 'completed' and a.completed_at >= now() - interval '90 days'
        group by 1, 2""",
    "usage": """
        select r.answered_at::date, e.class_id, count(distinct a.student_id), count(*)
        from exams.responses r join exams.attempts a using (attempt_id)
        join exams.exams e using (exam_id)
        where r.answered_at >= now() - interval '90 days' group by 1, 2""",
    "class_report": """
        select a.student_id, max(a.completed_at), avg(a.raw_score::numeric / a.max_score)
        from exams.attempts a join exams.exams e using (exam_id)
        where e.class_id = md5('bc1')::uuid group by 1""",
    "item_bank_health": """
        select r.item_id, avg(r.is_correct::int), count(*) from exams.responses r
        join content.items i using (item_id) group by 1""",
    "student_report": """
        select a.completed_at, a.raw_score::numeric / a.max_score from exams.attempts a
        where a.student_id = md5('bs1')::uuid order by 1""",
    "platform_health": None,
    "policy_audit": None,
}


def filters(now: datetime) -> dict[str, tuple[dict[str, Any], str, list[Any]]]:
    """Per page: the Shiny init inputs, the input that changes, its alternating values."""
    recent = (now - timedelta(days=30)).date().isoformat()
    student = str(uuid.UUID(hashlib.md5(b"bs1").hexdigest()))
    other = str(uuid.UUID(hashlib.md5(b"bs2").hexdigest()))
    klass = str(uuid.UUID(hashlib.md5(b"bc1").hexdigest()))
    return {
        "attempts_per_day": ({"period": "90"}, "period", ["30", "90"]),
        "usage": ({"period": "90", "grain": "day"}, "period", ["30", "90"]),
        "platform_health": ({"window": "24"}, "window", ["168", "24"]),
        "policy_audit": (
            {"days": "7", "outcome": "any", "subject": "", "action": "", "decision": "", "page": 1},
            "outcome",
            ["denied", "any"],
        ),
        "class_report": (
            {"class": klass, "exam": "all", "since": None, "until": None},
            "since",
            [recent, None],
        ),
        "item_bank_health": ({"status": "all", "exam": "all"}, "status", ["operational", "all"]),
        "student_report": ({"student": student}, "student", [other, student]),
    }


def seed(settings: Settings, responses: int) -> int:
    attempts = max(1, responses // ITEMS)
    params = {
        "pw": hash_password("bench-password"),
        "teachers": TEACHERS,
        "per_class": STUDENTS_PER_CLASS,
        "items": ITEMS,
        "exams": EXAMS,
        "attempts": attempts,
    }
    with psycopg.connect(settings.database_url) as conn:
        for script in (SEED_SQL, PARAMS_SQL, ATTEMPTS_SQL, RESPONSES_SQL):
            for statement in script.split(";\n"):
                if statement.strip():
                    conn.execute(statement.encode(), params if "%(" in statement else None)
        fill_lake_keys(conn, settings)
        conn.execute(LAKE_PEOPLE_SQL)
        conn.execute(LAKE_PARAMETERS_SQL)
        row = conn.execute("select count(*) from exams.responses").fetchone()
        conn.execute("analyze")
    return int(row[0]) if row else 0


def build_marts(settings: Settings, state: Path) -> bool:
    import dagster as dg

    from orchestration.analytics.assets import build_dbt_assets
    from orchestration.analytics.resources import build_dbt_resource, dbt_project

    project = dbt_project()
    (state / "dagster").mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.local_temp(tempdir=str(state / "dagster")) as instance:
        result = dg.materialize(
            [build_dbt_assets(project)],
            resources={"dbt": build_dbt_resource(settings, project)},
            instance=instance,
        )
    return bool(result.success)


def run_query(conn: psycopg.Connection[Any], query: str) -> object:
    return conn.execute(query.encode()).fetchall()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def shiny_output_ids(client: TestClient, path: str, headers: dict[str, str]) -> list[str]:
    html = client.get(path, headers=headers).text
    tags = re.findall(r"<div[^>]*shiny-html-output[^>]*>", html)
    ids = {m.group(1) for t in tags if (m := re.search(r'id="([^"]+)"', t))}
    if not ids:
        raise RuntimeError(f"{path}: no Shiny output found")
    return sorted(ids)


def filter_change(
    client: TestClient,
    name: str,
    headers: dict[str, str],
    spec: tuple[dict[str, Any], str, list[Any]],
    repeat: int,
) -> list[float]:
    init, key, values = spec
    outputs = shiny_output_ids(client, f"/pages/{name}/", headers)
    data = dict(init) | {f".clientdata_output_{o}_hidden": False for o in outputs}
    times: list[float] = []
    with client.websocket_connect(f"/pages/{name}/websocket/", headers=headers) as ws:
        ws.receive_text()
        ws.send_text(json.dumps({"method": "init", "data": data}))
        wait_values(ws, set(outputs))
        for k in range(repeat):
            start = time.perf_counter()
            ws.send_text(json.dumps({"method": "update", "data": {key: values[k % 2]}}))
            wait_values(ws, set(outputs))
            times.append(time.perf_counter() - start)
    return times


def wait_values(ws: Any, wanted: set[str]) -> None:
    """Read messages until every output in `wanted` has been sent (shiny.js's protocol: busy,
    recalculating, idle, then the values)."""
    seen: set[str] = set()
    for _ in range(500):
        message = json.loads(ws.receive_text())
        if message.get("errors"):
            raise RuntimeError(f"page error: {message['errors']}")
        seen |= set((message.get("values") or {}).keys())
        if wanted <= seen:
            return
    raise RuntimeError(f"no values for {wanted - seen}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from dashboards.app import create_app
    from dashboards.pages import PAGES

    base = Settings.load()
    settings, admin_url, name = scratch(base)
    try:
        started = time.perf_counter()
        total = seed(settings, args.responses)
        seeded = time.perf_counter() - started
        with TemporaryDirectory() as tmp:
            state = Path(tmp)
            started = time.perf_counter()
            ok = build_marts(settings, state)
            built = time.perf_counter() - started
            print(f"responses {total:,} (seeded in {seeded:.1f} s); marts built in {built:.1f} s"
                  f" ({'ok' if ok else 'FAILED'})", flush=True)  # fmt: skip
            settings = replace(settings, state_dir=state)
            admin_id = str(uuid.uuid4())
            with psycopg.connect(settings.database_url) as conn:
                conn.execute(
                    "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                    " values (%s, 'admin@bench.example', 'Admin', 'admin', 'x')",
                    (admin_id,),
                )
            token, _ = issue_token(
                settings.jwt_secret, admin_id, "admin", "access", timedelta(hours=2)
            )
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
            specs = filters(datetime.now(UTC))
            rows: list[dict[str, Any]] = []
            with TestClient(create_app(settings), client=("127.7.0.9", 50000)) as client, \
                    psycopg.connect(settings.database_url) as conn:  # fmt: skip
                for page in PAGES:
                    path = f"/pages/{page.name}/"
                    assert client.get(path, headers=headers).status_code == 200, page.name
                    first = timed(partial(client.get, path, headers=headers), args.repeat)
                    change = (
                        filter_change(client, page.name, headers, specs[page.name], args.repeat)
                        if page.name in specs
                        else []
                    )
                    query = BASELINES.get(page.name)
                    baseline = timed(partial(run_query, conn, query), args.repeat) if query else []
                    rows.append({
                        "page": page.name,
                        "first_p50": p(first, 50), "first_p95": p(first, 95),
                        "change_p50": p(change, 50) if change else None,
                        "change_p95": p(change, 95) if change else None,
                        "oltp_p95": p(baseline, 95) if baseline else None,
                    })  # fmt: skip
                    print(json.dumps(rows[-1]), flush=True)
        print(f"\n{'page':<18}{'first p50':>11}{'first p95':>11}{'change p95':>12}"
              f"{'OLTP p95':>10}{'first/OLTP':>12}  goals: first <= 1.5 s, change <= 0.5 s")  # fmt: skip
        for r in rows:
            ratio = r["first_p95"] / r["oltp_p95"] if r["oltp_p95"] else None
            print(
                f"{r['page']:<18}{r['first_p50']:>10.3f}s{r['first_p95']:>10.3f}s"
                + (f"{r['change_p95']:>11.3f}s" if r["change_p95"] is not None else f"{'n/a':>12}")
                + (f"{r['oltp_p95']:>9.3f}s" if r["oltp_p95"] else f"{'n/a':>10}")
                + (f"{ratio:>12.2f}" if ratio else f"{'n/a':>12}")
            )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
