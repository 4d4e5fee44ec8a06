"""The dashboard pages, in menu order. Each module exposes `PAGE: PageSpec` (see pages.base)."""

from __future__ import annotations

from dashboards.pages import attempts_per_day
from dashboards.pages.base import PageSpec

PAGES: tuple[PageSpec, ...] = (attempts_per_day.PAGE,)

__all__ = ["PAGES", "PageSpec"]
