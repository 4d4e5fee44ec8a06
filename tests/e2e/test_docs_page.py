"""The API docs page works offline in a real browser: Debian's Chromium, driven by Playwright,
opens /schema/docs on a real server; Swagger UI 5 renders the OpenAPI 3.1 description and lists
every operation in it, with no console error and no request leaving the server's origin.

Chromium comes from Debian (`apt-get install chromium`; `make test` installs it when missing):
`playwright install` downloads a browser and cannot work offline. No Chromium is a failure here,
not a skip.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import httpx
from playwright.sync_api import Request, Route, sync_playwright

from apis.app import create_app
from core.settings import Settings
from tests.support.servers import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def test_the_docs_page_lists_every_operation_offline(settings: Settings, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (make test does)"
    with serve_in_thread(create_app(settings)) as url:
        spec = httpx.get(f"{url}/schema/openapi.json", timeout=30).json()
        assert spec["openapi"].startswith("3.1")
        expected = {
            (method.upper(), path)
            for path, item in spec["paths"].items()
            for method in item
            if method in METHODS
        }
        assert len(expected) >= 40
        origin = urlparse(url).netloc
        errors: list[str] = []
        outside: list[str] = []

        def only_this_server(route: Route, request: Request) -> None:
            if urlparse(request.url).netloc == origin:
                route.continue_()
            else:  # a CDN or an online validator: the page would not work offline
                outside.append(request.url)
                route.abort()

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.route("**/*", only_this_server)
                page.goto(f"{url}/schema/docs", wait_until="networkidle", timeout=60_000)
                page.wait_for_selector(".opblock", timeout=60_000)
                assert "DreamSeed API" in page.inner_text(".info .title")
                shown = page.eval_on_selector_all(
                    ".opblock",
                    """blocks => blocks.map(b => [
                        b.querySelector('.opblock-summary-method').textContent.trim(),
                        b.querySelector('.opblock-summary-path').getAttribute('data-path'),
                    ])""",
                )
                page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
                unrendered = page.locator("text=Unable to render this definition").count()
            finally:
                browser.close()
    listed = {(method.upper(), path) for method, path in shown}
    assert unrendered == 0
    assert listed == expected, (sorted(expected - listed), sorted(listed - expected))
    assert not outside, outside
    assert not errors, errors
