"""API decisions are memoised per (revision, role, action, minute) and, for a resource, its type
and the subject's relations to it (owner? member of its class?).

That is exact only while the answers depend on nothing else; the first two tests check the
invariant for every role, action and resource type, with access hours off (the default) and on, so
a policy change that makes answers depend on the user, her classes, the resource's id or the
second fails here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from governance import AUTHZ, DEFAULT_BUNDLE_DIR, ROLES, LocalEngine, Resource, Subject, authz_input
from tests.support.policy import Blocking

ACTIONS = sorted(
    {
        a
        for actions in json.loads((DEFAULT_BUNDLE_DIR / "data" / "roles.json").read_text()).values()
        for a in actions
    }
    | {"no.such.action"}
)


def _bundle_with_access_hours(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE_DIR / "policies", copy / "policies")
    shutil.copytree(DEFAULT_BUNDLE_DIR / "data", copy / "data")
    hours = {
        "enabled": True,
        "timezone": "Europe/Paris",
        "windows": {"student": {"weekdays": ["Thursday"], "start_hour": 8, "end_hour": 11}},
    }
    (copy / "data" / "access_hours.json").write_text(json.dumps(hours))
    return copy


@pytest.mark.parametrize("hours_on", [False, True])
def test_route_level_answers_depend_only_on_role_action_and_minute(
    tmp_path: Path, hours_on: bool
) -> None:
    engine = Blocking(LocalEngine(_bundle_with_access_hours(tmp_path) if hours_on else None))
    subjects = [("u1", ()), ("u2", ("c1", "c2")), (None, ())]
    # 2026-11-26 is a Thursday; 09:59/10:00 UTC straddle the window's end in Paris (UTC+1).
    minutes = ["2026-11-26T09:59", "2026-11-26T10:00", "2026-11-26T03:00"]
    for role in ROLES:
        for action in ACTIONS:
            for minute in minutes:
                answers = {
                    json.dumps(
                        engine.query(
                            AUTHZ,
                            authz_input(
                                Subject(user_id, role, class_ids), action, now=f"{minute}:{sec}Z"
                            ),
                        ),
                        sort_keys=True,
                    )
                    for user_id, class_ids in subjects
                    for sec in ("00", "31", "59")
                }
                assert len(answers) == 1, (role, action, minute, answers)


SCOPES = json.loads((DEFAULT_BUNDLE_DIR / "data" / "scopes.json").read_text())
RESOURCE_TYPES = sorted(
    {"attempt", "exam", "item", "item_bank", "item_report", "no_such_type"}
    | set(SCOPES["class_shared_types"])
    | set(SCOPES["aggregate_types"])
)


def _realisations(owns: bool, in_class: str) -> list[tuple[Subject, Resource]]:
    """Different users, resources and classes standing in the same relation: the subject owns
    the resource or not; the resource has no class, a class of hers, or another class."""
    out = []
    for n in range(3):
        user = f"user-{n}"
        classes = (f"class-{n}", f"class-{n}b")[: n % 3]
        class_id = {
            "none": None,
            "member": f"class-{n}",
            "other": f"elsewhere-{n}",
        }[in_class]
        if in_class == "member" and not classes:
            classes = (f"class-{n}",)
        owner = user if owns else (None if n == 0 else f"someone-{n}")
        out.append((Subject(user, "?", classes), Resource("?", f"res-{n}", owner, class_id)))
    return out


@pytest.mark.parametrize("hours_on", [False, True])
def test_resource_answers_depend_only_on_type_and_relations(tmp_path: Path, hours_on: bool) -> None:
    engine = Blocking(LocalEngine(_bundle_with_access_hours(tmp_path) if hours_on else None))
    now = "2026-11-26T09:30:07Z"  # inside the Thursday window when hours are on
    for role in ROLES:
        for action in ACTIONS:
            for rtype in RESOURCE_TYPES:
                for owns in (True, False):
                    for in_class in ("none", "member", "other"):
                        answers, keys = set(), set()
                        for subject, resource in _realisations(owns, in_class):
                            subject = Subject(subject.user_id, role, subject.class_ids)
                            resource = Resource(
                                rtype, resource.id, resource.owner_id, resource.class_id
                            )
                            payload = authz_input(subject, action, resource, now=now)
                            answers.add(json.dumps(engine.query(AUTHZ, payload), sort_keys=True))
                            keys.add(engine._route_memo_key(subject, action, resource, payload))
                        where = (role, action, rtype, owns, in_class)
                        assert len(answers) == 1, (where, answers)
                        assert len(keys) == 1, (where, keys)


def test_memoised_decisions_are_still_one_per_request() -> None:
    engine = Blocking(LocalEngine())
    student = Subject("u1", "student")
    now = "2026-11-26T10:00:05Z"
    first = engine.authorize(student, "users.me.read", now=now, request_id="r1")
    second = engine.authorize(Subject("u2", "student"), "users.me.read", now=now, request_id="r2")
    denied = engine.authorize(student, "content.item.create", now=now, request_id="r3")
    assert first.allowed and second.allowed and not denied.allowed
    assert denied.reason == "action_not_permitted"
    assert len({first.decision_id, second.decision_id, denied.decision_id}) == 3
    assert (second.subject_id, second.request_id) == ("u2", "r2")
    assert engine._route_answers is not None and len(engine._route_answers) == 2
    # Resource-level checks are memoised by relation, never by id: another student's attempt
    # is refused, her own allowed, and a second "not mine" reuses the first answer.
    other = engine.authorize(
        student, "exams.attempt.read", Resource("attempt", "a1", "someone-else"), now=now
    )
    own = engine.authorize(student, "exams.attempt.read", Resource("attempt", "a2", "u1"), now=now)
    third = engine.authorize(
        student, "exams.attempt.read", Resource("attempt", "a3", "another-one"), now=now
    )
    assert not other.allowed and own.allowed and not third.allowed
    assert other.reason == third.reason == "resource_out_of_scope"
    assert third.resource is not None and third.resource["id"] == "a3"
    assert len(engine._route_answers) == 4


async def test_awaited_decisions_use_the_memo() -> None:
    engine = LocalEngine()
    now = "2026-11-26T10:00:05Z"
    a = await engine.authorize(Subject("u1", "teacher"), "content.item.create", now=now)
    b = await engine.authorize(Subject("u9", "teacher"), "content.item.create", now=now)
    assert a.allowed and b.allowed and a.decision_id != b.decision_id
    assert engine._route_answers is not None and len(engine._route_answers) == 1
