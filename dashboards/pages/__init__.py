"""The dashboard pages, in menu order. Each module exposes `PAGE: PageSpec` (see pages.base)."""

from __future__ import annotations

from dashboards.pages import attempts_per_day, class_report, item_bank_health, student_report
from dashboards.pages.base import PageSpec

PAGES: tuple[PageSpec, ...] = (
    attempts_per_day.PAGE,
    class_report.PAGE,
    item_bank_health.PAGE,
    student_report.PAGE,
)

__all__ = ["PAGES", "PageSpec"]
