"""Table-driven authorization matrix: every action x role x resource relation, in-process engine.

The oracle below is the issue's specification written independently of the Rego:
route level = the role lists the action; resource level = additionally
student: own resources, or class/exam/assignment/course/lesson of a class she is in;
teacher: own resources or resources of a class she teaches; analyst: own resources or
aggregate reports; admin, service and operator (the `dreamseed users` command): all;
anonymous: nothing resource-level.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pytest

from governance import DEFAULT_BUNDLE_DIR, LocalEngine, Resource, Subject
from tests.support.policy import Blocking

ROLES_JSON: dict[str, list[str]] = json.loads(
    (DEFAULT_BUNDLE_DIR / "data" / "roles.json").read_text()
)
ACTIONS = sorted({action for actions in ROLES_JSON.values() for action in actions})
ROLES = ["anonymous", "student", "teacher", "analyst", "service", "admin", "operator"]
ME = {"anonymous": None, "student": "s1", "teacher": "t1", "analyst": "a1", "service": "svc"}
CLASS_SHARED = {"class", "exam", "assignment", "course", "lesson"}
NOW = "2024-04-29T10:00:00Z"


@cache
def engine() -> Blocking:
    return Blocking(LocalEngine())


@dataclass(frozen=True)
class Case:
    role: str
    action: str
    relation: str  # route | own | same_class | other_class | unowned

    @property
    def id(self) -> str:
        return f"{self.role}-{self.action}-{self.relation}"


def subject(role: str) -> Subject:
    return Subject(user_id=ME.get(role, "ad1"), role=role, class_ids=("c1",))


def resource_for(case: Case) -> Resource | None:
    entity = case.action.split(".")[1]
    me = ME.get(case.role, "ad1")
    if case.relation == "route":
        return None
    if case.relation == "own":
        return Resource(entity, "r1", owner_id=me, class_id="c9")
    if case.relation == "same_class":
        return Resource(entity, "r1", owner_id="someone-else", class_id="c1")
    if case.relation == "other_class":
        return Resource(entity, "r1", owner_id="someone-else", class_id="c9")
    return Resource(entity, "r1", owner_id=None, class_id=None)


def expected(case: Case) -> bool:
    if case.action not in ROLES_JSON.get(case.role, []):
        return False
    if case.relation == "route":
        return True
    entity = case.action.split(".")[1]
    own = case.relation == "own" and case.role != "anonymous"
    in_class = case.relation == "same_class"
    match case.role:
        case "admin" | "service" | "operator":
            return True
        case "student":
            return own or (in_class and entity in CLASS_SHARED)
        case "teacher":
            return own or in_class
        case "analyst":
            return own or entity == "report"
        case _:
            return False


def cases() -> Iterator[Case]:
    for role in ROLES:
        for action in ACTIONS:
            for relation in ("route", "own", "same_class", "other_class", "unowned"):
                yield Case(role, action, relation)


ALL = list(cases())


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_matrix(case: Case) -> None:
    decision = engine().authorize(subject(case.role), case.action, resource_for(case), now=NOW)
    assert decision.allowed is expected(case), (case, decision.reason)
    if not decision.allowed:
        assert decision.reason in {"action_not_permitted", "resource_out_of_scope"}


def test_matrix_is_big_enough_and_not_trivial() -> None:
    outcomes = [expected(c) for c in ALL]
    assert len(ALL) >= 6 * 30 * 5
    assert any(outcomes) and not all(outcomes)


@pytest.mark.parametrize(
    ("action", "entity"),
    [
        ("exams.attempt.read", "attempt"),
        ("exams.result.read", "result"),
        ("tutor.conversation.read", "conversation"),
        ("notifications.notification.read", "notification"),
    ],
)
def test_student_reads_only_her_own(action: str, entity: str) -> None:
    me = Subject("s1", "student", ("c1",))
    assert engine().authorize(me, action, Resource(entity, "x", "s1", "c1"), now=NOW).allowed
    other = engine().authorize(me, action, Resource(entity, "x", "s2", "c1"), now=NOW)
    assert not other.allowed and other.reason == "resource_out_of_scope"


def test_teacher_sees_only_her_classes_students_and_results() -> None:
    t = Subject("t1", "teacher", ("c1", "c2"))
    for action, entity in (("users.user.read", "user"), ("exams.result.read", "result")):
        assert engine().authorize(t, action, Resource(entity, "s", "s5", "c2"), now=NOW).allowed
        assert not engine().authorize(t, action, Resource(entity, "s", "s5", "c3"), now=NOW).allowed


def test_roles_json_covers_the_issue_actions() -> None:
    issue_actions = {
        "content.item.create",
        "exams.exam.create",
        "exams.attempt.start",
        "exams.attempt.read",
        "exams.attempt.answer",
        "classes.class.create",
        "classes.class.join",
        "classes.class.read",
        "users.me.read",
        "analytics.report.read",
        "governance.decisions.read",
        "tutor.conversation.read",
        "tutor.message.send",
        "notifications.notification.read",
    }
    assert issue_actions <= set(ACTIONS)
    assert set(ROLES_JSON) == set(ROLES)
    assert "governance.decisions.read" in ROLES_JSON["admin"]
    assert "governance.decisions.read" not in ROLES_JSON["analyst"]
