"""A small class with hand-computable reports, written into the OLTP tables (and its answers also as
outbox events, shipped through the lake into lake_silver.responses, with the attempts' and
memberships' events: the marts read them from the lake): the seed
of the teacher/student marts test (tests/integration/orchestration/test_teacher_marts.py) and of
the report pages test (tests/integration/dashboards/test_report_pages.py).

E1 (fixed form, items i1 i2 i3; i3 is a pilot): a, b, c answer once (b lower, a middle, c upper
by θ); a then falls over two adaptive attempts (0.5, 0.2, -0.1); b answers again yesterday
(θ -1.4, low); d joined 30 days ago and never did anything. i1 has a manual version 1 and a
live, misfitting calibrated version 2; the adaptive exam's exposure target is 0.5.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from core.events import ResponseRecordedV1
from core.ids import new_id
from core.outbox import append_sync
from core.settings import Settings
from psychometrics import CATConfig
from tests.support.lake import RECORDED_COPIES, record_events, record_parameter_events, ship

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# E1 (fixed form, items i1 i2 i3; i3 is a pilot): student -> (theta, se, choices); choice 0 is
# the key of every item. Ranked by theta: b lower, a middle, c upper.
E1 = {"a": (0.5, 0.3, (0, 0, 0)), "b": (-1.0, 0.4, (1, 0, 1)), "c": (0.8, 0.35, (2, 1, 0))}


def seed_class(settings: Settings, tag: str = "") -> dict[str, str]:
    """Seed the class; display names are `<letter>-<tag>`, the class `Report class <tag>`."""
    keys = ("teacher", "class", "e1", "e2", "i1", "i2", "i3", "a", "b", "c", "d", "lesson")
    ids = {k: str(new_id()) for k in keys}
    now = datetime.now(UTC)
    with psycopg.connect(settings.database_url) as conn:

        def run(query: str, *params: Any) -> None:
            conn.execute(query, params)

        for user in ("teacher", "a", "b", "c", "d"):
            run(
                "insert into users.accounts (user_id, email, display_name, role, password_hash)"
                " values (%s, %s, %s, %s, 'x')",
                ids[user],
                f"{ids[user]}@example.org",
                f"{user}-{tag}" if tag else user,
                "teacher" if user == "teacher" else "student",
            )
        run(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, %s, %s, %s)",
            ids["class"],
            f"Report class {tag}".strip(),
            ids["teacher"],
            ids["class"][-8:],
        )
        for student in ("a", "b", "c"):
            run(
                "insert into classes.memberships (class_id, student_id, joined_at)"
                " values (%s, %s, %s)",
                ids["class"],
                ids[student],
                START - timedelta(days=7),
            )
        run(  # d joined 30 days ago and never did anything
            "insert into classes.memberships (class_id, student_id, joined_at)"
            " values (%s, %s, now() - interval '30 days')",
            ids["class"],
            ids["d"],
        )
        for item, skill, status in (
            ("i1", "algebra", "operational"),
            ("i2", "algebra", "operational"),
            ("i3", "geometry", "pilot"),
        ):
            run(
                "insert into content.items (item_id, owner_id, stem, options, answer_key, skills,"
                ' status) values (%s, %s, \'q\', \'["A", "B", "C"]\', 0, %s, %s)',
                ids[item],
                ids["teacher"],
                [skill],
                status,
            )
        # i1: a manual version 1, then a calibrated live version 2 that misfits (p = 0.004)
        for item, version, cal, a, b, prov, live in (
            ("i1", 1, "manual", 1.0, 0.0, {}, False),
            (
                "i1",
                2,
                "cal-2",
                1.25,
                0.4,
                {
                    "role": "operational",
                    "n_responses": 240,
                    "se": {"a": 0.1, "b": 0.05},
                    "fit": {"statistic": "S-X2", "value": 12.5, "df": 4, "p": 0.004},
                },
                True,
            ),
            (
                "i2",
                1,
                "cal-2",
                0.8,
                -0.5,
                {"se": {"a": 0.2, "b": 0.15}, "fit": {"value": 3.1, "df": 4, "p": 0.3}},
                True,
            ),
        ):
            run(
                "insert into content.item_parameters (param_id, item_id, version, calibration_id,"
                " model, a, b, c, d, provenance, is_live, promoted_at)"
                " values (%s, %s, %s, %s, '2pl', %s, %s, 0, %s, %s, %s, %s)",
                str(new_id()),
                ids[item],
                version,
                cal,
                a,
                [b],
                [-a * b],
                Jsonb(prov),
                live,
                START if live else None,
            )
        items = [ids["i1"], ids["i2"], ids["i3"]]
        run(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'Unit 1', %s::uuid[])",
            ids["e1"],
            ids["teacher"],
            ids["class"],
            items,
        )
        run(
            "insert into exams.exams (exam_id, owner_id, class_id, title, kind, item_ids, config)"
            " values (%s, %s, %s, 'Adaptive', 'adaptive', %s::uuid[], %s)",
            ids["e2"],
            ids["teacher"],
            ids["class"],
            items[:2],
            # As the API stores an adaptive exam: its settings and the CAT configuration (an
            # adaptive exam without one is not something the API can make; results need it).
            Jsonb(
                {
                    "exposure": {"method": "sympson-hetter", "max_rate": 0.5},
                    "cat": CATConfig(max_items=2).to_dict(),
                }
            ),
        )

        def attempt(
            exam: str,
            student: str,
            at: datetime,
            theta: float,
            se: float,
            answers: list[tuple[str, int]],
        ) -> str:
            attempt_id = str(new_id())
            raw = sum(1 for item, choice in answers if choice == 0 and item != "i3")
            run(
                "insert into exams.attempts (attempt_id, exam_id, student_id, status, started_at,"
                " completed_at, raw_score, max_score, theta, se)"
                " values (%s, %s, %s, 'completed', %s, %s, %s, %s, %s, %s)",
                attempt_id,
                ids[exam],
                ids[student],
                at,
                at + timedelta(minutes=20),
                raw,
                sum(1 for item, _ in answers if item != "i3"),
                theta,
                se,
            )
            for position, (item, choice) in enumerate(answers):
                run(
                    "insert into exams.responses (attempt_id, item_id, choice, is_correct,"
                    " answered_at, position, score, pilot) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                    attempt_id,
                    ids[item],
                    choice,
                    choice == 0,
                    at + timedelta(minutes=position + 1),
                    position,
                    int(choice == 0),
                    item == "i3",
                )
                append_sync(
                    conn,
                    ResponseRecordedV1(
                        attempt_id=attempt_id,
                        exam_id=ids[exam],
                        student_id=ids[student],
                        item_id=ids[item],
                        choice=choice,
                        is_correct=choice == 0,
                        answered_at=at + timedelta(minutes=position + 1),
                        position=position,
                        item_version=1,
                        score=int(choice == 0),
                        pilot=item == "i3",
                    ),
                    at + timedelta(minutes=position + 1),
                )
            return attempt_id

        for student, (theta, se, choices) in E1.items():
            ids[f"e1_{student}"] = attempt(
                "e1", student, START, theta, se, list(zip(("i1", "i2", "i3"), choices, strict=True))
            )
        # a falls over three estimated attempts (0.5, 0.2, -0.1); b answers again yesterday, low
        attempt("e2", "a", START + timedelta(days=1), 0.2, 0.3, [("i1", 0)])
        attempt("e2", "a", START + timedelta(days=2), -0.1, 0.25, [("i2", 1)])
        attempt("e2", "b", now - timedelta(days=1), -1.4, 0.4, [("i1", 1)])

        # a published lesson naming algebra; the tutor cited it while discussing a geometry item
        course, unit = str(new_id()), str(new_id())
        run(
            "insert into learning.courses (course_id, owner_id, title) values (%s, %s, 'C')",
            course,
            ids["teacher"],
        )
        run(
            "insert into learning.course_classes (course_id, class_id) values (%s, %s)",
            course,
            ids["class"],
        )
        run(
            "insert into learning.units (unit_id, course_id, title, position)"
            " values (%s, %s, 'U', 0)",
            unit,
            course,
        )
        run(
            "insert into learning.lessons (lesson_id, unit_id, course_id, owner_id, position,"
            " title, body, published_version) values (%s, %s, %s, %s, 0, 'Equations',"
            " 'Algebra: solve for x.', 1)",
            ids["lesson"],
            unit,
            course,
            ids["teacher"],
        )
        run(
            "insert into lake_silver.tutor_turns (event_id, occurred_at, conversation_id,"
            " turn_id, student_key, class_id, kind, lesson_ids, skills, completed_at)"
            " values (%s, %s, %s, %s, 'k', %s, 'model', %s, %s, %s)",
            str(new_id()),
            START,
            str(new_id()),
            str(new_id()),
            ids["class"],
            [ids["lesson"]],
            ["geometry"],
            START,
        )
        # the attempts', memberships' and work's events as the services write them
        record_events(conn, [ids["class"]])
        # the item parameters' added / promoted events, as the calibration writes them
        record_parameter_events(conn, [ids["i1"], ids["i2"], ids["i3"]])
    # the marts read responses, attempts, memberships, work and item parameters from the lake:
    # outbox -> bronze -> silver -> lake_silver.<table>
    ship(settings, copies=RECORDED_COPIES)  # dimensions (classes, exams, items) included
    return ids
