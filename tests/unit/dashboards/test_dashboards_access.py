"""Unit tests of the dashboards' access helpers: no PostgreSQL, no Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.datastructures import Headers

from core.auth import Claims
from dashboards.access import (
    PageAccess,
    PolicyUnavailable,
    check_page,
    check_pages,
    deny_reason_message,
    load_subject,
    row_filter_sql,
)
from dashboards.auth import token_from_headers
from dashboards.resources import Resources
from governance import (
    DASHBOARD_ACCESS,
    DASHBOARD_ROWS,
    LocalEngine,
    PolicyEngine,
    RowCondition,
    RowFilter,
    Subject,
)
from lake.pseudonym import pseudonymize

TEACHER = Subject(user_id="t-1", role="teacher", class_ids=("c-1", "c-2"))
STUDENT = Subject(user_id="s-1", role="student", class_ids=("c-1",))
ADMIN = Subject(user_id="a-1", role="admin")


class FakeEngine(PolicyEngine):
    """Answers from a table keyed by (rule, role); counts queries."""

    def __init__(self, answers: Mapping[tuple[str, str], Any]) -> None:
        super().__init__()
        self.answers = answers
        self.queries: list[str] = []

    @property
    def revision(self) -> str:
        return "fake"

    async def query(self, rule: str, input: Mapping[str, Any]) -> Any:
        self.queries.append(rule)
        answer = self.answers[(rule, input["subject"]["role"])]
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture(scope="module")
def bundle() -> LocalEngine:
    """The real Rego bundle from governance/, evaluated in-process."""
    return LocalEngine()


def decide(engine: PolicyEngine, subject: Subject, page: str) -> PageAccess:
    return asyncio.run(check_page(engine, subject, page))


# -- the real policy -------------------------------------------------------------------------


def test_policy_lets_teachers_see_only_their_classes(bundle: LocalEngine) -> None:
    access = decide(bundle, TEACHER, "attempts_per_day")
    assert access.allowed and access.reason == "allowed"
    assert access.row_filter == RowFilter("any", (RowCondition("class_id", ("c-1", "c-2")),))


def test_policy_gives_admins_every_row(bundle: LocalEngine) -> None:
    access = decide(bundle, ADMIN, "attempts_per_day")
    assert access.allowed
    assert access.row_filter == RowFilter("all")


def test_policy_refuses_students(bundle: LocalEngine) -> None:
    access = decide(bundle, STUDENT, "attempts_per_day")
    assert not access.allowed
    assert access.reason == "role_not_allowed"
    assert access.row_filter == RowFilter("none")
    assert "may not open" in deny_reason_message(access.reason)


def test_policy_refuses_unknown_pages_and_roles(bundle: LocalEngine) -> None:
    assert decide(bundle, ADMIN, "no_such_page").reason == "unknown_page"
    intruder = Subject(user_id="x", role="superuser")
    assert decide(bundle, intruder, "attempts_per_day").reason == "unknown_role"


def test_teacher_without_classes_sees_no_rows(bundle: LocalEngine) -> None:
    access = decide(bundle, Subject(user_id="t-2", role="teacher"), "attempts_per_day")
    assert access.allowed
    predicate, params = row_filter_sql(access.row_filter, {"class_id"})
    assert predicate.as_string() == "false" and params == []


def test_check_pages_answers_each_page(bundle: LocalEngine) -> None:
    pages = ["attempts_per_day", "platform_health"]
    answers = asyncio.run(check_pages(bundle, TEACHER, pages))
    assert [(a.page, a.allowed) for a in answers] == [
        ("attempts_per_day", True),
        ("platform_health", False),
    ]
    assert all(a.decision.subject_id == "t-1" for a in answers)  # ready for the audit log


# -- failure handling ------------------------------------------------------------------------


def test_denied_page_does_not_ask_for_rows() -> None:
    engine = FakeEngine({(DASHBOARD_ACCESS, "student"): {"allow": False, "reason": "nope"}})
    access = decide(engine, STUDENT, "attempts_per_day")
    assert not access.allowed and access.row_filter.mode == "none"
    assert engine.queries == [DASHBOARD_ACCESS]


@pytest.mark.parametrize(
    "failure",
    [
        PolicyUnavailable("down"),
        RuntimeError("boom"),
        type("PanicException", (BaseException,), {})("rust panic"),
    ],
)
def test_engine_failures_become_policy_unavailable(failure: BaseException) -> None:
    engine = FakeEngine({(DASHBOARD_ACCESS, "teacher"): failure})
    with pytest.raises(PolicyUnavailable):
        decide(engine, TEACHER, "attempts_per_day")


def test_malformed_answers_fail_closed() -> None:
    engine = FakeEngine(
        {
            (DASHBOARD_ACCESS, "teacher"): {"allow": "yes", "reason": "allowed"},
        }
    )
    with pytest.raises(PolicyUnavailable):
        decide(engine, TEACHER, "attempts_per_day")
    engine = FakeEngine(
        {
            (DASHBOARD_ACCESS, "teacher"): {"allow": True, "reason": "allowed"},
            (DASHBOARD_ROWS, "teacher"): {"mode": "some"},
        }
    )
    with pytest.raises(PolicyUnavailable):
        decide(engine, TEACHER, "attempts_per_day")


def test_interrupts_are_not_swallowed() -> None:
    engine = FakeEngine({(DASHBOARD_ACCESS, "teacher"): KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        decide(engine, TEACHER, "attempts_per_day")


# -- row filters as SQL ----------------------------------------------------------------------


def test_row_filter_sql_modes() -> None:
    assert row_filter_sql(RowFilter("all"), {"class_id"})[0].as_string() == "true"
    assert row_filter_sql(RowFilter("none"), {"class_id"})[0].as_string() == "false"
    any_filter = RowFilter(
        "any", (RowCondition("class_id", ("c-1",)), RowCondition("owner_id", ("u-1", "u-2")))
    )
    predicate, params = row_filter_sql(any_filter, {"class_id", "owner_id"}, table_alias="a")
    assert predicate.as_string() == (
        '("a"."class_id"::text = any(%s) or "a"."owner_id"::text = any(%s))'
    )
    assert params == [["c-1"], ["u-1", "u-2"]]


def test_row_filter_on_unknown_column_fails_closed() -> None:
    sneaky = RowFilter("any", (RowCondition("1=1) or (true", ("x",)),))
    with pytest.raises(PolicyUnavailable):
        row_filter_sql(sneaky, {"class_id"})


# -- subjects and engines --------------------------------------------------------------------


class FakeResources:
    def __init__(self, rows: list[dict[str, Any]], pseudonym_key: str = "k") -> None:
        self.rows = rows
        self.queries: list[tuple[str, Any]] = []
        self.settings = SimpleNamespace(pseudonym_key=pseudonym_key)

    async def fetch_all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        self.queries.append((str(query), params))
        return self.rows


def _claims(role: str) -> Claims:
    return Claims("u-1", role, "jti", "access", datetime.now(UTC) + timedelta(minutes=5))


def test_load_subject_reads_the_classes_a_teacher_teaches() -> None:
    fake = FakeResources([{"class_id": "c-2"}, {"class_id": "c-1"}])
    subject = asyncio.run(load_subject(cast(Resources, fake), _claims("teacher")))
    key = pseudonymize("k", "u-1")  # her key: the marts from the lake know people by key
    assert subject == Subject(user_id="u-1", role="teacher", class_ids=("c-1", "c-2"), user_key=key)
    assert "teacher_id" in fake.queries[0][0]


def test_load_subject_without_a_lake_key_has_no_user_key() -> None:
    fake = FakeResources([{"class_id": "c-1"}], pseudonym_key="")
    subject = asyncio.run(load_subject(cast(Resources, fake), _claims("student")))
    assert subject == Subject(user_id="u-1", role="student", class_ids=("c-1",))


def test_load_subject_for_admin_needs_no_query() -> None:
    fake = FakeResources([])
    subject = asyncio.run(load_subject(cast(Resources, fake), _claims("admin")))
    assert subject == Subject(user_id="u-1", role="admin", user_key=pseudonymize("k", "u-1"))
    assert fake.queries == []


# -- request helpers and the page's pure parts -----------------------------------------------


def test_token_from_headers_prefers_bearer_then_cookie() -> None:
    assert token_from_headers(Headers({"authorization": "Bearer abc"})) == "abc"
    assert token_from_headers(Headers({"cookie": "x=1; ds_session=tok"})) == "tok"
    assert token_from_headers(Headers({"authorization": "Basic abc"})) is None
    assert token_from_headers(Headers({})) is None


def test_safe_next_allows_only_local_paths() -> None:
    from dashboards.auth import safe_next

    assert safe_next("/pages/x/") == "/pages/x/"
    for bad in ("//evil.example", "https://evil.example", "/\\evil", "", None):
        assert safe_next(bad) == "/"


def test_attempts_page_helpers() -> None:
    from dashboards.pages.attempts_per_day import (
        AttemptsView,
        DayRow,
        build_figure,
        pct,
        since_for,
        weighted_mean,
    )

    today = date(2025, 3, 31)
    assert since_for("30", today) == date(2025, 3, 2)
    assert since_for("all", today) is None
    assert since_for("bogus", today) == date(2025, 1, 1)  # falls back to 90 days
    rows = (
        DayRow(date(2025, 3, 30), "c-1", "Algebra", 3, 0.70),
        DayRow(date(2025, 3, 30), "c-2", "Biology", 1, 0.90),
        DayRow(date(2025, 3, 29), "c-1", "Algebra", 2, None),
        DayRow(date(2025, 3, 29), None, "(no class)", 1, None),
    )
    assert weighted_mean(rows) == pytest.approx(0.75)
    assert weighted_mean(rows[2:]) is None
    assert pct(0.75) == "75.0" and pct(None) == "–"
    figure = build_figure(AttemptsView("90", rows))
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["(no class)", "Algebra", "Biology", "mean score %"]
    assert figure["data"][-1]["y"] == [None, 75.0]  # percent on the right axis
    assert figure["data"][1]["y"] == [2, 3]  # Algebra's bars, oldest day first
