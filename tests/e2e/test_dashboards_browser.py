"""Every role in a real browser, on the demo's data (what `make demo` builds: tests/support/
demo_world.py) with the demo's logins: sign in through the form, open every page the role may
open (each renders with no console error and a screenshot is saved), get 403 on the others, and
read the key figures the marts hold (queried at test time, never hard-coded). A teacher never sees another teacher's class; the analyst's
pages carry no student key. Filters persist in the URL, tables sort and download as CSV.

Add a page's figure check to FIGURE_CHECKS; the page itself is covered once it is in PAGES and
registered for a role in governance/data/dashboards.json.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from playwright.sync_api import Page

from dashboards.pages import PAGES
from lake.pseudonym import pseudonymize
from tests.e2e.conftest import DashboardSession, DashboardSite, pages_for
from tests.support.demo_world import Person

# The first test also builds the demo's data (two pipeline runs): ~6-10 min on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

Session = Callable[[Person], DashboardSession]


def one(site: DashboardSite, query: str, *params: object) -> int:
    with psycopg.connect(site.world.settings.database_url) as conn:
        row = conn.execute(query, params).fetchone()
    return int(row[0] or 0) if row else 0


def members(site: DashboardSite, class_ids: list[str]) -> list[str]:
    """The ids and pseudonymous keys of the students of these classes."""
    with psycopg.connect(site.world.settings.database_url) as conn:
        rows = conn.execute(
            "select student_id::text from classes.memberships where class_id = any(%s::uuid[])",
            (class_ids,),
        ).fetchall()
    key = site.world.settings.pseudonym_key
    return [r[0] for r in rows] + [pseudonymize(key, r[0]) for r in rows]  # ids and lake keys


def kpi(page: Page, label: str) -> int:
    text = page.locator(f"[data-kpi='{label}'] dd").first.inner_text().split("\n")[0]
    return int(text.replace(",", "").strip())


def check_attempts(page: Page, site: DashboardSite, person: Person) -> None:
    since = datetime.now(UTC).date() - timedelta(days=89)
    if person.role == "teacher":
        expected = one(
            site,
            "select sum(a.attempt_count) from analytics.agg_attempts_per_day a"
            " join classes.classes c on c.class_id = a.class_id"
            " where c.teacher_id = %s and a.completed_on >= %s",
            person.user_id,
            since,
        )
    else:
        expected = one(
            site,
            "select sum(attempt_count) from analytics.agg_attempts_per_day where completed_on >= %s",
            since,
        )
    assert expected > 0
    assert f"{expected} completed attempts" in page.locator(".attempts-summary").inner_text()


def check_usage(page: Page, site: DashboardSite, person: Person) -> None:
    since = datetime.now(UTC).date() - timedelta(days=89)
    expected = one(
        site,
        "select sum(attempts_completed) from analytics.agg_engagement_daily"
        " where activity_on >= %s",
        since,
    )
    assert expected > 0 and kpi(page, "Exams completed") == expected
    lessons = one(site, "select sum(completers) from analytics.agg_content_engagement")
    assert kpi(page, "Lesson completions") == lessons
    for _, class_name in site.world.classes.values():
        assert class_name in page.content()


def check_health(page: Page, site: DashboardSite, person: Person) -> None:
    backlog = one(
        site,
        "select count(*) from events.outbox o join events.relay_cursors c"
        " on c.relay = 'redis-streams' where (o.txid, o.event_seq) > (c.txid, c.event_seq)",
    )
    assert kpi(page, "Outbox backlog") == backlog
    assert kpi(page, "Failing checks") == 0  # every dbt test passed in the build
    table = page.locator("#freshness").inner_text()
    assert "agg_engagement_daily" in table and "fresh" in table
    assert "SUCCEEDED".lower() in page.locator("#checks").inner_text()
    with psycopg.connect(site.world.settings.database_url) as conn:
        runs = [r[0] for r in conn.execute(
            "select distinct calibration_id from content.item_parameters"
        ).fetchall()]  # fmt: skip
    shown = page.locator("#calibrations").inner_text()
    assert runs and all(run in shown for run in runs)  # the demo's two pipeline runs calibrate


def check_audit(page: Page, site: DashboardSite, person: Person) -> None:
    shown = kpi(page, "Decisions matched")
    total = one(
        site,
        "select count(*) from governance.decisions where decided_at >= now() - interval '7 days'",
    )
    assert 0 < shown <= total  # decisions keep arriving while the page is open
    assert "dashboards.access" in page.locator("#decisions").inner_text()


def check_class_report(page: Page, site: DashboardSite, person: Person) -> None:
    class_id = page.locator("#class").input_value()
    if person.role == "teacher":
        assert class_id == site.world.classes[next(
            k for k, p in site.world.people.items() if p.user_id == person.user_id
        )][0]  # fmt: skip
    students = one(
        site, "select count(*) from analytics.agg_student_risk where class_id = %s", class_id
    )
    at_risk = one(
        site,
        "select count(*) from analytics.agg_student_risk where class_id = %s and is_at_risk",
        class_id,
    )
    assert students > 0 and kpi(page, "Students") == students
    assert kpi(page, "At risk") == at_risk
    rows = page.locator("#class-students tbody tr")
    assert rows.count() == students  # every student, paged 25 at a time
    assert page.locator("#class-students tbody tr:not([hidden])").count() == min(students, 25)


def check_item_bank(page: Page, site: DashboardSite, person: Person) -> None:
    mine = person.role == "teacher"
    where = " where owner_key = %s" if mine else ""  # the marts know the owner by key only
    params = (pseudonymize(site.world.settings.pseudonym_key, person.user_id),) if mine else ()
    items = one(site, "select count(*) from analytics.agg_item_bank_health" + where, *params)
    calibrated = one(
        site,
        "select count(*) from analytics.agg_item_bank_health"
        + (where + " and" if mine else " where")
        + " live_version is not null",
        *params,
    )
    assert items > 0 and kpi(page, "Items") == items
    assert kpi(page, "Calibrated") == calibrated


def check_student_report(page: Page, site: DashboardSite, person: Person) -> None:
    if person.role == "student":
        student_id = person.user_id  # she has no choice to make: herself only
        assert page.locator("#student").count() == 0
    else:  # a teacher or an admin chooses among the students she may see
        assert page.locator("#student").count() == 1
        student_id = page.locator("#student").input_value()
    scored = one(
        site,
        "select count(*) from analytics.fct_student_ability where student_key = %s",
        pseudonymize(site.world.settings.pseudonym_key, student_id),  # the marts know keys only
    )
    assert kpi(page, "Scored exams") == scored
    assert scored > 0  # a teacher or an admin lands on a student with θ to show, not an empty one
    others = [s for s in site.world.student_ids if s != student_id]
    if person.role == "student":
        assert not [s for s in others if s in page.content()]


FIGURE_CHECKS: dict[str, Callable[[Page, DashboardSite, Person], None]] = {
    "class_report": check_class_report,
    "item_bank_health": check_item_bank,
    "student_report": check_student_report,
    "attempts_per_day": check_attempts,
    "usage": check_usage,
    "platform_health": check_health,
    "policy_audit": check_audit,
}

ROLES = ("teacher1", "admin", "analyst", "student1")
#: Pages that name the teacher's class (every page must not name another teacher's class).
SHOWS_OWN_CLASS = {"attempts_per_day", "class_report"}


@pytest.mark.parametrize("who", ROLES)
def test_every_role_opens_its_pages_and_only_those(
    dashboards_site: DashboardSite, dashboard_session: Session, who: str
) -> None:
    person = dashboards_site.world.people[who]
    session = dashboard_session(person)
    allowed = pages_for(person.role)
    index = session.page
    listed = index.locator(".ds-cards strong").all_inner_texts()
    assert listed == [p.title for p in PAGES if p.name in allowed]
    if not allowed:
        assert "No dashboards are available to your role" in index.content()
    index.screenshot(path=str(dashboards_site.shots / f"{person.role}-index.png"), full_page=True)
    others = {key: c for key, c in dashboards_site.world.classes.items() if key != who}
    other_classes = [name for _, name in others.values()] + [cid for cid, _ in others.values()]
    other_students = members(dashboards_site, [cid for cid, _ in others.values()])
    for name in allowed:
        page = session.open(name)
        nav = page.locator("nav[aria-label='Dashboards'] a").all_inner_texts()
        assert nav == [p.title for p in PAGES if p.name in allowed], name
        html = page.content()
        if person.role == "teacher":
            if name in SHOWS_OWN_CLASS:
                assert dashboards_site.world.classes[who][1] in html, name
            assert not [c for c in other_classes if c in html], name
            assert not [s for s in other_students if s in html], name
        if person.role == "analyst":
            assert not [s for s in dashboards_site.world.student_ids if s in html], name
        check = FIGURE_CHECKS.get(name)
        if check is not None:
            check(page, dashboards_site, person)
    for spec in PAGES:
        if spec.name not in allowed:
            assert session.status(f"/pages/{spec.name}/") == 403, spec.name
    assert not session.errors, session.errors


def test_filters_live_in_the_url_and_tables_sort_and_download(
    dashboards_site: DashboardSite, dashboard_session: Session
) -> None:
    session = dashboard_session(dashboards_site.world.people["admin"])
    page = session.open("usage")
    page.get_by_label("Period").select_option("30")
    session.settle()
    assert "period=30" in page.url
    page.reload()
    session.settle()
    assert page.get_by_label("Period").input_value() == "30"

    table = page.locator("[data-ds-table]").first
    header = table.get_by_role("button", name="exams completed")
    header.click()
    assert table.locator("th[aria-sort='ascending']").count() == 1
    values = [
        int(v or 0)
        for v in table.locator("tbody tr:not([hidden]) td:nth-child(3)").evaluate_all(
            "cells => cells.map(c => c.dataset.value)"
        )
    ]
    assert values == sorted(values)
    with page.expect_download() as download:
        table.get_by_role("button", name="Download Usage by class").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["class_name", "peak_weekly_active", "attempts_completed"]
    assert len(rows) - 1 == table.locator("tbody tr").count()

    audit = session.open("policy_audit", "?outcome=denied&days=1")
    assert audit.get_by_label("Outcome").input_value() == "denied"
    outcomes = audit.locator("#decisions tbody td:nth-child(7)").evaluate_all(
        "cells => cells.map(c => c.dataset.value)"
    )
    assert outcomes and set(outcomes) == {"false"}  # the students' 403s of the first test
    assert not session.errors, session.errors
