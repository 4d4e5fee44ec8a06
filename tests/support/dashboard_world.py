"""A small demo-like school for the dashboards' browser tests, with its marts really built.

Two teachers, each with a class of students who took the class's exam over the last days, a
lesson read and completed through the LRS, a calibration run with a promotion, an admin and an
analyst; then the dbt marts are built as Dagster assets in process, recorded in a real Dagster
instance under `<state_dir>/dagster` (what the platform-health page reads). Everyone signs in
with `PASSWORD`. Nothing is mocked: the pages read the marts dbt built from these rows.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from core.auth import hash_password
from core.ids import new_id
from core.settings import Settings
from tests.support.lake import fill_lake_silver

PASSWORD = "correct horse battery staple"
STUDENTS_PER_CLASS = 6
ITEMS = 4


@dataclass
class Person:
    user_id: str
    email: str
    role: str
    name: str


@dataclass
class World:
    settings: Settings  # the scratch database; state_dir holds the Dagster instance
    tag: str
    people: dict[str, Person] = field(default_factory=dict)  # teacher1, teacher2, admin, ...
    classes: dict[str, tuple[str, str]] = field(default_factory=dict)  # teacher key -> (id, name)
    student_ids: list[str] = field(default_factory=list)
    dagster_success: bool = False

    def login(self, role_key: str) -> Person:
        return self.people[role_key]


def _account(conn: psycopg.Connection[object], role: str, label: str, tag: str, pw: str) -> Person:
    person = Person(str(new_id()), f"{label}.{tag}@dash.example", role, f"{label.title()} {tag}")
    conn.execute(
        "insert into users.accounts (user_id, email, display_name, role, password_hash)"
        " values (%s, %s, %s, %s, %s)",
        (person.user_id, person.email, person.name, role, pw),
    )
    return person


def seed(settings: Settings) -> World:
    tag = secrets.token_hex(3)
    world = World(settings=settings, tag=tag)
    rng = random.Random(20261207)
    pw = hash_password(PASSWORD)
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(settings.database_url) as conn:
        for label, role in (("admin", "admin"), ("analyst", "analyst")):
            world.people[label] = _account(conn, role, label, tag, pw)
        for t in (1, 2):
            teacher = _account(conn, "teacher", f"teacher{t}", tag, pw)
            world.people[f"teacher{t}"] = teacher
            class_id, class_name = str(new_id()), f"Class {t} {tag}"
            world.classes[f"teacher{t}"] = (class_id, class_name)
            conn.execute(
                "insert into classes.classes (class_id, name, teacher_id, join_code)"
                " values (%s, %s, %s, %s)",
                (class_id, class_name, teacher.user_id, f"J{secrets.token_hex(4)}"),
            )
            items = [str(new_id()) for _ in range(ITEMS)]
            for k, item in enumerate(items):
                conn.execute(
                    "insert into content.items (item_id, owner_id, stem, options, answer_key,"
                    ' skills, status) values (%s, %s, %s, \'["A", "B", "C"]\', 0, %s,'
                    " 'operational')",
                    (item, teacher.user_id, f"Q{k + 1} {tag}", [("algebra", "geometry")[k % 2]]),
                )
            conn.execute(
                "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
                " model, a, b, c, d, is_live, promoted_at)"
                " values (%s, %s, 1, %s, '2pl', 1.1, '{0.2}', 0, '{-0.3}', true, now())",
                (str(new_id()), items[0], f"cal-{tag}-{t}"),
            )
            exam_id = str(new_id())
            conn.execute(
                "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
                " values (%s, %s, %s, %s, %s::uuid[])",
                (exam_id, teacher.user_id, class_id, f"Unit test {t}", items),
            )
            for s in range(STUDENTS_PER_CLASS):
                student = _account(conn, "student", f"student{t}-{s + 1}", tag, pw)
                world.student_ids.append(student.user_id)
                if s == 0:
                    world.people[f"student{t}"] = student
                conn.execute(
                    "insert into classes.memberships (class_id, student_id) values (%s, %s)",
                    (class_id, student.user_id),
                )
                start = now - timedelta(days=1 + (s % 4), hours=t)
                answers = [rng.random() < 0.6 for _ in items]
                attempt = str(new_id())
                conn.execute(
                    "insert into exams.attempts (attempt_id, exam_id, student_id, status,"
                    " started_at, completed_at, raw_score, max_score)"
                    " values (%s, %s, %s, 'completed', %s, %s, %s, %s)",
                    (attempt, exam_id, student.user_id, start, start + timedelta(minutes=20),
                     sum(answers), len(items)),
                )  # fmt: skip
                for k, (item, correct) in enumerate(zip(items, answers, strict=True)):
                    conn.execute(
                        "insert into exams.responses (attempt_id, item_id, choice, is_correct,"
                        " answered_at, position, score) values (%s, %s, %s, %s, %s, %s, %s)",
                        (attempt, item, 0 if correct else 1, correct,
                         start + timedelta(minutes=2 * (k + 1)), k, int(correct)),
                    )  # fmt: skip
            _lesson(conn, teacher.user_id, class_id, world.student_ids[-STUDENTS_PER_CLASS:], now)
        # The marts read responses from the lake's copy (lake_silver.responses, decision 0014):
        # filled as the lake would fill it, one row per response event (student_key unused).
        conn.execute(
            "insert into lake_silver.responses (event_id, event_type, event_version, occurred_at,"
            " attempt_id, exam_id, item_id, choice, is_correct, answered_at, position,"
            " item_version, score, pilot)"
            " select gen_random_uuid()::text, 'exams.response.recorded.v1', 1, r.answered_at,"
            " r.attempt_id::text, a.exam_id::text, r.item_id::text, r.choice, r.is_correct,"
            " r.answered_at, r.position, r.item_version, r.score, r.pilot"
            " from exams.responses r join exams.attempts a using (attempt_id)"
            " where a.exam_id in (select exam_id from exams.exams e join classes.classes c"
            " using (class_id) where c.name like %s)",
            (f"Class % {tag}",),
        )
        # ... and the attempts and memberships (students as pseudonymous keys) likewise
        fill_lake_silver(conn, settings, [c for c, _ in world.classes.values()])
    return world


def _lesson(
    conn: psycopg.Connection[object], owner: str, class_id: str, students: list[str], now: datetime
) -> None:
    course, unit, lesson = str(new_id()), str(new_id()), str(new_id())
    conn.execute(
        "insert into learning.courses (course_id, owner_id, title) values (%s, %s, 'Course')",
        (course, owner),
    )
    conn.execute(
        "insert into learning.units (unit_id, course_id, title, position) values (%s, %s, 'U', 0)",
        (unit, course),
    )
    conn.execute(
        "insert into learning.lessons (lesson_id, unit_id, course_id, owner_id, position,"
        " title, body, published_version) values (%s, %s, %s, %s, 0, 'Lesson', 'b', 1)",
        (lesson, unit, course, owner),
    )
    for k, student in enumerate(students[:3]):
        for verb in ("experienced", "completed") if k < 2 else ("experienced",):
            actor = f"account::http://dreamseed.invalid/accounts|{student}"
            conn.execute(
                "insert into lrs.statements (statement_id, statement, actor_ifi, agents, user_id,"
                " verb, verb_id, object_type, object_id, class_id, stored_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, 'lesson', %s, %s, %s)",
                (str(new_id()), Jsonb({"result": {"duration": "PT60S"}}), actor, [actor], student,
                 verb, f"http://adlnet.gov/expapi/verbs/{verb}", lesson, class_id,
                 now - timedelta(days=1)),
            )  # fmt: skip


def build_marts(world: World, state_dir: Path) -> World:
    """Build the dbt marts in process, recorded in a Dagster instance under state_dir/dagster."""
    import dagster as dg

    from orchestration.analytics.assets import build_dbt_assets
    from orchestration.analytics.resources import build_dbt_resource, dbt_project

    home = state_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    project = dbt_project()
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        result = dg.materialize(
            [build_dbt_assets(project)],
            resources={"dbt": build_dbt_resource(world.settings, project)},
            instance=instance,
        )
    world.settings = replace(world.settings, state_dir=state_dir)
    world.dagster_success = result.success
    return world
