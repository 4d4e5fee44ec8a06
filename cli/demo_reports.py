"""The demo's scored retakes, for the class and student reports.

The demo students take their unit test before any item has IRT parameters, so those attempts
have a raw score but no θ. Once the pipeline has calibrated and promoted the bank, the first
`RETAKERS` students of each class take the test `RETAKES` more times through the HTTP API, with
answers drawn from the 2PL at the true item parameters and an ability that rises, holds or falls
from one retake to the next. The exam service scores each of these attempts by IRT (θ and SE), so
after the marts are rebuilt the class report shows θ with intervals, trends and low / falling
flags, and the demo student's report has her θ over time. The retake form adds `PILOTS` new
pilot items of the teacher's, so the item bank page shows pilots collecting responses toward
calibration (they have no parameters yet, so they do not count toward θ). Then the same students
take an adaptive practice exam of the calibrated unit-test items (`ADAPTIVE`: CAT with
randomesque exposure control), so the item bank page shows exposure against its target.
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
#: The adaptive practice exam's rules (stops at 8 items, or once SE ≤ 0.45 after 4).
ADAPTIVE = {
    "selection": "mfi",
    "exposure": {"method": "randomesque", "randomesque_k": 3},
    "stopping": {"min_items": 4, "max_items": 8, "se_target": 0.45},
}


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
        live = {
            str(r[0])
            for r in conn.execute(
                "select item_id from content.item_parameters where is_live"
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
            calibrated = [i for i in found[1] if i in live]
            if calibrated:
                finished += _adaptive_practice(api, t, password, (found[0], calibrated), truth, rng)
    return finished


def _answer(p: dict[str, float], theta: float, rng: random.Random) -> int:
    correct = rng.random() < 1 / (1 + math.exp(-p["a"] * (theta - p["b"])))
    return int(p["key"]) if correct else (int(p["key"]) + 1) % 4


def _adaptive_practice(
    api: httpx.Client,
    t: int,
    password: str,
    unit_test: tuple[str, list[str]],
    truth: dict[str, dict[str, float]],
    rng: random.Random,
) -> int:
    """The teacher's adaptive practice exam of her calibrated unit-test items, taken once by
    each retaker at her latest ability; returns the number of attempts finished."""
    teacher = _token(api, f"teacher{t + 1}@demo.dreamseed.school", password)
    exam_id, item_ids = unit_test
    class_id = api.get(f"/api/v1/exams/{exam_id}", headers=teacher).json()["class_id"]
    exam = api.post(
        "/api/v1/exams/",
        json={
            "title": f"Adaptive practice {t + 1}",
            "kind": "adaptive",
            "item_ids": item_ids,
            "class_id": class_id,
            "adaptive": ADAPTIVE,
        },
        headers=teacher,
    )
    exam.raise_for_status()
    finished = 0
    for s, (start, change) in enumerate(PROFILES):
        student = _token(api, f"student{t + 1}-{s + 1}@demo.dreamseed.school", password)
        theta = start + change * RETAKES
        attempt = api.post(f"/api/v1/exams/{exam.json()['exam_id']}/attempts", headers=student)
        attempt.raise_for_status()
        item = attempt.json()["next_item"]
        while item is not None:
            reply = api.post(
                f"/api/v1/attempts/{attempt.json()['attempt_id']}/responses",
                json={
                    "item_id": item["item_id"],
                    "choice": _answer(truth[item["item_id"]], theta, rng),
                },
                headers=student,
            )
            reply.raise_for_status()
            item = reply.json()["next_item"]
        finished += 1
    return finished
