"""Ship what a test wrote through the lake: outbox -> bronze -> silver, and the decision log.

The bronze horizon is `pg_snapshot_xmin` of the server: while any transaction older than this
test's rows is open (other suites share the server), ingest stops short of them. `ship` repeats
until every outbox row written so far lies below the horizon, so a test never reads a lake that
simply has not caught up yet.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from core.settings import Settings
from lake.decisions import ship_decisions
from lake.ingest import ingest_outbox
from lake.silver import derive_silver
from lake.warehouse import COPY_TABLES, copy_table
from privacy.lake_erasure import bronze_horizon


def ship(
    settings: Settings, timeout: float = 120.0, *, copies: bool | Collection[str] = False
) -> None:
    """One more snapshot per table, repeated until bronze holds every event written so far;
    with `copies`, then the silver tables' copies in PostgreSQL (`lake_silver.*`, for dbt): all
    of them (True) or the ones named."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute("select max(txid::text::bigint) from events.outbox").fetchone()
    needed = int(row[0]) if row and row[0] is not None else 0
    deadline = time.monotonic() + timeout
    while True:
        ingest_outbox(settings)
        derive_silver(settings, advance_idle=True)
        ship_decisions(settings)
        if bronze_horizon(settings) > needed:
            for table in COPY_TABLES if copies is True else copies or ():
                copy_table(settings, table)
            return
        assert time.monotonic() < deadline, "the lake did not catch up with the outbox"
        time.sleep(0.5)


# The lake_silver copies `record_events`' events reach (a copy of a table the lake has no rows for
# empties it: leave out tables a seed fills by hand, such as tutor_turns).
RECORDED_COPIES = (
    "responses",
    "attempts",
    "class_events",
    "submissions",
    "exam_events",
    "item_events",
)


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


# Classes, their teachers' exams and items: the dimensions the marts read from the lake too.
_CLASSES = """
select class_id::text, teacher_id::text, name, created_at from classes.classes
where class_id = any(%s::uuid[])
"""
_EXAMS = """
select e.exam_id::text, e.owner_id::text, e.class_id::text, e.title, e.kind,
       cardinality(e.item_ids), (e.config -> 'exposure' ->> 'max_rate')::float8, e.created_at
from exams.exams e
where e.class_id = any(%s::uuid[])
   or e.owner_id in (select teacher_id from classes.classes where class_id = any(%s::uuid[]))
"""
_ITEMS = """
select i.item_id::text, i.owner_id::text, i.version, i.status, i.scoring,
       jsonb_array_length(i.options), i.skills, i.created_at
from content.items i
where i.owner_id in (select teacher_id from classes.classes where class_id = any(%s::uuid[]))
   or i.item_id in (select unnest(item_ids) from exams.exams where class_id = any(%s::uuid[]))
"""


def _dimension_events(conn: psycopg.Connection[Any], class_ids: list[str]) -> list[Any]:
    """The created events of the classes, of their teachers' exams and of the items those exams
    and teachers hold (each item as created in its current version)."""
    from core.events import ClassCreatedV1, ExamCreatedV1, ItemCreatedV1

    events: list[Any] = []
    for class_id, teacher, name, at in conn.execute(_CLASSES, (class_ids,)).fetchall():
        events.append(
            (ClassCreatedV1(class_id=class_id, teacher_id=teacher, created_at=at, name=name), at)
        )
    for exam, owner, class_id, title, kind, count, rate, at in conn.execute(
        _EXAMS, (class_ids, class_ids)
    ).fetchall():
        event = ExamCreatedV1(
            exam_id=exam,
            owner_id=owner,
            class_id=class_id,
            item_count=count or 0,
            created_at=at,
            kind=kind,
            title=title,
            exposure_max_rate=rate,
        )
        events.append((event, at))
    for item, owner, version, status, scoring, options, skills, at in conn.execute(
        _ITEMS, (class_ids, class_ids)
    ).fetchall():
        event = ItemCreatedV1(
            item_id=item,
            owner_id=owner,
            skills=list(skills or []),
            created_at=at,
            version=version,
            status=status,
            scoring=scoring,
            option_count=options,
        )
        events.append((event, at))
    return events


