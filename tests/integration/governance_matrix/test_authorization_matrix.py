"""The authorization matrix over the real app: every route × every role × owner / non-owner /
other class, against the scratch database (real PostgreSQL, Redis and the Rego policy).

The route list comes from the app's route table: a route without a matrix entry (or a public route
not on the public list) fails `test_every_route_has_a_matrix_entry`. Expectations are written out
per route, not derived from the policy, so a policy change that opens a route shows up here.

Outcomes: `A` allowed (never 401/403, never 5xx), `D` denied by policy (exactly 403), anonymous
callers always get 401. Beyond status codes, no response to a student who is not the owner may
contain the owning student's id, e-mail or attempt ids: a student reaches no other student's data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from apis.app import create_app
from core.settings import Settings
from tests.integration.apis.conftest import Account
from tests.integration.governance_matrix.accounts import login, make_role

pytestmark = pytest.mark.integration

# Callers: the owning student (S1, class A), a classmate (S2, class A), a student of another class
# (S3, class B), the class's teacher who owns the item bank and exams (TA), another teacher (TB).
SUBJECTS = ("s_owner", "s_peer", "s_other", "t_owner", "t_other", "analyst", "admin")
A, D = True, False


def row(*outcomes: bool) -> dict[str, bool]:
    assert len(outcomes) == len(SUBJECTS)
    return dict(zip(SUBJECTS, outcomes, strict=True))


#                          s_own s_peer s_oth t_own t_oth analyst admin
EVERY_SIGNED_IN = row(A, A, A, A, A, A, A)
STUDENTS = row(A, A, A, D, D, D, D)
TEACHERS_ADMIN = row(D, D, D, A, A, D, A)
BANK_OWNER = row(D, D, D, A, D, D, A)
CLASS_MEMBERS = row(A, A, D, A, D, D, A)
ATTEMPT_READERS = row(A, D, D, A, D, D, A)
ATTEMPT_OWNER = row(A, D, D, D, D, D, D)
EXAM_TEACHER = row(D, D, D, A, D, D, A)
CLASS_STUDENTS = row(A, A, D, D, D, D, D)
RESULT_LISTERS = row(A, A, A, A, A, D, A)
ADMINS = row(D, D, D, D, D, D, A)


@dataclass
class World:
    people: dict[str, Account]
    class_a: str
    class_c_code: str  # a spare class to join (joining must not change who is in class A or B)
    class_c: str
    item_a: str
    exam_a: str
    exam_a2: str
    attempt_done: str  # S1's completed attempt on exam A
    attempt_open: str  # S1's attempt in progress on exam A2
    course_a: str  # TA's course, assigned to class A, with one unit and a published lesson
    unit_a: str
    lesson_a: str
    media_a: str  # a finalised image attached to the published version of lesson A
    assignment_a: str  # TA's written task for class A
    spare: str  # an account nobody signs in with: the target of the administration routes
    conversation_a: str  # S1's tutor conversation in class A
    credential_a: str = ""  # TA's LRS credential for class A


Request = Callable[[World], tuple[str, Any]]  # -> (path, json body or None)


@dataclass(frozen=True)
class Case:
    expect: dict[str, bool]
    request: Request
    fresh_token: bool = False  # the route consumes the token (logout)
    headers: dict[str, str] | None = None  # beyond the token (xAPI: its version header)


NO_SUCH_REQUEST = "00000000-0000-4000-8000-000000000000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def media_body(lesson_id: str) -> dict[str, Any]:
    return {
        "holder_type": "lesson",
        "holder_id": lesson_id,
        "filename": "m.png",
        "content_type": "image/png",
        "size_bytes": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }


def task_body(class_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "class_id": class_id,
        "kind": "task",
        "title": "matrix task",
        "accepts_text": True,
        "open_at": (now - timedelta(hours=1)).isoformat(),
        "due_at": (now + timedelta(days=1)).isoformat(),
    }


def item_body(n: str) -> dict[str, Any]:
    return {"stem": f"{n} + 1 = ?", "options": ["1", "2", "3"], "answer_key": 1}


XAPI = {"X-Experience-API-Version": "1.0.3"}
ACCOUNTS = "http://dreamseed.invalid/accounts"
OWNER_ONLY = row(A, D, D, D, D, D, A)  # the student the xAPI request is about, and admins


def owner_agent(w: World) -> str:
    return json.dumps({"account": {"homePage": ACCOUNTS, "name": w.people["s_owner"].user_id}})


def owner_statement(w: World) -> dict[str, Any]:
    return {
        "id": "6f1d8d1e-5f43-4c4b-9a43-2d3b1c0e7a10",
        "actor": {"account": {"homePage": ACCOUNTS, "name": w.people["s_owner"].user_id}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "http://example.com/matrix"},
    }


def state_path(w: World) -> str:
    agent = quote(owner_agent(w))
    return f"/xapi/activities/state?activityId=http://example.com/a&agent={agent}&stateId=s"


def agent_profile_path(w: World) -> str:
    return f"/xapi/agents/profile?agent={quote(owner_agent(w))}&profileId=p"


ACTIVITY_PROFILE = "/xapi/activities/profile?activityId=http://example.com/a&profileId=p"


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", "/api/v1/auth/logout"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/auth/logout", None), fresh_token=True
    ),
    ("GET", "/api/v1/users/me"): Case(EVERY_SIGNED_IN, lambda w: ("/api/v1/users/me", None)),
    ("POST", "/api/v1/classes"): Case(
        TEACHERS_ADMIN, lambda w: ("/api/v1/classes", {"name": "matrix class"})
    ),
    ("GET", "/api/v1/classes"): Case(row(A, A, A, A, A, D, A), lambda w: ("/api/v1/classes", None)),
    ("POST", "/api/v1/classes/join"): Case(
        STUDENTS, lambda w: ("/api/v1/classes/join", {"join_code": w.class_c_code})
    ),
    ("GET", "/api/v1/classes/{class_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/classes/{w.class_a}", None)
    ),
    ("GET", "/api/v1/items"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items?owner_id={w.people['t_owner'].user_id}", None)
    ),
    ("POST", "/api/v1/items"): Case(TEACHERS_ADMIN, lambda w: ("/api/v1/items", item_body("m"))),
    ("GET", "/api/v1/items/export"): Case(
        BANK_OWNER,
        lambda w: (f"/api/v1/items/export?owner_id={w.people['t_owner'].user_id}", None),
    ),
    ("POST", "/api/v1/items/import"): Case(
        TEACHERS_ADMIN, lambda w: ("/api/v1/items/import", {"items": [item_body("i")]})
    ),
    ("GET", "/api/v1/items/{item_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items/{w.item_a}", None)
    ),
    ("PATCH", "/api/v1/items/{item_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items/{w.item_a}", {"skills": ["matrix"]})
    ),
    ("GET", "/api/v1/items/{item_id:uuid}/versions"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items/{w.item_a}/versions", None)
    ),
    ("GET", "/api/v1/items/{item_id:uuid}/parameters"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items/{w.item_a}/parameters", None)
    ),
    ("POST", "/api/v1/items/{item_id:uuid}/parameters"): Case(
        BANK_OWNER,
        lambda w: (
            f"/api/v1/items/{w.item_a}/parameters",
            {"model": "2pl", "a": 1.1, "b": 0.2, "promote": False},
        ),
    ),
    ("POST", "/api/v1/items/{item_id:uuid}/parameters/{version:int}/promote"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/items/{w.item_a}/parameters/1/promote", None)
    ),
    ("POST", "/api/v1/exams"): Case(
        TEACHERS_ADMIN,
        lambda w: ("/api/v1/exams", {"title": "matrix exam", "item_ids": [w.item_a]}),
    ),
    ("POST", "/api/v1/exams/assemble"): Case(
        TEACHERS_ADMIN,
        lambda w: ("/api/v1/exams/assemble", {"title": "matrix form", "length": 1, "theta": [0.0]}),
    ),
    ("GET", "/api/v1/exams/{exam_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/exams/{w.exam_a}", None)
    ),
    ("GET", "/api/v1/exams/{exam_id:uuid}/item-report"): Case(
        EXAM_TEACHER, lambda w: (f"/api/v1/exams/{w.exam_a}/item-report", None)
    ),
    ("POST", "/api/v1/exams/{exam_id:uuid}/attempts"): Case(
        CLASS_STUDENTS, lambda w: (f"/api/v1/exams/{w.exam_a}/attempts", None)
    ),
    ("GET", "/api/v1/attempts/{attempt_id:uuid}"): Case(
        ATTEMPT_READERS, lambda w: (f"/api/v1/attempts/{w.attempt_done}", None)
    ),
    ("GET", "/api/v1/attempts/{attempt_id:uuid}/result"): Case(
        ATTEMPT_READERS, lambda w: (f"/api/v1/attempts/{w.attempt_done}/result", None)
    ),
    ("GET", "/api/v1/attempts/{attempt_id:uuid}/replay"): Case(
        EXAM_TEACHER, lambda w: (f"/api/v1/attempts/{w.attempt_done}/replay", None)
    ),
    ("POST", "/api/v1/attempts/{attempt_id:uuid}/responses"): Case(
        ATTEMPT_OWNER,
        lambda w: (
            f"/api/v1/attempts/{w.attempt_open}/responses",
            {"item_id": w.item_a, "choice": 1},
        ),
    ),
    ("POST", "/api/v1/attempts/{attempt_id:uuid}/finish"): Case(
        ATTEMPT_OWNER, lambda w: (f"/api/v1/attempts/{w.attempt_open}/finish", None)
    ),
    ("GET", "/api/v1/results"): Case(RESULT_LISTERS, lambda w: ("/api/v1/results", None)),
    ("POST", "/api/v1/users"): Case(
        ADMINS,
        lambda w: (
            "/api/v1/users",
            {
                "email": f"made-{w.spare[:8]}@school.test",
                "password": "matrix password",
                "display_name": "Made",
                "role": "analyst",
            },
        ),
    ),
    ("GET", "/api/v1/users"): Case(ADMINS, lambda w: ("/api/v1/users?limit=5", None)),
    ("POST", "/api/v1/users/{user_id:uuid}/deactivate"): Case(
        ADMINS, lambda w: (f"/api/v1/users/{w.spare}/deactivate", None)
    ),
    ("PUT", "/api/v1/users/{user_id:uuid}/role"): Case(
        ADMINS, lambda w: (f"/api/v1/users/{w.spare}/role", {"role": "student"})
    ),
    ("GET", "/api/v1/governance/decisions"): Case(
        ADMINS, lambda w: ("/api/v1/governance/decisions?limit=5", None)
    ),
    ("POST", "/api/v1/courses"): Case(
        TEACHERS_ADMIN, lambda w: ("/api/v1/courses", {"title": "matrix course"})
    ),
    ("GET", "/api/v1/courses"): Case(row(A, A, A, A, A, D, A), lambda w: ("/api/v1/courses", None)),
    ("GET", "/api/v1/courses/{course_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/courses/{w.course_a}", None)
    ),
    ("PATCH", "/api/v1/courses/{course_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/courses/{w.course_a}", {"description": "matrix"})
    ),
    ("POST", "/api/v1/courses/{course_id:uuid}/classes"): Case(
        BANK_OWNER,
        lambda w: (f"/api/v1/courses/{w.course_a}/classes", {"class_id": w.class_a}),
    ),
    ("DELETE", "/api/v1/courses/{course_id:uuid}/classes/{class_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/courses/{w.course_a}/classes/{w.class_c}", None)
    ),
    ("POST", "/api/v1/courses/{course_id:uuid}/units"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/courses/{w.course_a}/units", {"title": "matrix unit"})
    ),
    ("POST", "/api/v1/units/{unit_id:uuid}/lessons"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/units/{w.unit_a}/lessons", {"title": "matrix lesson"})
    ),
    ("GET", "/api/v1/lessons/{lesson_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/lessons/{w.lesson_a}", None)
    ),
    ("PATCH", "/api/v1/lessons/{lesson_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/lessons/{w.lesson_a}", {"body": "# edited"})
    ),
    ("GET", "/api/v1/lessons/{lesson_id:uuid}/versions"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/lessons/{w.lesson_a}/versions", None)
    ),
    ("POST", "/api/v1/lessons/{lesson_id:uuid}/progress"): Case(
        CLASS_STUDENTS,
        lambda w: (f"/api/v1/lessons/{w.lesson_a}/progress", {"progress": 0.5, "seconds": 10}),
    ),
    ("POST", "/api/v1/lessons/{lesson_id:uuid}/publish"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/lessons/{w.lesson_a}/publish", {"version": 1})
    ),
    ("PATCH", "/api/v1/classes/{class_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/classes/{w.class_c}", {"name": "C renamed"})
    ),
    ("GET", "/api/v1/classes/{class_id:uuid}/members"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/classes/{w.class_a}/members", None)
    ),
    ("DELETE", "/api/v1/classes/{class_id:uuid}/members/{student_id:uuid}"): Case(
        BANK_OWNER,
        lambda w: (f"/api/v1/classes/{w.class_c}/members/{w.people['s_other'].user_id}", None),
    ),
    ("GET", "/api/v1/exams"): Case(row(A, A, A, A, A, D, A), lambda w: ("/api/v1/exams", None)),
    ("POST", "/api/v1/assignments"): Case(
        BANK_OWNER, lambda w: ("/api/v1/assignments", task_body(w.class_a))
    ),
    ("GET", "/api/v1/assignments"): Case(TEACHERS_ADMIN, lambda w: ("/api/v1/assignments", None)),
    ("GET", "/api/v1/assignments/todo"): Case(
        STUDENTS, lambda w: ("/api/v1/assignments/todo", None)
    ),
    ("GET", "/api/v1/assignments/{assignment_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/assignments/{w.assignment_a}", None)
    ),
    ("POST", "/api/v1/assignments/{assignment_id:uuid}/submissions"): Case(
        CLASS_STUDENTS,
        lambda w: (f"/api/v1/assignments/{w.assignment_a}/submissions", {"body": "mine"}),
    ),
    ("GET", "/api/v1/assignments/{assignment_id:uuid}/submissions"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/assignments/{w.assignment_a}/submissions", None)
    ),
    ("POST", "/api/v1/assignments/{assignment_id:uuid}/students/{student_id:uuid}/grade"): Case(
        EXAM_TEACHER,
        lambda w: (
            f"/api/v1/assignments/{w.assignment_a}/students/{w.people['s_owner'].user_id}/grade",
            {"points": 1},
        ),
    ),
    ("POST", "/api/v1/assignments/{assignment_id:uuid}/students/{student_id:uuid}/return"): Case(
        EXAM_TEACHER,
        lambda w: (
            f"/api/v1/assignments/{w.assignment_a}/students/{w.people['s_owner'].user_id}/return",
            None,
        ),
    ),
    ("POST", "/api/v1/media/uploads"): Case(
        BANK_OWNER, lambda w: ("/api/v1/media/uploads", media_body(w.lesson_a))
    ),
    ("POST", "/api/v1/media/{media_id:uuid}/finalise"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/media/{w.media_a}/finalise", None)
    ),
    ("GET", "/api/v1/media/{media_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/media/{w.media_a}", None)
    ),
    ("POST", "/api/v1/tutor/conversations"): Case(
        CLASS_STUDENTS, lambda w: ("/api/v1/tutor/conversations", {"class_id": w.class_a})
    ),
    # Students list their own (none of S1's for the others); teachers only the classes they teach.
    ("GET", "/api/v1/tutor/conversations"): Case(
        row(A, A, A, A, D, D, A),
        lambda w: (f"/api/v1/tutor/conversations?class_id={w.class_a}", None),
    ),
    ("GET", "/api/v1/tutor/conversations/{conversation_id:uuid}"): Case(
        ATTEMPT_READERS, lambda w: (f"/api/v1/tutor/conversations/{w.conversation_a}", None)
    ),
    ("POST", "/api/v1/tutor/conversations/{conversation_id:uuid}/messages"): Case(
        ATTEMPT_OWNER,
        lambda w: (f"/api/v1/tutor/conversations/{w.conversation_a}/messages", {"text": "why?"}),
    ),
    ("GET", "/api/v1/tutor/classes/{class_id:uuid}"): Case(
        CLASS_MEMBERS, lambda w: (f"/api/v1/tutor/classes/{w.class_a}", None)
    ),
    ("PUT", "/api/v1/tutor/classes/{class_id:uuid}"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/tutor/classes/{w.class_a}", {"mode": "off_during_exams"})
    ),
    ("GET", "/xapi/statements"): Case(
        row(A, A, A, A, A, D, A), lambda w: ("/xapi/statements", None)
    ),
    ("PUT", "/xapi/statements"): Case(
        OWNER_ONLY,
        lambda w: (f"/xapi/statements?statementId={owner_statement(w)['id']}", owner_statement(w)),
    ),
    ("POST", "/xapi/statements"): Case(
        OWNER_ONLY,
        lambda w: ("/xapi/statements", {k: v for k, v in owner_statement(w).items() if k != "id"}),
    ),
    **{
        (method, "/xapi/activities/state"): Case(OWNER_ONLY, lambda w: (state_path(w), {"a": 1}))
        for method in ("GET", "PUT", "POST", "DELETE")
    },
    **{
        (method, "/xapi/agents/profile"): Case(
            OWNER_ONLY, lambda w: (agent_profile_path(w), {"a": 1})
        )
        for method in ("GET", "POST", "DELETE")
    },
    ("PUT", "/xapi/agents/profile"): Case(
        OWNER_ONLY, lambda w: (agent_profile_path(w), {"a": 1}), headers={"If-Match": "*"}
    ),
    **{
        (method, "/xapi/activities/profile"): Case(ADMINS, lambda w: (ACTIVITY_PROFILE, {"a": 1}))
        for method in ("GET", "POST", "DELETE")
    },
    ("PUT", "/xapi/activities/profile"): Case(
        ADMINS, lambda w: (ACTIVITY_PROFILE, {"a": 1}), headers={"If-Match": "*"}
    ),
    ("GET", "/xapi/activities"): Case(
        row(A, A, A, A, A, D, A),
        lambda w: ("/xapi/activities?activityId=http://example.com/a", None),
    ),
    ("GET", "/xapi/agents"): Case(
        row(A, A, A, A, A, D, A), lambda w: (f"/xapi/agents?agent={quote(owner_agent(w))}", None)
    ),
    ("POST", "/api/v1/lrs/credentials"): Case(
        EXAM_TEACHER,
        lambda w: (
            "/api/v1/lrs/credentials",
            {"name": "m", "scopes": ["all"], "class_id": w.class_a},
        ),
    ),
    ("GET", "/api/v1/lrs/credentials"): Case(
        TEACHERS_ADMIN, lambda w: ("/api/v1/lrs/credentials", None)
    ),
    ("POST", "/api/v1/lrs/credentials/{credential_id:str}/revoke"): Case(
        EXAM_TEACHER, lambda w: (f"/api/v1/lrs/credentials/{w.credential_a}/revoke", None)
    ),
    ("GET", "/api/v1/notifications"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications", None)
    ),
    ("GET", "/api/v1/notifications/stream"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications/stream", None)
    ),
    ("POST", "/api/v1/notifications/{notification_id:uuid}/read"): Case(
        EVERY_SIGNED_IN, lambda w: (f"/api/v1/notifications/{w.media_a}/read", None)
    ),
    ("POST", "/api/v1/notifications/read-all"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications/read-all", None)
    ),
    ("GET", "/api/v1/notifications/preferences"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications/preferences", None)
    ),
    ("PUT", "/api/v1/notifications/preferences"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications/preferences", {"preferences": []})
    ),
    ("GET", "/api/v1/analytics/me/progress"): Case(
        row(A, A, A, A, A, D, A), lambda w: ("/api/v1/analytics/me/progress", None)
    ),
    ("GET", "/api/v1/analytics/classes/{class_id:uuid}/progress"): Case(
        EXAM_TEACHER, lambda w: (f"/api/v1/analytics/classes/{w.class_a}/progress", None)
    ),
    ("GET", "/api/v1/analytics/classes/{class_id:uuid}/presence"): Case(
        EXAM_TEACHER, lambda w: (f"/api/v1/analytics/classes/{w.class_a}/presence", None)
    ),
    ("GET", "/api/v1/notifications/preferences/quiet-hours"): Case(
        EVERY_SIGNED_IN, lambda w: ("/api/v1/notifications/preferences/quiet-hours", None)
    ),
    ("PUT", "/api/v1/notifications/preferences/quiet-hours"): Case(
        EVERY_SIGNED_IN,
        lambda w: ("/api/v1/notifications/preferences/quiet-hours", {"enabled": False}),
    ),
    # Privacy requests: administrators only. A request id nobody made answers 404 to them.
    ("POST", "/api/v1/privacy/exports"): Case(
        ADMINS, lambda w: ("/api/v1/privacy/exports", {"user_id": w.spare})
    ),
    ("POST", "/api/v1/privacy/erasures"): Case(
        ADMINS, lambda w: ("/api/v1/privacy/erasures", {"user_id": w.spare})
    ),
    ("GET", "/api/v1/privacy/requests"): Case(
        ADMINS, lambda w: ("/api/v1/privacy/requests?limit=5", None)
    ),
    ("GET", "/api/v1/privacy/requests/{request_id:uuid}"): Case(
        ADMINS, lambda w: (f"/api/v1/privacy/requests/{NO_SUCH_REQUEST}", None)
    ),
    ("GET", "/api/v1/privacy/exports/{request_id:uuid}/download"): Case(
        ADMINS, lambda w: (f"/api/v1/privacy/exports/{NO_SUCH_REQUEST}/download", None)
    ),
    # Sorted after every read of the lesson, so the reads above see it published.
    ("POST", "/api/v1/lessons/{lesson_id:uuid}/unpublish"): Case(
        BANK_OWNER, lambda w: (f"/api/v1/lessons/{w.lesson_a}/unpublish", None)
    ),
}

# Routes reachable without a token (opt public). Everything else must be in MATRIX.
PUBLIC: set[tuple[str, str]] = {
    ("GET", "/"),  # the API root: links to the docs and health routes
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/xapi/about"),  # the xAPI versions (public, as the specification says)
}
PUBLIC_PREFIXES = ("/schema",)  # the OpenAPI document, its UI and its static assets
AUTOMATIC_METHODS = {"OPTIONS", "HEAD"}  # Litestar's generated CORS/HEAD handlers


def route_table(app: Litestar) -> dict[tuple[str, str], dict[str, Any]]:
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"unexpected route kind {route!r}"
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method in AUTOMATIC_METHODS:
                    continue
                table[(method, route.path)] = dict(handler.opt)
    return table


def test_every_route_has_a_matrix_entry(settings: Settings) -> None:
    table = route_table(create_app(settings))
    missing, public_unlisted, wrongly_public = [], [], []
    for key, opt in sorted(table.items()):
        _method, path = key
        if path.startswith(PUBLIC_PREFIXES):
            if not opt.get("public"):
                wrongly_public.append(key)
            continue
        if opt.get("public"):
            if key not in PUBLIC:
                public_unlisted.append(key)
        elif key not in MATRIX:
            missing.append(key)
    assert not missing, f"routes without an authorization-matrix entry: {missing}"
    assert not public_unlisted, f"public routes not on the PUBLIC list: {public_unlisted}"
    assert not wrongly_public, f"non-public routes under {PUBLIC_PREFIXES}: {wrongly_public}"
    stale = sorted(set(MATRIX) - set(table)) + sorted(PUBLIC - set(table))
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"
    for key in MATRIX:  # every protected route names a policy action
        assert isinstance(table[key].get("action"), str), key


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    # Notification streams end at once here (a stream otherwise stays open for minutes).
    realtime = replace(settings.realtime, sse_max_seconds=0.05)
    app = create_app(
        replace(settings, rate_limit_per_user=100_000, rate_limit_per_ip=100_000, realtime=realtime)
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def _ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


async def _world(client: AsyncTestClient, settings: Settings) -> World:
    people = {
        "s_owner": await make_role(client, settings, "student"),
        "s_peer": await make_role(client, settings, "student"),
        "s_other": await make_role(client, settings, "student"),
        "t_owner": await make_role(client, settings, "teacher"),
        "t_other": await make_role(client, settings, "teacher"),
        "analyst": await make_role(client, settings, "analyst"),
        "admin": await make_role(client, settings, "admin"),
    }
    ta, tb = people["t_owner"].headers, people["t_other"].headers
    class_a = await _ok(await client.post("/api/v1/classes", json={"name": "A"}, headers=ta), 201)
    class_b = await _ok(await client.post("/api/v1/classes", json={"name": "B"}, headers=tb), 201)
    class_c = await _ok(await client.post("/api/v1/classes", json={"name": "C"}, headers=ta), 201)
    for who, klass in (("s_owner", class_a), ("s_peer", class_a), ("s_other", class_b)):
        await _ok(
            await client.post(
                "/api/v1/classes/join",
                json={"join_code": klass["join_code"]},
                headers=people[who].headers,
            )
        )
    items = [
        (await _ok(await client.post("/api/v1/items", json=item_body(str(n)), headers=ta), 201))[
            "item_id"
        ]
        for n in range(2)
    ]
    # Exams of the other teacher's class exist too (and must stay out of reach of class A).
    item_b = await _ok(await client.post("/api/v1/items", json=item_body("b"), headers=tb), 201)
    await _ok(
        await client.post(
            "/api/v1/exams",
            json={"title": "B", "item_ids": [item_b["item_id"]], "class_id": class_b["class_id"]},
            headers=tb,
        ),
        201,
    )
    exams = [
        (
            await _ok(
                await client.post(
                    "/api/v1/exams",
                    json={"title": f"A{n}", "item_ids": items, "class_id": class_a["class_id"]},
                    headers=ta,
                ),
                201,
            )
        )["exam_id"]
        for n in range(2)
    ]
    s1 = people["s_owner"].headers
    done = await _ok(await client.post(f"/api/v1/exams/{exams[0]}/attempts", headers=s1), 201)
    for item_id in items:
        await _ok(
            await client.post(
                f"/api/v1/attempts/{done['attempt_id']}/responses",
                json={"item_id": item_id, "choice": 1},
                headers=s1,
            ),
            201,
        )
    await _ok(await client.post(f"/api/v1/attempts/{done['attempt_id']}/finish", headers=s1))
    opened = await _ok(await client.post(f"/api/v1/exams/{exams[1]}/attempts", headers=s1), 201)
    await _ok(
        await client.post(
            f"/api/v1/items/{items[0]}/parameters", json={"model": "2pl", "b": 0.0}, headers=ta
        ),
        201,
    )
    course = await _ok(await client.post("/api/v1/courses", json={"title": "A"}, headers=ta), 201)
    course_path = f"/api/v1/courses/{course['course_id']}"
    await _ok(
        await client.post(
            f"{course_path}/classes", json={"class_id": class_a["class_id"]}, headers=ta
        )
    )
    unit = await _ok(
        await client.post(f"{course_path}/units", json={"title": "U"}, headers=ta), 201
    )
    lesson = await _ok(
        await client.post(
            f"/api/v1/units/{unit['unit_id']}/lessons",
            json={"title": "L", "body": "*read me*"},
            headers=ta,
        ),
        201,
    )
    ticket = await _ok(
        await client.post(
            "/api/v1/media/uploads", json=media_body(lesson["lesson_id"]), headers=ta
        ),
        201,
    )
    async with httpx.AsyncClient() as http:
        stored = await http.put(ticket["upload_url"], content=PNG, headers=ticket["headers"])
        assert stored.status_code == 200, stored.text
    await _ok(await client.post(f"/api/v1/media/{ticket['media_id']}/finalise", headers=ta))
    await _ok(
        await client.patch(
            f"/api/v1/lessons/{lesson['lesson_id']}",
            json={"attachments": [ticket["media_id"]]},
            headers=ta,
        )
    )
    await _ok(await client.post(f"/api/v1/lessons/{lesson['lesson_id']}/publish", headers=ta))
    task = await _ok(
        await client.post("/api/v1/assignments", json=task_body(class_a["class_id"]), headers=ta),
        201,
    )
    conversation = await _ok(
        await client.post(
            "/api/v1/tutor/conversations", json={"class_id": class_a["class_id"]}, headers=s1
        ),
        201,
    )
    credential = await _ok(
        await client.post(
            "/api/v1/lrs/credentials",
            json={"name": "matrix", "scopes": ["all"], "class_id": class_a["class_id"]},
            headers=ta,
        ),
        201,
    )
    return World(
        people,
        class_a["class_id"],
        class_c["join_code"],
        class_c["class_id"],
        items[0],
        exams[0],
        exams[1],
        done["attempt_id"],
        opened["attempt_id"],
        course["course_id"],
        unit["unit_id"],
        lesson["lesson_id"],
        ticket["media_id"],
        task["assignment_id"],
        (await make_role(client, settings, "student")).user_id,
        conversation["conversation_id"],
        credential["credential_id"],
    )


async def test_authorization_matrix(client: AsyncTestClient, settings: Settings) -> None:
    world = await _world(client, settings)
    owner = world.people["s_owner"]
    owner_secrets = {owner.user_id, owner.email, world.attempt_done, world.attempt_open}
    failures: list[str] = []
    checked = 0
    for (method, template), case in sorted(MATRIX.items()):
        path, body = case.request(world)
        extra = {**(XAPI if path.startswith("/xapi") else {}), **(case.headers or {})}
        anonymous = await client.request(method, path, json=body, headers=extra)
        if anonymous.status_code != 401:
            failures.append(f"{method} {template} anonymous: {anonymous.status_code}")
        for subject in SUBJECTS:
            account = world.people[subject]
            if case.fresh_token:
                account = await login(client, account)
            reply = await client.request(
                method, path, json=body, headers={**account.headers, **extra}
            )
            checked += 1
            status = reply.status_code
            where = f"{method} {template} as {subject}: {status} {reply.text[:160]}"
            if case.expect[subject]:
                if status in (401, 403) or status >= 500:
                    failures.append(f"expected allowed, got {where}")
            elif status != 403:
                failures.append(f"expected 403, got {where}")
            # An id the caller put in the request may be echoed in the error; anything else of
            # the owner's is a leak.
            echoed = f"{path} {body}"
            leaked = {s for s in owner_secrets if s in reply.text and s not in echoed}
            if subject in ("s_peer", "s_other") and leaked:
                failures.append(f"another student's data leaked ({leaked}): {where}")
    assert not failures, "\n".join(failures)
    assert checked == len(MATRIX) * len(SUBJECTS)


async def test_a_student_reaches_no_other_students_data(
    client: AsyncTestClient, settings: Settings
) -> None:
    """List routes filter by owner: classmates see their own results only, and a student's
    forged owner filter on an item bank is refused."""
    world = await _world(client, settings)
    for who in ("s_peer", "s_other"):
        headers = world.people[who].headers
        results = await _ok(await client.get("/api/v1/results", headers=headers))
        assert results == []
        classes = await _ok(await client.get("/api/v1/classes", headers=headers))
        assert all("join_code" not in c or c["join_code"] is None for c in classes)
        for path in (
            f"/api/v1/results?class_id={world.class_a}",
            f"/api/v1/results?exam_id={world.exam_a}",
        ):
            assert await _ok(await client.get(path, headers=headers)) == []
    mine = await _ok(await client.get("/api/v1/results", headers=world.people["s_owner"].headers))
    assert [r["attempt_id"] for r in mine] == [world.attempt_done]
    other_teacher = await _ok(
        await client.get("/api/v1/results", headers=world.people["t_other"].headers)
    )
    assert world.attempt_done not in str(other_teacher)
    # A student id someone guessed changes nothing: the routes take no subject from the caller.
    probe = await client.get(
        f"/api/v1/results?student_id={world.people['s_owner'].user_id}",
        headers=world.people["s_peer"].headers,
    )
    assert probe.status_code in (200, 400) and world.attempt_done not in probe.text
