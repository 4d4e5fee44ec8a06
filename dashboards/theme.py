"""The dashboards' look: one stylesheet and one script served from the package, the top bar with
the navigation, and the frame of the stand-alone pages (sign-in, index, errors).

`/static/dreamseed.css` and `/static/dreamseed.js` are files in `dashboards/static/` (no CDN);
Shiny pages add them to their head through `dashboards.pages.base.page_layout`. The navigation
lists only the pages the policy lets the user open (`NavItem`s computed by the caller with
`dashboards.access.check_pages`); the current page is marked with `aria-current="page"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Files served under /static/ besides plotly.min.js: name -> media type.
STATIC_FILES = {
    "dreamseed.css": "text/css",
    "dreamseed.js": "application/javascript",
    "favicon.svg": "image/svg+xml",
}
CSS_PATH = "/static/dreamseed.css"
JS_PATH = "/static/dreamseed.js"
ICON_PATH = "/static/favicon.svg"
PLOTLY_JS_PATH = "/static/plotly.min.js"
BRAND = "DreamSeed dashboards"


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation: a page the user may open."""

    name: str
    title: str
    href: str
    description: str = ""


def topbar_html(
    root: str, items: Sequence[NavItem], *, current: str | None = None, role: str | None = None
) -> str:
    """The top bar: brand (→ index), the pages the user may open, who is signed in, sign out."""
    links = "".join(
        f"<li><a href='{escape(i.href)}'"
        + (" aria-current='page'" if i.name == current else "")
        + f">{escape(i.title)}</a></li>"
        for i in items
    )
    user = (
        f"<div class='ds-user'><span>signed in as <strong>{escape(role)}</strong></span>"
        f"<form method='post' action='{escape(root)}/logout'>"
        "<button type='submit'>Sign out</button></form></div>"
        if role
        else ""
    )
    return (
        "<a class='ds-skip' href='#ds-main'>Skip to content</a>"
        "<header class='ds-topbar'>"
        f"<a class='ds-brand' href='{escape(root)}/'>{BRAND}</a>"
        f"<nav aria-label='Dashboards'><ul class='ds-nav'>{links}</ul></nav>"
        f"{user}</header>"
    )


def head_html(root: str, title: str) -> str:
    return (
        "<meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title>"
        f"<link rel='stylesheet' href='{escape(root)}{CSS_PATH}'>"
        f"<link rel='icon' href='{escape(root)}{ICON_PATH}' type='image/svg+xml'>"
    )


def document(
    title: str,
    body: str,
    *,
    root: str = "",
    centered: bool = False,
    nav: Sequence[NavItem] | None = None,
    role: str | None = None,
) -> str:
    """A stand-alone themed HTML page (no Shiny): `centered` for the sign-in panel and errors."""
    if centered:
        main = f"<main id='ds-main' class='ds-center'><div class='ds-panel'>{body}</div></main>"
        top = ""
    else:
        main = f"<main id='ds-main' class='ds-main'>{body}</main>"
        top = topbar_html(root, nav or (), role=role)
    return (
        f"<!doctype html><html lang='en'><head>{head_html(root, title)}</head>"
        f"<body class='ds-body'>{top}{main}</body></html>"
    )


def login_page(root: str, next_path: str, *, error: str | None, email: str = "") -> str:
    """The styled sign-in form (labels tied to inputs; the error is announced as an alert)."""
    alert = f"<p class='ds-alert' role='alert'>{escape(error)}</p>" if error else ""
    return document(
        "Sign in · DreamSeed dashboards",
        f"<p class='ds-brand-mark'>\u2740 DreamSeed</p><h1>Sign in to the dashboards</h1>{alert}"
        f"<form method='post' action='{escape(root)}/login'>"
        f"<input type='hidden' name='next' value='{escape(next_path)}'>"
        "<label class='ds-field'><span>E-mail</span><input type='email' name='email' required"
        f" autocomplete='username' value='{escape(email)}' autofocus></label>"
        "<label class='ds-field'><span>Password</span><input type='password' name='password'"
        " required autocomplete='current-password'></label>"
        "<button class='ds-primary' type='submit'>Sign in</button></form>",
        root=root,
        centered=True,
    )


def index_body(role: str, items: Sequence[NavItem]) -> str:
    if not items:
        return (
            "<h1>Dashboards</h1><div class='ds-empty' role='status'>"
            f"<strong>No dashboards are available to your role ({escape(role)}).</strong></div>"
        )
    cards = "".join(
        f"<li><a class='ds-card' href='{escape(i.href)}'><strong>{escape(i.title)}</strong>"
        f"<span>{escape(i.description)}</span></a></li>"
        for i in items
    )
    return (
        "<h1>Dashboards</h1>"
        f"<p class='ds-lead'>Signed in as {escape(role)}: the pages your role may open.</p>"
        f"<ul class='ds-cards'>{cards}</ul>"
    )


def message_page(status: int, message: str, *, root: str = "") -> str:
    """A themed error page (403, 503...) with the way back."""
    return document(
        f"{status} · DreamSeed dashboards",
        f"<p class='ds-brand-mark'>\u2740 DreamSeed</p><h1>{status}</h1>"
        f"<p role='alert'>{escape(message)}</p>"
        f"<p><a href='{escape(root)}/'>All dashboards</a> · <a href='{escape(root)}/login'>Sign in</a></p>",
        root=root,
        centered=True,
    )


__all__ = [
    "BRAND",
    "CSS_PATH",
    "ICON_PATH",
    "JS_PATH",
    "PLOTLY_JS_PATH",
    "STATIC_DIR",
    "STATIC_FILES",
    "NavItem",
    "document",
    "head_html",
    "index_body",
    "login_page",
    "message_page",
    "topbar_html",
]
