"""Lesson Markdown → safe HTML: CommonMark (markdown-it-py, raw HTML disabled) then ammonia (nh3)
with an allow-list, so neither the Markdown nor a stray tag can carry script, event handlers,
`javascript:` links or styles into a student's page."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
_SCHEMES = {"http", "https", "mailto"}

# "commonmark" with html=False: raw HTML in the source is shown as text, never passed through.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render(source: str) -> str:
    """The sanitised HTML of a Markdown text (the sanitiser runs even though raw HTML is off)."""
    return nh3.clean(
        _MD.render(source),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
