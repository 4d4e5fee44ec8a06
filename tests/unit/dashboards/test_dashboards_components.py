"""The shared page pieces (dashboards.components, dashboards.theme) render what pages rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import plotly.graph_objects as go
from starlette.requests import Request

from dashboards.components import (
    Column,
    chart,
    data_table,
    empty_state,
    filter_select,
    kpis,
    query_choice,
    query_date,
    raw_text,
    shown_text,
)
from dashboards.theme import STATIC_DIR, STATIC_FILES, NavItem, login_page, topbar_html

COLUMNS = (Column("day", "day", "date"), Column("name", "class"), Column("n", "count", "number"))


def request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode()})


def test_table_has_sort_buttons_values_and_csv() -> None:
    rows = [
        {"day": date(2026, 1, 2), "name": 'Class "A", 7', "n": 12_345},
        {"day": date(2026, 1, 1), "name": "B", "n": None},
    ]
    html = str(data_table("t1", COLUMNS, rows, caption="Per day", empty="nothing", page_size=10))
    assert "data-ds-table" in html and 'data-page-size="10"' in html
    assert html.count('class="ds-sort"') == 3
    assert 'aria-sort="none"' in html and 'scope="col"' in html
    assert "<caption>Per day</caption>" in html
    assert 'data-value="2026-01-02"' in html and 'data-value="12345"' in html
    assert ">12,345<" in html  # shown with a thousands separator, sorted by the raw value
    assert 'data-value=""' in html and ">—<" in html  # None: empty raw value, a dash shown
    assert "Download CSV" in html and 'data-csv-name="t1.csv"' in html


def test_empty_table_is_a_clear_empty_state() -> None:
    html = str(data_table("t2", COLUMNS, [], caption="Per day", empty="run the pipeline."))
    assert "No data yet" in html and "run the pipeline." in html and 'role="status"' in html
    assert "<table" not in html
    assert "No data yet" in str(empty_state("x"))


def test_raw_and_shown_values() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert raw_text(stamp) == "2026-01-02T03:04:05+00:00"
    assert raw_text(Decimal("0.5000")) == "0.5000" and raw_text(True) == "true"
    assert shown_text(Column("x", "x"), 0.12345) == "0.123"
    assert shown_text(Column("x", "x", fmt=lambda v: f"{v} %"), 5) == "5 %"


def test_filters_persist_in_the_url() -> None:
    select = str(filter_select("period", "Period", {"30": "30 days", "all": "All"}, "all"))
    assert 'data-ds-filter="period"' in select and "<label" in select
    assert query_choice(request("period=30"), "period", {"30": "", "all": ""}, "all") == "30"
    assert query_choice(request("period=evil"), "period", {"30": "", "all": ""}, "all") == "all"
    assert query_date(request("since=2026-02-03"), "since") == date(2026, 2, 3)
    assert query_date(request("since=yesterday"), "since") is None


def test_kpis_and_chart_are_labelled() -> None:
    html = str(kpis(("Students", "12"), ("Lag", "3", "entries")))
    assert 'data-kpi="Students"' in html and "entries" in html and "<dl" in html
    figure = str(chart(go.Figure(go.Bar(x=[1], y=[2])), "Bars per day"))
    assert "<figcaption>Bars per day</figcaption>" in figure
    assert "Plotly.newPlot" in figure and "cdn.plot.ly" not in figure


def test_theme_pages() -> None:
    page = login_page("", "/pages/x/", error="wrong <b>", email="a@b.c")
    assert "/static/dreamseed.css" in page and "<label class='ds-field'>" in page
    assert "role='alert'" in page and "wrong &lt;b&gt;" in page
    bar = topbar_html(
        "/d",
        [NavItem("a", "A", "/d/pages/a/"), NavItem("b", "B", "/d/pages/b/")],
        current="b",
        role="admin",
    )
    assert "aria-current='page'>B<" in bar and "aria-label='Dashboards'" in bar
    for name in STATIC_FILES:
        assert (STATIC_DIR / name).is_file()


def test_dagster_record_names_and_absence() -> None:
    from pathlib import Path

    from dashboards.dagster_record import asset_name, read_record

    assert asset_name('["lake", "responses"]') == "lake/responses"
    assert asset_name("not json") == "not json"
    missing = read_record(Path("/nonexistent/dagster/history/runs/index.db"))
    assert not missing.found and missing.assets == () and missing.checks == ()
