"""Every dashboard page is a Dagster asset depending on the marts its queries read
(orchestration/analytics/dashboards.py): a page that starts reading a mart must say so there, or
Dagster's lineage (lake -> marts -> dashboards) would miss the edge."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestration.analytics.dashboards import PAGE_DESCRIPTIONS, PAGE_SOURCES

ROOT = Path(__file__).resolve().parents[3]
PAGES_DIR = ROOT / "dashboards" / "pages"
NOT_PAGES = {"__init__", "base", "scope"}


def test_every_registered_page_is_declared() -> None:
    registry = json.loads((ROOT / "governance" / "data" / "dashboards.json").read_text())
    assert set(registry["pages"]) == set(PAGE_SOURCES) == set(PAGE_DESCRIPTIONS)


def test_each_page_declares_the_marts_it_reads() -> None:
    for module in sorted(PAGES_DIR.glob("*.py")):
        if module.stem in NOT_PAGES:
            continue
        read = set(re.findall(r"\banalytics\.([a-z_][a-z0-9_]*)", module.read_text()))
        declared = {key[-1] for key in PAGE_SOURCES[module.stem]}
        assert read <= declared, (
            f"dashboards/pages/{module.name} reads {sorted(read - declared)}: add them to "
            "PAGE_SOURCES in orchestration/analytics/dashboards.py"
        )
