"""The demo's scored retakes, for the class and student reports.

The demo students take their unit test before any item has IRT parameters, so those attempts
have a raw score but no θ. Once the pipeline has calibrated and promoted the bank, the first
`RETAKERS` students of each class take the test `RETAKES` more times through the HTTP API, with
answers drawn from the 2PL at the true item parameters and an ability that rises, holds or falls
from one retake to the next. The exam service scores each of these attempts by IRT (θ and SE), so
after the marts are rebuilt the class report shows θ with intervals, trends and low / falling
flags, and the demo student's report has her θ over time. The retake form adds `PILOTS` new
pilot items of the teacher's, so the item bank page shows pilots collecting responses toward
calibration (they have no parameters yet, so they do not count toward θ).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import httpx
import psycopg

# (starting θ, change per retake) of the first students of each class: one low, two falling.
PROFILES = ((0.4, -0.5), (-1.4, 0.1), (0.6, 0.2), (0.0, -0.4), (1.0, 0.0), (-0.3, 0.3))
RETAKERS = len(PROFILES)
RETAKES = 3
PILOTS = 2


def _token(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _retake_form(
    api: httpx.Client,
    t: int,
    password: str,
    unit_test: tuple[str, list[str]],
    truth: dict[str, dict[str, float]],
    rng: random.Random,
) -> tuple[str, list[str]]:
    """The teacher's retake form: the unit test's items and PILOTS new pilot items."""
    teacher = _token(api, f"teacher{t + 1}@demo.dreamseed.school", password)
    exam_id, item_ids = unit_test
    reply = api.get(f"/api/v1/exams/{exam_id}", headers=teacher)
    reply.raise_for_status()
    class_id = reply.json()["class_id"]
    pilots = []
    for k in range(PILOTS):
        item = api.post(
            "/api/v1/items/",
            json={
                "stem": f"Pilot question {k + 1} of teacher {t + 1}",
                "options": ["A", "B", "C", "D"],
                "answer_key": rng.randrange(4),
                "skills": [rng.choice(["algebra", "geometry", "number"])],
                "status": "pilot",
            },
            headers=teacher,
        )
        item.raise_for_status()
        body = item.json()
        a, b = round(rng.uniform(0.7, 2.0), 3), round(rng.gauss(0, 1), 3)
        truth[body["item_id"]] = {"a": a, "b": b, "key": body["answer_key"]}
        pilots.append(body["item_id"])
    exam = api.post(
        "/api/v1/exams/",
        json={"title": f"Retake {t + 1}", "item_ids": item_ids + pilots, "class_id": class_id},
        headers=teacher,
    )
    exam.raise_for_status()
    return exam.json()["exam_id"], item_ids + pilots


def scored_retakes(
    database_url: str, api_url: str, state: Path, password: str, teachers: int, seed: int
) -> int:
    """Take the retakes; returns the number of attempts finished."""
    truth: dict[str, dict[str, float]] = json.loads(
        (state / "true_item_parameters.json").read_text()
    )
    rng = random.Random(seed + 1)
    with psycopg.connect(database_url) as conn:
        exams = {
            str(title): (str(exam_id), [str(i) for i in item_ids])
            for exam_id, title, item_ids in conn.execute(
                "select exam_id, title, item_ids::text[] from exams.exams"
                " where title like 'Unit test %%'"
            ).fetchall()
        }
    finished = 0
    with httpx.Client(base_url=api_url, timeout=30) as api:
        for t in range(teachers):
            found = exams.get(f"Unit test {t + 1}")
            if found is None:
                continue
            exam_id, item_ids = _retake_form(api, t, password, found, truth, rng)
            for s, (start, change) in enumerate(PROFILES):
                student = _token(api, f"student{t + 1}-{s + 1}@demo.dreamseed.school", password)
                for k in range(RETAKES):
                    theta = start + change * k
                    attempt = api.post(f"/api/v1/exams/{exam_id}/attempts", headers=student)
                    attempt.raise_for_status()
                    attempt_id = attempt.json()["attempt_id"]
                    for item_id in item_ids:
                        p = truth[item_id]
                        correct = rng.random() < 1 / (1 + math.exp(-p["a"] * (theta - p["b"])))
                        choice = int(p["key"]) if correct else (int(p["key"]) + 1) % 4
                        api.post(
                            f"/api/v1/attempts/{attempt_id}/responses",
                            json={"item_id": item_id, "choice": choice},
                            headers=student,
                        ).raise_for_status()
                    api.post(
                        f"/api/v1/attempts/{attempt_id}/finish", headers=student
                    ).raise_for_status()
                    finished += 1
    return finished
