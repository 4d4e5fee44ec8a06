"""The demo's simulated history writes consistent OLTP rows and outbox events."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import psycopg

from cli.simulate import NO_LOGIN, add_history
from core.auth import verify_password
from core.events import EVENT_TYPES, decode_payload
from core.ids import new_id
from core.settings import Settings


def _demo_class(settings: Settings, n_items: int) -> tuple[str, list[str]]:
    teacher, class_id, exam_id = str(new_id()), str(new_id()), str(new_id())
    items = [str(new_id()) for _ in range(n_items)]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "insert into users.accounts (user_id, email, display_name, role, password_hash)"
            " values (%s, %s, 'T', 'teacher', 'x')",
            (teacher, f"teacher{teacher[-8:]}@demo.dreamseed.school"),
        )
        conn.execute(
            "insert into classes.classes (class_id, name, teacher_id, join_code)"
            " values (%s, 'C', %s, %s)",
            (class_id, teacher, class_id[-8:]),  # the random tail: UUIDv7 heads are timestamps
        )
        for item in items:
            conn.execute(
                "insert into content.items (item_id, owner_id, stem, options, answer_key)"
                ' values (%s, %s, \'Q\', \'["A","B","C","D"]\', 2)',
                (item, teacher),
            )
        conn.execute(
            "insert into exams.exams (exam_id, owner_id, class_id, title, item_ids)"
            " values (%s, %s, %s, 'E', %s::uuid[])",
            (exam_id, teacher, class_id, items),
        )
    return exam_id, items


def test_history_matches_between_tables_and_events(settings: Settings, tmp_path: Path) -> None:
    exam_id, items = _demo_class(settings, 5)
    _, second_items = _demo_class(settings, 3)  # two classes in one run
    (tmp_path / "demo").mkdir()
    truth = {
        i: {"a": 1.2, "b": 0.3 * n - 0.6, "key": 2} for n, i in enumerate(items + second_items)
    }
    (tmp_path / "demo" / "true_item_parameters.json").write_text(json.dumps(truth))
    local = replace(settings, state_dir=tmp_path)

    written = add_history(local, students_per_class=40, days=10, seed=7)

    with psycopg.connect(settings.database_url) as conn:
        attempts = conn.execute(
            "select attempt_id::text, raw_score, max_score, status from exams.attempts"
            " where exam_id = %s",
            (exam_id,),
        ).fetchall()
        responses = conn.execute(
            "select r.attempt_id::text, r.is_correct, r.choice from exams.responses r"
            " join exams.attempts a using (attempt_id) where a.exam_id = %s",
            (exam_id,),
        ).fetchall()
        events = conn.execute(
            "select event_type, payload::text from events.outbox where payload->>'exam_id' = %s",
            (exam_id,),
        ).fetchall()
        hashes = conn.execute(
            "select distinct password_hash from users.accounts where email like 'sim-%%'"
        ).fetchall()
    assert written == 40 * (5 + 3) and len(responses) == 40 * 5
    assert len(attempts) == 40 and {a[3] for a in attempts} == {"completed"}
    correct_by_attempt: dict[str, int] = {}
    for attempt_id, ok, choice in responses:
        correct_by_attempt[attempt_id] = correct_by_attempt.get(attempt_id, 0) + int(ok)
        assert ok == (choice == 2)
    assert all(raw == correct_by_attempt[a] and top == 5 for a, raw, top, _ in attempts)
    decoded = [decode_payload(t, p) for t, p in events if t in EVENT_TYPES]
    kinds = [type(e).__name__ for e in decoded]
    assert kinds.count("ResponseRecordedV1") == 200 and kinds.count("AttemptCompletedV1") == 40
    assert hashes == [(NO_LOGIN,)] and not verify_password(NO_LOGIN, "anything")