def record_events(conn: psycopg.Connection[Any], class_ids: list[str]) -> None:
    """Append (in `conn`'s transaction) the events of the classes, their exams and items (created),
    memberships, attempts (started, completed, scored when it has a θ) and handed-in work, as the
    services write them."""
    from core.outbox import append_sync

    for event, at in _seed_events(conn, class_ids):
        append_sync(conn, event, at)


def fill_lake_silver(
    conn: psycopg.Connection[Any], settings: Settings, class_ids: list[str]
) -> None:
    """Write the same events as `record_events` straight into the lake_silver copies, one row per
    event as the copy would hold it (`lake.silver.silver_row`: people as pseudonymous keys)."""
    _write_silver(conn, settings, _seed_events(conn, class_ids))


def _write_silver(
    conn: psycopg.Connection[Any], settings: Settings, events: list[tuple[Any, Any]]
) -> None:
    """Each event as its silver row (the silver derivation's own `silver_row`, routed by type) in
    its lake_silver copy, with the columns the copy has (as `copy_table` takes them)."""
    from core.ids import new_id
    from lake.contracts import version
    from lake.pseudonym import Pseudonymizer
    from lake.silver import route, silver_row

    pseudo = Pseudonymizer(settings.pseudonym_key)
    columns: dict[str, set[str]] = {}
    for seq, (event, at) in enumerate(events, start=1):
        table = route(event.event_type)
        assert table is not None, f"{event.event_type} has no silver table"
        if table not in columns:
            columns[table] = {
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'lake_silver' and table_name = %s",
                    (table,),
                )
            }
        envelope = {
            "event_id": str(new_id()),
            "event_seq": seq,
            "event_type": event.event_type,
            "event_version": version(event.event_type),
            "occurred_at": at,
        }
        row = {k: v for k, v in silver_row(event, pseudo, envelope).items() if k in columns[table]}
        conn.execute(
            sql.SQL("insert into {} ({}) values ({})").format(
                sql.Identifier("lake_silver", table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            tuple(row.values()),
        )


def _seed_events(conn: psycopg.Connection[Any], class_ids: list[str]) -> list[tuple[Any, Any]]:
    """(event, when) of the classes' dimensions, memberships, attempts and work, oldest first."""
    from core.events import (
        AttemptCompletedV1,
        AttemptScoredV1,
        AttemptStartedV1,
        ClassJoinedV1,
        Event,
        WorkSubmittedV1,
    )

    events: list[tuple[Event, Any]] = _dimension_events(conn, class_ids)
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
                    # numeric -> float: a Decimal would be encoded as a JSON string, and silver
                    # rejects the event (its contract says float)
                    points_awarded=float(points) if points is not None else None,
                    changed_at=at,
                ),
                at,
            )
        )
    return sorted(events, key=lambda pair: pair[1])


# -- Coursework as the lake would see it (assignments, lessons, learning records) ---------------
# agg_assignment_completion and agg_content_engagement read assignments (with their listed
# students), lessons and xAPI statements from the lake too: seeds that INSERT those OLTP rows give
# the lake their events with `record_coursework_events` (then `ship(..., copies=True)`).

_ASSIGNMENTS = """
select assignment_id::text, owner_id::text, class_id::text, kind, exam_id::text, lesson_id::text,
       open_at, due_at, late_policy, points, student_ids::text[], created_at
from assignments.assignments where class_id = any(%s::uuid[])
"""
_STATEMENTS = """
select statement_id::text, user_id::text, actor_ifi, verb, verb_id, object_type, object_id,
       activity_id, registration::text, class_id::text, statement -> 'result', stored_at, voided
from lrs.statements where class_id = any(%s::uuid[])
"""
_LESSONS = """
select l.lesson_id::text, l.unit_id::text, l.course_id::text, l.owner_id::text, l.version,
       l.published_version, l.created_at
from learning.lessons l
where l.lesson_id::text in (
    select s.object_id from lrs.statements s
    where s.class_id = any(%(c)s::uuid[]) and s.object_type = 'lesson'
    union select a.lesson_id::text from assignments.assignments a
    where a.class_id = any(%(c)s::uuid[]) and a.lesson_id is not null
    union select cl.lesson_id::text from learning.lessons cl
    join learning.course_classes cc using (course_id) where cc.class_id = any(%(c)s::uuid[])
)
"""


