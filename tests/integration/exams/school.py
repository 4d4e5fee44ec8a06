"""Build a school over HTTP (teacher, class, students, a calibrated bank, an adaptive exam) and
simulate examinees answering from a known θ. Works with any httpx.AsyncClient (ASGI or socket)."""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

SKILLS = ("algebra", "geometry", "numbers")


@dataclass
class User:
    user_id: str
    headers: dict[str, str]


@dataclass
class BankItem:
    item_id: str
    a: float
    b: float
    key: int
    pilot: bool = False


@dataclass
class School:
    teacher: User
    class_id: str
    students: list[User]
    bank: dict[str, BankItem] = field(default_factory=dict)


async def user(api: httpx.AsyncClient, role: str) -> User:
    email = f"{role}-{secrets.token_hex(5)}@exams.test"
    password = "pw-" + secrets.token_hex(8)
    reply = await api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "display_name": role, "role": role},
    )
    assert reply.status_code == 201, reply.text
    login = await api.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return User(
        reply.json()["user_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}
    )


def bank_rows(n_items: int, n_pilot: int = 0, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for j in range(n_items + n_pilot):
        pilot = j >= n_items
        row: dict[str, Any] = {
            "stem": f"Question {j}: what is {j} + {j}?",
            "options": [str(2 * j + k) for k in range(4)],
            "answer_key": j % 4,
            "skills": [SKILLS[j % len(SKILLS)]],
            "status": "pilot" if pilot else "operational",
        }
        if not pilot:
            row["parameters"] = {
                "model": "2pl",
                "a": round(rng.uniform(0.8, 2.2), 3),
                "b": round(rng.gauss(0.0, 1.0), 3),
                "calibration_id": "seed-2024",
                "provenance": {"source": "test fixture"},
            }
        rows.append(row)
    return rows


async def school(
    api: httpx.AsyncClient, n_students: int = 1, n_items: int = 60, n_pilot: int = 0
) -> School:
    teacher = await user(api, "teacher")
    klass = await api.post("/api/v1/classes/", json={"name": "9A"}, headers=teacher.headers)
    assert klass.status_code == 201, klass.text
    students = []
    for _ in range(n_students):
        s = await user(api, "student")
        joined = await api.post(
            "/api/v1/classes/join", json={"join_code": klass.json()["join_code"]}, headers=s.headers
        )
        assert joined.status_code == 200, joined.text
        students.append(s)
    rows = bank_rows(n_items, n_pilot)
    imported = await api.post("/api/v1/items/import", json={"items": rows}, headers=teacher.headers)
    assert imported.status_code == 201, imported.text
    out = School(teacher, klass.json()["class_id"], students)
    for item_id, row in zip(imported.json()["item_ids"], rows, strict=True):
        p = row.get("parameters") or {"a": 1.0, "b": 0.0}
        out.bank[item_id] = BankItem(
            item_id, p["a"], p["b"], row["answer_key"], "parameters" not in row
        )
    return out


async def adaptive_exam(api: httpx.AsyncClient, sch: School, **adaptive: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "selection": "mfi",
        "exposure": {"method": "randomesque", "randomesque_k": 3},
        "stopping": {"min_items": 5, "max_items": 15, "se_target": 0.35},
    }
    settings.update(adaptive)
    reply = await api.post(
        "/api/v1/exams/",
        json={
            "title": "Adaptive maths",
            "kind": "adaptive",
            "item_ids": list(sch.bank),
            "class_id": sch.class_id,
            "adaptive": settings,
        },
        headers=sch.teacher.headers,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def choose(item: BankItem, theta: float, rng: random.Random) -> int:
    """A simulated examinee's answer under the 2PL."""
    p = 1.0 / (1.0 + math.exp(-item.a * (theta - item.b)))
    if rng.random() < p:
        return item.key
    return (item.key + 1 + rng.randrange(3)) % 4
