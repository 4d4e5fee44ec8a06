"""`dreamseed simulate-history`: months of exam history for the demo school, written in bulk.

The demo seeds a school through the HTTP API, but a dozen students per class is far too few to
calibrate an item bank. This command adds simulated students to the demo classes and gives each a
completed attempt of the class's exam, answering by the same 2PL model (and the same true item
parameters) the demo used. It writes what the exam service writes — accounts, memberships,
attempts, responses and their outbox events, one transaction per class — with COPY, because a
few hundred thousand HTTP requests would take minutes. Simulated accounts cannot sign in.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import numpy as np
import psycopg
from rich.console import Console
from rich.progress import Progress

from cli.context import settings_of
from core.events import (
    AttemptCompletedV1,
    AttemptStartedV1,
    ClassJoinedV1,
    Event,
    ResponseRecordedV1,
    UserRegisteredV1,
    encode_payload,
)
from core.ids import new_id
from core.settings import Settings

console = Console()
# A hash no password verifies against: simulated students exist only as history.
NO_LOGIN = "!simulated-no-login"


def _event_row(event: Event, at: datetime) -> tuple[str, str, str, datetime, str]:
    return (str(new_id()), event.event_type, event.aggregate_id, at, encode_payload(event).decode())


def _demo_exams(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    rows = conn.execute(
        "select e.exam_id::text, e.class_id::text, e.item_ids::text[] from exams.exams e"
        " join classes.classes c using (class_id) join users.accounts t on t.user_id = c.teacher_id"
        " where t.email like 'teacher%%@demo.dreamseed.school' and e.kind = 'fixed'"
        " order by e.created_at"
    ).fetchall()
    return [{"exam_id": r[0], "class_id": r[1], "item_ids": list(r[2])} for r in rows]


def simulate_class(
    conn: psycopg.Connection[Any],
    exam: dict[str, Any],
    truth: dict[str, dict[str, float]],
    students: int,
    days: int,
    rng: np.random.Generator,
) -> int:
    """Write `students` completed attempts of one exam; returns the number of responses."""
    items = exam["item_ids"]
    a = np.array([truth[i]["a"] for i in items])
    b = np.array([truth[i]["b"] for i in items])
    keys = [int(truth[i]["key"]) for i in items]
    theta = rng.normal(0.0, 1.0, students)
    correct = rng.random((students, len(items))) < 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b)))
    now = datetime.now(UTC).replace(microsecond=0)
    tag = secrets.token_hex(4)  # unique per class and run: simulated e-mails must not collide
    accounts, members, attempts, responses, events = [], [], [], [], []
    for s in range(students):
        student, attempt = str(new_id()), str(new_id())
        joined = now - timedelta(days=days, minutes=int(rng.integers(0, 600)))
        started = now - timedelta(
            days=int(rng.integers(0, days)), minutes=int(rng.integers(30, 900))
        )
        accounts.append((student, f"sim-{tag}-{s}@sim.dreamseed.school", f"Simulated {s}", joined))
        members.append((exam["class_id"], student, joined))
        events.append(
            _event_row(
                UserRegisteredV1(user_id=student, role="student", registered_at=joined), joined
            )
        )
        events.append(
            _event_row(
                ClassJoinedV1(class_id=exam["class_id"], student_id=student, joined_at=joined),
                joined,
            )
        )
        events.append(
            _event_row(
                AttemptStartedV1(
                    attempt_id=attempt,
                    exam_id=exam["exam_id"],
                    student_id=student,
                    started_at=started,
                ),
                started,
            )
        )
        at = started
        for j, item_id in enumerate(items):
            at = at + timedelta(seconds=int(rng.integers(15, 120)))
            ok = bool(correct[s, j])
            choice = keys[j] if ok else (keys[j] + 1) % 4
            responses.append((attempt, item_id, choice, ok, at, j, int(ok)))
            events.append(
                _event_row(
                    ResponseRecordedV1(
                        attempt_id=attempt,
                        exam_id=exam["exam_id"],
                        student_id=student,
                        item_id=item_id,
                        choice=choice,
                        is_correct=ok,
                        answered_at=at,
                        position=j,
                        score=int(ok),
                        pilot=False,
                    ),
                    at,
                )
            )
        completed = at + timedelta(seconds=5)
        raw = int(correct[s].sum())
        attempts.append(
            (
                attempt,
                exam["exam_id"],
                student,
                started,
                completed,
                raw,
                len(items),
                len(items),
                len(items),
                raw,
            )
        )
        events.append(
            _event_row(
                AttemptCompletedV1(
                    attempt_id=attempt,
                    exam_id=exam["exam_id"],
                    student_id=student,
                    class_id=exam["class_id"],
                    raw_score=raw,
                    max_score=len(items),
                    started_at=started,
                    completed_at=completed,
                ),
                completed,
            )
        )
    with conn.transaction():
        cur = conn.cursor()
        with cur.copy(
            "copy users.accounts (user_id, email, display_name, created_at, role, password_hash) from stdin"
        ) as copy:
            for account in accounts:
                copy.write_row((*account, "student", NO_LOGIN))
        with cur.copy(
            "copy classes.memberships (class_id, student_id, joined_at) from stdin"
        ) as copy:
            for member in members:
                copy.write_row(member)
        with cur.copy(
            "copy exams.attempts (attempt_id, exam_id, student_id, started_at, completed_at,"
            " raw_score, max_score, position, n_scored, n_correct, status) from stdin"
        ) as copy:
            for attempt_row in attempts:
                copy.write_row((*attempt_row, "completed"))
        with cur.copy(
            "copy exams.responses (attempt_id, item_id, choice, is_correct, answered_at,"
            " position, score) from stdin"
        ) as copy:
            for response in responses:
                copy.write_row(response)
        with cur.copy(
            "copy events.outbox (event_id, event_type, aggregate_id, occurred_at, payload) from stdin"
        ) as copy:
            for event in events:
                copy.write_row(event)
    return len(responses)


@click.command("simulate-history")
@click.option(
    "--students-per-class", type=click.IntRange(1, 100_000), default=1500, show_default=True
)
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=60,
    show_default=True,
    help="spread over the last N days",
)
@click.option("--seed", type=int, default=20261126, show_default=True)
def simulate_history(students_per_class: int, days: int, seed: int) -> None:
    """Add simulated students and completed exams to the demo classes (run the demo seed first)."""
    add_history(settings_of(), students_per_class, days, seed)


def add_history(settings: Settings, students_per_class: int, days: int, seed: int) -> int:
    """Simulate history for every demo class; returns the number of responses written."""
    truth_file = settings.state_dir / "demo" / "true_item_parameters.json"
    if not truth_file.is_file():
        raise click.ClickException(
            f"{truth_file} is missing: seed the demo school first (`dreamseed demo`)"
        )
    truth = json.loads(truth_file.read_text())
    rng = np.random.default_rng(seed)
    total = 0
    with psycopg.connect(settings.database_url) as conn, Progress(console=console) as bar:
        exams = _demo_exams(conn)
        if not exams:
            raise click.ClickException(
                "no demo exams found: seed the demo school first (`dreamseed demo`)"
            )
        task = bar.add_task("simulating exam history", total=len(exams))
        for exam in exams:
            total += simulate_class(conn, exam, truth, students_per_class, days, rng)
            bar.advance(task)
    console.print(
        f"simulated {students_per_class} students in each of {len(exams)} classes"
        f" ({total} responses)"
    )
    return total
