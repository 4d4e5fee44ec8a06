"""Erasure of one person, resumable step by step (`privacy.request_steps`).

Steps, in order (a finished step is never run again, so a crash resumes after the last one):

1. `subject`  — remember her e-mail, name and role in the request (needed after her account row
   is gone, to find her in the lake's raw payloads) and draw the tombstone id.
2. `ship`     — bring the lake up to date with the outbox, so no event about her is lost.
3. `media`    — delete the files she handed in (submission uploads) from S3.
4. `postgres` — one transaction: every inventory table's `on_erasure` (delete, or sever to the
   tombstone account; free text cleared).
5. `lake`     — rewrite her rows in every Iceberg table, cut the tables' history, remove orphans.
6. `redis`    — delete her keys and her entries in the event streams.
7. `exports`  — delete archives of earlier exports about her.
8. `finish`   — forget who she was: the request keeps only counts.

A second erasure of the same person finds nothing anywhere and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
import redis
from psycopg.types.json import Jsonb

from core.settings import Settings
from governance.inventory import load as load_inventory
from lake.pseudonym import pseudonymize
from privacy import lake_erasure, postgres, redis_keys, requests
from privacy.objects import Objects

STEPS = ("subject", "ship", "media", "postgres", "lake", "redis", "exports", "finish")
OWN_TABLES = ("privacy.requests",)  # severed by the `finish` step, not by the generic one

StepHook = Callable[[str], None]


def _subject(request: requests.PrivacyRequest) -> postgres.Subject:
    details = request.subject or {}
    assert request.user_id is not None
    return postgres.Subject(
        request.user_id, details.get("email"), details.get("display_name"), details.get("role")
    )


def _step_subject(
    conn: psycopg.Connection[Any], request: requests.PrivacyRequest
) -> dict[str, Any]:
    assert request.user_id is not None
    found = postgres.find_subject(conn, request.user_id)
    details = {"email": found.email, "display_name": found.display_name, "role": found.role}
    conn.execute(
        "update privacy.requests set subject = %s, tombstone_id = %s where request_id::text = %s",
        (Jsonb(details), str(uuid.uuid4()), request.request_id),
    )
    return {"account_found": found.role is not None}


def _step_media(conn: psycopg.Connection[Any], objects: Objects, user_id: str) -> dict[str, Any]:
    """Her own work's files go; teachers' files (lesson, item media) stay, severed in PG."""
    rows = conn.execute(
        "select object_key from learning.media where user_id::text = %s"
        " and holder_type = 'submission'",
        (user_id,),
    ).fetchall()
    for (key,) in rows:
        objects.client.remove_object(objects.bucket, key)
    return {"objects_removed": len(rows)}


def _step_postgres(
    conn: psycopg.Connection[Any],
    settings: Settings,
    inventory: Mapping[str, Any],
    subject: postgres.Subject,
    tombstone: str,
) -> dict[str, Any]:
    keys = postgres.Keys(
        pseudonymize(settings.pseudonym_key, subject.user_id),
        pseudonymize(settings.pseudonym_key, tombstone),
    )
    with conn.transaction():
        done = postgres.erase_rows(conn, inventory, subject, tombstone, skip=OWN_TABLES, keys=keys)
    return {t.table: t.rows for t in done if t.rows}


def _step_exports(
    conn: psycopg.Connection[Any], objects: Objects, request_id: str, user_id: str
) -> dict[str, Any]:
    rows = conn.execute(
        "select request_id::text, archive_key from privacy.requests"
        " where user_id::text = %s and kind = 'export'",
        (user_id,),
    ).fetchall()
    for _, key in rows:
        if key:
            objects.client.remove_object(objects.bucket, key)
    conn.execute(
        "update privacy.requests set user_id = null, archive_key = null"
        " where user_id::text = %s and kind = 'export'",
        (user_id,),
    )
    return {"archives_removed": sum(1 for _, key in rows if key)}


def _step_finish(conn: psycopg.Connection[Any], request_id: str, user_id: str) -> dict[str, Any]:
    conn.execute(
        "update privacy.requests set requested_by = 'erased' where requested_by = %s", (user_id,)
    )
    conn.execute(
        "update privacy.requests set user_id = null, tombstone_id = null, subject = null"
        " where request_id::text = %s",
        (request_id,),
    )
    return {}


def run_erasure(
    settings: Settings, request_id: str, *, after_step: StepHook | None = None
) -> dict[str, Any]:
    """Run (or resume) an erasure request; returns what each step did. `after_step(name)` runs
    after each step is recorded (crash tests kill the process there)."""
    inventory = load_inventory()
    objects = Objects(settings)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        request = requests.load(conn, request_id)
        if request is None or request.kind != "erasure":
            raise ValueError(f"no erasure request {request_id}")
        done = requests.steps_done(conn, request_id)
        if request.status == "done":
            return done
        try:
            for step in STEPS:
                if step in done:
                    continue
                requests.start_step(conn, request_id, step)
                request = requests.load(conn, request_id)
                assert request is not None and request.user_id is not None
                detail = _run_step(step, conn, settings, inventory, objects, request, after_step)
                done[step] = detail
                if step == "finish":
                    summary = {"steps": done}
                    with conn.transaction():
                        requests.finish_step(conn, request_id, step, detail)
                        requests.finish(conn, request_id, summary)
                else:
                    requests.finish_step(conn, request_id, step, detail)
                if after_step is not None:
                    after_step(step)
        except Exception as exc:
            requests.fail(conn, request_id, f"{type(exc).__name__}: {exc}")
            raise
    return done


def _run_step(
    step: str,
    conn: psycopg.Connection[Any],
    settings: Settings,
    inventory: Mapping[str, Any],
    objects: Objects,
    request: requests.PrivacyRequest,
    hook: StepHook | None,
) -> dict[str, Any]:
    assert request.user_id is not None
    user_id = request.user_id
    if step == "subject":
        return _step_subject(conn, request)
    subject = _subject(request)
    tombstone = request.tombstone_id
    assert tombstone is not None
    if step == "ship":
        return lake_erasure.ship_subject(settings, conn, inventory, user_id)
    if step == "media":
        return _step_media(conn, objects, user_id)
    if step == "postgres":
        return _step_postgres(conn, settings, inventory, subject, tombstone)
    if step == "lake":
        return lake_erasure.erase_lake(settings, inventory, subject, tombstone, conn, request, hook)
    if step == "redis":
        client = redis.Redis.from_url(settings.redis_url)
        found = redis_keys.find(client, inventory, subject)
        return {"removed": redis_keys.erase(client, found)}
    if step == "exports":
        return _step_exports(conn, objects, request.request_id, user_id)
    return _step_finish(conn, request.request_id, user_id)
