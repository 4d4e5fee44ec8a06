"""LRS: statement POST throughput (one statement per request, and batches of 50) and the p99 of a
filtered GET /xapi/statements (agent + verb, limit 10) at N stored statements, against the same
query as plain SQL on the same table (psycopg, same database), interleaved.

`python -m bench.lrs.statements --rows 10000000` is the issue's size; the rows are generated in
SQL (generate_series, in the server: no client round trip per row), 1,000 learners × 5 verbs ×
500 activities, in chunks of 1 M with the table's secondary indexes dropped and built again
afterwards (their definitions read from pg_indexes, so they are the migration's), then ANALYZE. A real server
process (`dreamseed serve lrs users`), real PostgreSQL, one keep-alive connection, Basic auth.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.auth.login_storm import api_server, pct, scratch_database
from core.settings import Settings

VERBS = ["experienced", "attempted", "answered", "passed", "completed"]
GENERATE = """
insert into lrs.statements (statement_id, statement, actor_ifi, agents, verb, verb_id,
  object_type, object_id, activity_id, related_agents, related_activities, stored_at)
select gen_random_uuid(),
  jsonb_build_object('actor', jsonb_build_object('mbox', 'mailto:l' || (i % 1000) || '@bench.test'),
    'verb', jsonb_build_object('id', 'http://adlnet.gov/expapi/verbs/' || v.verb),
    'object', jsonb_build_object('id', 'http://bench.test/a/' || (i % 500)),
    'stored', now(), 'version', '1.0.3'),
  'mbox:mailto:l' || (i % 1000) || '@bench.test',
  array['mbox:mailto:l' || (i % 1000) || '@bench.test'],
  v.verb, 'http://adlnet.gov/expapi/verbs/' || v.verb, 'activity',
  'http://bench.test/a/' || (i % 500), 'http://bench.test/a/' || (i % 500),
  array['mbox:mailto:l' || (i % 1000) || '@bench.test'],
  array['http://bench.test/a/' || (i % 500)],
  now() - make_interval(secs => {rows} - i)
from generate_series({first}, {last}) i
join lateral (select (array['experienced','attempted','answered','passed','completed'])[1 + i % 5]
  as verb) v on true
"""
PLAIN_SQL = (
    "select seq, statement from lrs.statements where not voided and agents @> %s::text[]"
    " and verb_id = %s order by seq desc limit 11"
)


CHUNK = 1_000_000


def load(url: str, rows: int) -> None:
    """Generate `rows` statements: secondary indexes dropped, chunks of CHUNK, indexes rebuilt."""
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set synchronous_commit = off")
        indexes = conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'lrs'"
            " and tablename = 'statements'"
            " and indexname not in (select conname from pg_constraint)"  # pkey, unique(seq)
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"drop index lrs.{name}")
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            conn.execute(GENERATE.format(rows=rows, first=first, last=last))
            print(f"  {last:,} rows, {time.perf_counter() - start:.0f} s", flush=True)
        loaded = time.perf_counter()
        conn.execute("set maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("analyze lrs.statements")
        size = conn.execute("select pg_size_pretty(pg_total_relation_size('lrs.statements'))")
        total = size.fetchone()
    print(
        f"generated {rows:,} statements in {loaded - start:.1f} s, {len(indexes)} indexes built"
        f" and analyzed in {time.perf_counter() - loaded:.1f} s; table + indexes {total and total[0]}",
        flush=True,
    )


def statement(n: int) -> dict[str, object]:
    return {
        "actor": {"mbox": f"mailto:l{n % 1000}@bench.test"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{VERBS[n % 5]}"},
        "object": {"id": f"http://bench.test/a/{n % 500}"},
        "result": {"score": {"scaled": 0.5}, "completion": True, "duration": "PT30S"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="stored statements (N)")
    parser.add_argument("--posts", type=int, default=300, help="single-statement POSTs")
    parser.add_argument("--batches", type=int, default=30, help="POSTs of 50 statements")
    parser.add_argument("--gets", type=int, default=300, help="timed filtered GETs (and SQL)")
    args = parser.parse_args()
    base = Settings.load()
    with tempfile.TemporaryDirectory() as tmp, scratch_database(base) as settings:
        from cli.lrs import issue_credential
        from cli.users import create_account

        email = f"bench-{secrets.token_hex(4)}@bench.test"
        create_account(settings, email, "Bench admin", "admin", secrets.token_hex(12))
        cred = issue_credential(settings, email, "bench", ["all"], None)
        load(settings.database_url, args.rows)
        basic = base64.b64encode(f"{cred['key']}:{cred['secret']}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "X-Experience-API-Version": "1.0.3"}
        with (
            api_server(settings, Path(tmp) / "api.log", services=("lrs", "users")) as url,
            httpx.Client(base_url=url, timeout=60, headers=headers) as api,
            psycopg.connect(settings.database_url) as sql_conn,
        ):
            for n in range(20):  # warm up
                api.post("/xapi/statements", json=statement(n)).raise_for_status()
            start = time.perf_counter()
            for n in range(args.posts):
                api.post("/xapi/statements", json=statement(n)).raise_for_status()
            single = args.posts / (time.perf_counter() - start)
            start = time.perf_counter()
            for b in range(args.batches):
                batch = [statement(b * 50 + k) for k in range(50)]
                api.post("/xapi/statements", json=batch).raise_for_status()
            batched = args.batches * 50 / (time.perf_counter() - start)
            api_ms: list[float] = []
            sql_ms: list[float] = []
            for n in range(args.gets):
                agent = json.dumps({"mbox": f"mailto:l{n % 1000}@bench.test"})
                verb = f"http://adlnet.gov/expapi/verbs/{VERBS[n % 5]}"
                t0 = time.perf_counter()
                reply = api.get("/xapi/statements", params={"agent": agent, "verb": verb,
                                                            "limit": "10"})  # fmt: skip
                reply.raise_for_status()
                api_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                sql_conn.execute(PLAIN_SQL, ([f"mbox:mailto:l{n % 1000}@bench.test"], verb))
                sql_ms.append((time.perf_counter() - t0) * 1000)
    print(f"POST throughput: {single:.0f} statements/s one per request; {batched:.0f} statements/s"
          f" in batches of 50 ({batched / single:.1f}x)")  # fmt: skip
    print(f"filtered GET (agent + verb, limit 10) at {args.rows:,} statements, n={args.gets}:")
    print(f"  GET /xapi/statements  p50 {pct(api_ms, 0.5):.2f} ms  p99 {pct(api_ms, 0.99):.2f} ms")
    print(f"  plain SQL (psycopg)   p50 {pct(sql_ms, 0.5):.2f} ms  p99 {pct(sql_ms, 0.99):.2f} ms")
    print(f"  p99 ratio API / SQL: {pct(api_ms, 0.99) / pct(sql_ms, 0.99):.2f}")


if __name__ == "__main__":
    main()
