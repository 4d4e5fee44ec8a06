"""Ship what a test wrote through the lake: outbox -> bronze -> silver, and the decision log.

The bronze horizon is `pg_snapshot_xmin` of the server: while any transaction older than this
test's rows is open (other suites share the server), ingest stops short of them. `ship` repeats
until every outbox row written so far lies below the horizon, so a test never reads a lake that
simply has not caught up yet.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from core.settings import Settings
from lake.decisions import ship_decisions
from lake.ingest import ingest_outbox
from lake.silver import derive_silver
from lake.warehouse import COPY_TABLES, copy_table
from privacy.lake_erasure import bronze_horizon


def ship(settings: Settings, timeout: float = 120.0, *, copies: bool = False) -> None:
    """One more snapshot per table, repeated until bronze holds every event written so far;
    with `copies`, then the silver tables' copies in PostgreSQL (`lake_silver.*`, for dbt)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("select max(txid::text::bigint) from events.outbox").fetchone()
    needed = int(row[0]) if row and row[0] is not None else 0
    deadline = time.monotonic() + timeout
    while True:
        ingest_outbox(settings)
        derive_silver(settings, advance_idle=True)
        ship_decisions(settings)
        if bronze_horizon(settings) > needed:
            for table in COPY_TABLES if copies else ():
                copy_table(settings, table)
            return
        assert time.monotonic() < deadline, "the lake did not catch up with the outbox"
        time.sleep(0.5)


# -- OLTP rows as the lake would see them -------------------------------------------------------
# Seeds that write the OLTP tables directly (hand-computable marts tests) give the lake the events
# the services would have written with them, since the marts read attempts, memberships and work
# from the lake (decision 0014): `record_events` appends them to the outbox (then `ship`), and
# `fill_lake_silver` writes the rows straight into the `lake_silver` copies (no lake involved).

_ATTEMPTS = """
select a.attempt_id::text, a.exam_id::text, a.student_id::text, e.class_id::text, a.status,
       a.started_at, a.completed_at, a.raw_score, a.max_score, a.theta, a.se, a.person_fit_lz,
       a.is_person_misfit, a.person_fit_reason
from exams.attempts a join exams.exams e using (exam_id)
where e.class_id = any(%s::uuid[])
"""
_MEMBERS = """
select class_id::text, student_id::text, joined_at from classes.memberships
where class_id = any(%s::uuid[])
"""
_WORK = """
select w.assignment_id::text, w.student_id::text, a.class_id::text, a.kind, w.state, w.version,
       w.is_late, w.flagged, w.points_awarded, w.submitted_at
from assignments.work w join assignments.assignments a using (assignment_id)
where a.class_id = any(%s::uuid[]) and w.submitted_at is not null
"""


def record_events(conn: psycopg.Connection[Any], class_ids: list[str]) -> None:
    """Append (in `conn`'s transaction) the events of the classes' memberships, attempts (started,
    completed, scored when it has a θ) and handed-in work, as the services write them."""
    from core.events import (
        AttemptCompletedV1,
        AttemptScoredV1,
        AttemptStartedV1,
        ClassJoinedV1,
        Event,
        WorkSubmittedV1,
    )
    from core.outbox import append_sync

    events: list[tuple[Event, Any]] = []
    for class_id, student, joined in conn.execute(_MEMBERS, (class_ids,)).fetchall():
        events.append(
            (ClassJoinedV1(class_id=class_id, student_id=student, joined_at=joined), joined)
        )
    for r in conn.execute(_ATTEMPTS, (class_ids,)).fetchall():
        (
            attempt,
            exam,
            student,
            class_id,
            status,
            started,
            completed,
            raw,
            top,
            theta,
            se,
            lz,
            misfit,
            reason,
        ) = r
        events.append(
            (
                AttemptStartedV1(
                    attempt_id=attempt, exam_id=exam, student_id=student, started_at=started
                ),
                started,
            )
        )
        if status != "completed":
            continue
        events.append(
            (
                AttemptCompletedV1(
                    attempt_id=attempt,
                    exam_id=exam,
                    student_id=student,
                    class_id=class_id,
                    raw_score=raw,
                    max_score=top,
                    started_at=started,
                    completed_at=completed,
                ),
                completed,
            )
        )
        if theta is not None:
            events.append(
                (
                    AttemptScoredV1(
                        attempt_id=attempt,
                        exam_id=exam,
                        student_id=student,
                        class_id=class_id,
                        theta=theta,
                        se=se if se is not None else 0.0,
                        scale_score=0.0,
                        percentile=0.0,
                        items_administered=0,
                        scored_items=0,
                        stop_reason="test",
                        completed_at=completed,
                        person_fit_lz=lz,
                        is_person_misfit=misfit,
                        person_fit_reason=reason,
                    ),
                    completed,
                )
            )
    for r in conn.execute(_WORK, (class_ids,)).fetchall():
        assignment, student, class_id, kind, state, version, late, flagged, points, at = r
        events.append(
            (
                WorkSubmittedV1(
                    assignment_id=assignment,
                    student_id=student,
                    class_id=class_id,
                    kind=kind,
                    state=state,
                    version=version,
                    is_late=late,
                    flagged=flagged,
                    points_awarded=points,
                    changed_at=at,
                ),
                at,
            )
        )
    for event, at in events:
        append_sync(conn, event, at)


