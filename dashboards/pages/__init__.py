"""The dashboard pages, in menu order. Each module exposes `PAGE: PageSpec` (see pages.base)."""

from __future__ import annotations

from dashboards.pages import (
    attempts_per_day,
    class_report,
    item_bank_health,
    platform_health,
    policy_audit,
    student_report,
    usage,
)
from dashboards.pages.base import PageSpec

PAGES: tuple[PageSpec, ...] = (
    attempts_per_day.PAGE,
    class_report.PAGE,
    item_bank_health.PAGE,
    student_report.PAGE,
    usage.PAGE,
    platform_health.PAGE,
    policy_audit.PAGE,
)

__all__ = ["PAGES", "PageSpec"]
