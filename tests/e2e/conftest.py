"""The dashboards' browser harness: the demo's data (what `make demo` builds, through the demo's
own code: tests.support.demo_world) on a scratch database of its own, the dashboards app on a real
port, and Debian's Chromium driven by Playwright. Everyone signs in with a demo login.

Reuse it for any dashboard page: `dashboards_site` (module-scoped: world, URL, browser,
screenshot folder) and `DashboardSession` (`sign_in`, `open` → the page after Shiny connected and
went idle, screenshot saved as `<role>-<page>.png`; `status` of a path with the session's
cookie). Every browser console error or uncaught page error is collected in `session.errors`;
tests assert it stays empty. Screenshots go to `$DREAMSEED_E2E_ARTIFACTS` when set (e.g.
`.dreamseed/screenshots`), else a pytest temporary folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from core.settings import Settings
from dashboards.app import create_app
from dashboards.pages import PAGES
from tests.support.database import scratch_settings
from tests.support.demo_world import DemoWorld, Person, build
from tests.support.servers import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHINY_READY = """() => window.Shiny && Shiny.shinyapp && Shiny.shinyapp.isConnected()
    && !document.documentElement.classList.contains('shiny-busy')
    && document.querySelectorAll('.recalculating').length === 0"""


def pages_for(role: str) -> list[str]:
    """The mounted pages the governance registry lets `role` open, in menu order."""
    registry = json.loads((ROOT / "governance/data/dashboards.json").read_text())["pages"]
    return [p.name for p in PAGES if role in registry.get(p.name, {}).get("roles", [])]


@dataclass
class DashboardSite:
    world: DemoWorld
    url: str
    browser: Browser
    shots: Path


@dataclass
class DashboardSession:
    site: DashboardSite
    person: Person
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def sign_in(self) -> None:
        """Through the styled form, by its accessible labels; lands on the index."""
        self.page.goto(f"{self.site.url}/login", wait_until="load")
        self.page.get_by_label("E-mail").fill(self.person.email)
        self.page.get_by_label("Password").fill(self.person.password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{self.site.url}/", timeout=30_000)

    def open(self, name: str, query: str = "") -> Page:
        """Open a page, wait until Shiny is connected and idle, save a screenshot."""
        self.page.goto(f"{self.site.url}/pages/{name}/{query}", wait_until="load", timeout=60_000)
        self.settle()
        self.page.screenshot(
            path=str(self.site.shots / f"{self.person.role}-{name}.png"), full_page=True
        )
        return self.page

    def settle(self) -> None:
        # Shiny keeps its WebSocket open (no "networkidle"): wait until it is connected and idle,
        # twice, with a pause for outputs the first message invalidates.
        self.page.wait_for_function(SHINY_READY, timeout=60_000, polling=100)
        self.page.wait_for_timeout(400)
        self.page.wait_for_function(SHINY_READY, timeout=60_000, polling=100)

    def status(self, path: str) -> int:
        reply = self.context.request.get(
            f"{self.site.url}{path}", headers={"accept": "text/html"}, max_redirects=0
        )
        return reply.status


# Module scope, never session: while Playwright's sync API is open it keeps an event loop running
# in the main thread, and every later test of the session that runs asyncio (pytest-asyncio,
# asyncio.run, another sync_playwright) would fail with "inside the asyncio loop".
@pytest.fixture(scope="module")
def dashboards_site(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashboardSite]:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (make test does)"
    shots = Path(os.environ.get("DREAMSEED_E2E_ARTIFACTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    # Its own database: the pages (usage, platform health, audit) judge a whole database.
    with scratch_settings(base_settings) as scratch:
        world = build(scratch, tmp_path_factory.mktemp("demo-state"))
        with serve_in_thread(create_app(world.settings)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                yield DashboardSite(world, url, browser, shots)
            finally:
                browser.close()


@pytest.fixture
def dashboard_session(
    dashboards_site: DashboardSite,
) -> Iterator[Callable[[Person], DashboardSession]]:
    """A factory: `dashboard_session(person)` → a signed-in DashboardSession (closed after)."""
    opened: list[DashboardSession] = []

    def make(person: Person) -> DashboardSession:
        context = dashboards_site.browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        session = DashboardSession(dashboards_site, person, context, page)
        page.on("console", lambda m: session.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: session.errors.append(str(exc)))
        session.sign_in()
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.context.close()