def fill_lake_silver(
    conn: psycopg.Connection[Any], settings: Settings, class_ids: list[str]
) -> None:
    """Write the classes' memberships, attempts and handed-in work straight into the lake_silver
    copies, one row per event as the copy would hold it (people as pseudonymous keys)."""
    from core.ids import new_id
    from lake.pseudonym import Pseudonymizer

    key = Pseudonymizer(settings.pseudonym_key)

    def insert(table: str, row: dict[str, Any]) -> None:
        names = ["event_id", "event_version", *row]
        conn.execute(
            sql.SQL("insert into {} ({}) values ({})").format(
                sql.Identifier("lake_silver", table),
                sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            (str(new_id()), 1, *row.values()),
        )

    for class_id, student, joined in conn.execute(_MEMBERS, (class_ids,)).fetchall():
        insert(
            "class_events",
            {
                "event_type": "classes.membership.joined.v1",
                "occurred_at": joined,
                "class_id": class_id,
                "student_key": key(student),
                "joined_at": joined,
            },
        )
    for r in conn.execute(_ATTEMPTS, (class_ids,)).fetchall():
        (
            attempt,
            exam,
            student,
            class_id,
            status,
            started,
            completed,
            raw,
            top,
            theta,
            se,
            lz,
            misfit,
            reason,
        ) = r
        common = {"attempt_id": attempt, "exam_id": exam, "student_key": key(student)}
        insert(
            "attempts",
            {
                "event_type": "exams.attempt.started.v1",
                "occurred_at": started,
                **common,
                "started_at": started,
            },
        )
        if status != "completed":
            continue
        insert(
            "attempts",
            {
                "event_type": "exams.attempt.completed.v1",
                "occurred_at": completed,
                **common,
                "class_id": class_id,
                "raw_score": raw,
                "max_score": top,
                "started_at": started,
                "completed_at": completed,
            },
        )
        if theta is not None:
            insert(
                "attempts",
                {
                    "event_type": "exams.attempt.scored.v1",
                    "occurred_at": completed,
                    **common,
                    "class_id": class_id,
                    "theta": theta,
                    "se": se,
                    "completed_at": completed,
                    "person_fit_lz": lz,
                    "is_person_misfit": misfit,
                    "person_fit_reason": reason,
                },
            )
    for r in conn.execute(_WORK, (class_ids,)).fetchall():
        assignment, student, class_id, kind, state, version, late, flagged, points, at = r
        insert(
            "submissions",
            {
                "event_type": "assignments.work.submitted.v1",
                "occurred_at": at,
                "assignment_id": assignment,
                "student_key": key(student),
                "class_id": class_id,
                "kind": kind,
                "state": state,
                "version": version,
                "is_late": late,
                "flagged": flagged,
                "points_awarded": points,
                "changed_at": at,
            },
        )


# -- item parameters (issue 18: stg_content__item_parameters reads lake_silver.item_events) -------
# Seeds that write content.item_parameters directly give the lake the added event of every
# version (with its provenance fields) and a promoted event of every version that was promoted;
# the item's live version is promoted last (the model takes the latest promotion as live).

_PARAMETERS = """
select param_id::text, item_id::text, version, calibration_id, model, a, b, c, provenance,
       created_at, is_live, promoted_at
from content.item_parameters
where item_id = any(%s::uuid[])
order by item_id, version
"""


def _parameter_events(conn: psycopg.Connection[Any], item_ids: list[str]) -> list[Any]:
    """(added event, its time) and (promoted event, its time) per version of the items."""
    from core.events import ItemParametersAddedV1, ItemParametersPromotedV1, parameter_provenance

    rows = conn.execute(_PARAMETERS, (item_ids,)).fetchall()
    latest = {}  # item -> its latest promotion time (the live version's promotion comes last)
    for r in rows:
        if r[11] is not None:
            latest[r[1]] = max(latest.get(r[1], r[11]), r[11])
    out: list[Any] = []
    for param, item, version, cal, model, a, b, c, prov, created, live, promoted in rows:
        out.append(
            (
                ItemParametersAddedV1(
                    param_id=param,
                    item_id=item,
                    version=version,
                    calibration_id=cal,
                    model=model,
                    a=a,
                    b=list(b),
                    c=c,
                    created_at=created,
                    **parameter_provenance(prov or {}),
                ),
                created,
            )
        )
        if promoted is not None:
            at = latest[item] + timedelta(microseconds=1) if live else promoted
            event = ItemParametersPromotedV1(
                param_id=param,
                item_id=item,
                version=version,
                calibration_id=cal,
                previous_param_id=None,
                promoted_at=promoted,
            )
            out.append((event, at))
    return sorted(out, key=lambda pair: (pair[1], pair[0].event_type))


def record_parameter_events(conn: psycopg.Connection[Any], item_ids: list[str]) -> None:
    """Append (in `conn`'s transaction) the items' content.item_parameters.added / promoted
    events, as the content service and the calibration pipeline write them."""
    from core.outbox import append_sync

    for event, at in _parameter_events(conn, item_ids):
        append_sync(conn, event, at)


def fill_lake_silver_parameters(conn: psycopg.Connection[Any], item_ids: list[str]) -> None:
    """Write the items' parameter events straight into lake_silver.item_events, one row per
    event as the copy would hold it (event_seq in the order the events happened)."""
    from core.ids import new_id

    for seq, (event, at) in enumerate(_parameter_events(conn, item_ids), start=1):
        row = {
            "event_id": str(new_id()),
            "event_seq": seq,
            "event_type": event.event_type,
            "event_version": 1,
            "occurred_at": at,
            **msgspec.structs.asdict(event),
        }
        conn.execute(
            sql.SQL("insert into lake_silver.item_events ({}) values ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            tuple(row.values()),
        )