def record_coursework_events(conn: psycopg.Connection[Any], class_ids: list[str]) -> None:
    """Append (in `conn`'s transaction) the events of the classes' assignments (created, with
    the listed students), of their lessons (created, then published when a version is pinned)
    and of their xAPI statements (recorded), as the services write them."""
    from apis.lrs.store import duration_seconds
    from core.events import (
        AssignmentCreatedV1,
        Event,
        LearningRecordedV1,
        LessonCreatedV1,
        LessonPublishedV1,
    )
    from core.outbox import append_sync

    events: list[tuple[Event, Any]] = []
    for r in conn.execute(_ASSIGNMENTS, (class_ids,)).fetchall():
        (
            assignment,
            owner,
            class_id,
            kind,
            exam,
            lesson,
            opens,
            due,
            policy,
            points,
            listed,
            at,
        ) = r
        events.append(
            (
                AssignmentCreatedV1(
                    assignment_id=assignment,
                    owner_id=owner,
                    class_id=class_id,
                    kind=kind,
                    exam_id=exam,
                    lesson_id=lesson,
                    open_at=opens,
                    due_at=due,
                    late_policy=policy,
                    points=points,
                    targeted_students=len(listed) if listed is not None else None,
                    created_at=at,
                    student_ids=list(listed) if listed is not None else None,
                ),
                at,
            )
        )
    for lesson, unit, course, owner, version, published, at in conn.execute(
        _LESSONS, {"c": class_ids}
    ).fetchall():
        common = {
            "lesson_id": lesson,
            "unit_id": unit,
            "course_id": course,
            "owner_id": owner,
            "version": version,
            "attachment_count": 0,
            "changed_at": at,
        }
        events.append((LessonCreatedV1(**common, published_version=None), at))
        if published is not None:
            events.append((LessonPublishedV1(**common, published_version=published), at))
    voids: list[tuple[Event, Any]] = []
    for r in conn.execute(_STATEMENTS, (class_ids,)).fetchall():
        (
            record,
            user,
            ifi,
            verb,
            verb_id,
            otype,
            oid,
            activity,
            reg,
            class_id,
            result,
            at,
            voided,
        ) = r
        result = result or {}
        event = LearningRecordedV1(
            record_id=record,
            student_id=user,
            actor_id=user or ifi,
            verb=verb,
            verb_id=verb_id,
            object_type=otype,
            object_id=oid,
            activity_id=activity,
            registration=reg,
            class_id=class_id,
            success=result.get("success"),
            duration_seconds=duration_seconds(result.get("duration")),
            completion=result.get("completion"),
            recorded_at=at,
        )
        events.append((event, at))
        if voided:  # the voiding statement, as the LRS records it
            voids.append(
                (
                    LearningRecordedV1(
                        record_id=str(uuid.uuid4()),
                        student_id=user,
                        actor_id=user or ifi,
                        verb="voided",
                        object_type="StatementRef",
                        object_id=record,
                        class_id=class_id,
                        voids_record_id=record,
                        recorded_at=at,
                    ),
                    at,
                )
            )
    for event, at in [*events, *voids]:
        append_sync(conn, event, at)


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


def fill_lake_silver_parameters(
    conn: psycopg.Connection[Any], settings: Settings, item_ids: list[str]
) -> None:
    """Write the items' parameter events straight into lake_silver.item_events, one row per
    event as the copy would hold it (event_seq in the order the events happened)."""
    _write_silver(conn, settings, _parameter_events(conn, item_ids))
