"""Reusable pieces of dashboard pages (Shiny/htmltools tags). Pages compose these so that every
page looks and behaves the same:

- `data_table`: a table with sortable columns, paging and a CSV download of all its rows (the
  behaviour is `static/dreamseed.js`; without JavaScript every row is simply shown);
- `empty_state`: the "no data yet — …" box, announced to screen readers (`role="status"`);
- `kpis`: a row of key figures (`<dl>`, label + value + optional hint);
- `chart`: a plotly figure as HTML (plotly.js comes once from /static/plotly.min.js) inside a
  `<figure>` with a caption naming what it shows;
- `card`, `grid`: sections with a heading;
- `filter_select`, `filter_text`, `filter_date_range`: Shiny inputs whose values persist in the URL
  query string (`data-ds-filter`), and `query_choice`/`query_text`/`query_date` to read them back
  for the first render;
- `prefilled`: a Shiny output container already holding its first render (server-side preload).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from html import escape
from typing import Any, Literal

import plotly.graph_objects as go
import plotly.io as pio
from htmltools import Tag, TagChild, TagList
from shiny import ui
from starlette.requests import Request

Kind = Literal["text", "number", "date"]


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: `key` into the row mapping, its header, and how to show a value."""

    key: str
    label: str
    kind: Kind = "text"
    fmt: Callable[[Any], str] | None = None


def raw_text(value: Any) -> str:
    """A value as the CSV and the sort see it (ISO dates, plain numbers, '' for None)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def shown_text(column: Column, value: Any) -> str:
    if value is None:
        return "—"
    if column.fmt is not None:
        return column.fmt(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float | Decimal):
        return f"{float(value):,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return raw_text(value)


def empty_state(message: str) -> Tag:
    """The clear empty state: 'no data yet — <what fills it>' (`text` in backticks is code)."""
    parts = message.split("`")
    shown = [ui.tags.code(p) if k % 2 else p for k, p in enumerate(parts)]
    return ui.div(ui.tags.strong("No data yet"), " — ", *shown, class_="ds-empty", role="status")


def data_table(
    table_id: str,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    *,
    caption: str,
    empty: str,
    page_size: int = 25,
    csv_name: str | None = None,
    note: str | None = None,
) -> Tag:
    """A sortable, paged table with CSV download; `empty_state(empty)` when there are no rows."""
    if not rows:
        return empty_state(empty)
    head = ui.tags.tr(
        *(
            ui.tags.th(
                ui.tags.button(c.label, type="button", class_="ds-sort"),
                scope="col",
                class_="num" if c.kind == "number" else None,
                aria_sort="none",
                data_kind=c.kind,
                data_key=c.key,
            )
            for c in columns
        )
    )
    body = ui.HTML(table_rows_html(columns, rows))
    return ui.div(
        ui.div(
            ui.span(f"{len(rows)} rows", class_="ds-table-count", aria_live="polite"),
            ui.tags.button(
                "Download CSV",
                type="button",
                data_ds_csv="1",
                aria_label=f"Download {caption} as CSV",
            ),
            class_="ds-table-tools",
        ),
        ui.div(
            ui.tags.table(
                ui.tags.caption(caption),
                ui.tags.thead(head),
                ui.tags.tbody(body),
                id=table_id,
            ),
            class_="ds-table-scroll",
        ),
        ui.tags.nav(
            ui.tags.button("Previous", type="button", data_ds_prev="1"),
            ui.span(data_ds_where="1"),
            ui.tags.button("Next", type="button", data_ds_next="1"),
            class_="ds-pager",
            aria_label=f"{caption}: pages",
        ),
        ui.p(note, class_="ds-table-count") if note else None,
        class_="ds-table",
        data_ds_table="1",
        data_page_size=str(page_size),
        data_csv_name=csv_name or f"{table_id}.csv",
    )


_MARKUP = re.compile(r"[&<>]")
_ATTR_MARKUP = re.compile(r"[&<>\"'\r\n]")


def _text(value: str) -> str:
    return escape(value, quote=False) if _MARKUP.search(value) else value


def _attr(value: str) -> str:
    if not _ATTR_MARKUP.search(value):
        return value
    return escape(value, quote=True).replace("\r", "&#13;").replace("\n", "&#10;")


def table_rows_html(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """The `<tr>` rows of a `data_table` as one HTML string: per cell the shown text and the raw
    value (`data-value`, what sorting and the CSV read). Written as text, not as htmltools tags:
    a table of 1,000 rows × 13 columns is 13,000 cells, which as tag objects took seconds to
    build and render (bench/README.md, dashboards run 2)."""
    opens = ['<td class="num"' if c.kind == "number" else "<td" for c in columns]
    out: list[str] = []
    for row in rows:
        out.append("<tr>")
        for column, opened in zip(columns, opens, strict=True):
            value = row.get(column.key)
            out.append(
                f'{opened} data-value="{_attr(raw_text(value))}">'
                f"{_text(shown_text(column, value))}</td>"
            )
        out.append("</tr>\n")
    return "".join(out)


def kpis(*figures: tuple[str, str] | tuple[str, str, str], label: str = "Key figures") -> Tag:
    """Key figures: (label, value) or (label, value, hint)."""
    items = []
    for figure in figures:
        name, value = figure[0], figure[1]
        hint = figure[2] if len(figure) > 2 else None
        items.append(
            ui.div(
                ui.tags.dt(name),
                ui.tags.dd(value, ui.span(hint, class_="ds-hint") if hint else None),
                class_="ds-kpi",
                data_kpi=name,
            )
        )
    return ui.tags.dl(*items, class_="ds-kpis", aria_label=label)


LAYOUT: dict[str, Any] = {
    "margin": {"l": 50, "r": 30, "t": 20, "b": 40},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": -0.2},
}


@cache
def _template() -> dict[str, Any]:
    """plotly's default template as a dict, as a `go.Figure` carries it (the same look)."""
    return dict(pio.templates[pio.templates.default].to_plotly_json())


def chart(fig: go.Figure | dict[str, Any], caption: str, *, height: int = 360) -> Tag:
    """A plotly figure (no plotly.js inline) with a caption saying what it shows.

    `fig` may be a plain figure dict ({"data": [trace dicts], "layout": {...}}): it is written
    without plotly's validation of every property, which for a few dozen traces is most of the
    cost of a figure (pages with many traces build dicts; a `go.Figure` is validated as built)."""
    if isinstance(fig, go.Figure):
        fig.update_layout(height=height, **LAYOUT)
        figure: go.Figure | dict[str, Any] = fig
    else:
        layout = {"template": _template(), **fig.get("layout", {}), "height": height, **LAYOUT}
        figure = {**fig, "layout": layout}
    html = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,  # loaded once from /static/plotly.min.js by the page head
        div_id=f"chart-{uuid.uuid4().hex[:10]}",
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )
    return ui.tags.figure(ui.HTML(html), ui.tags.figcaption(caption), class_="ds-figure")


def card(title: str, *body: TagChild, **attrs: str) -> Tag:
    return ui.tags.section(ui.h2(title), *body, class_="ds-card", **attrs)


def grid(*cards: TagChild) -> Tag:
    return ui.div(*cards, class_="ds-grid")


def filter_select(
    input_id: str, label: str, choices: Mapping[str, str], selected: str | None
) -> Tag:
    """A select whose value persists in the URL query string under `input_id`."""
    tag = ui.input_select(input_id, label, choices=dict(choices), selected=selected)
    tag.attrs["data-ds-filter"] = input_id
    return tag


def filter_text(input_id: str, label: str, value: str, *, placeholder: str = "") -> Tag:
    tag = ui.input_text(input_id, label, value=value, placeholder=placeholder)
    tag.attrs["data-ds-filter"] = input_id
    return tag


def filter_date(input_id: str, label: str, value: date | None) -> Tag:
    tag = ui.input_date(input_id, label, value=value)
    tag.attrs["data-ds-filter"] = input_id
    return tag


def query_choice(request: Request, name: str, choices: Mapping[str, str], default: str) -> str:
    """A query-string parameter if it is one of `choices`, else `default`."""
    value = request.query_params.get(name, default)
    return value if value in choices else default


def query_text(request: Request, name: str, *, max_length: int = 200) -> str:
    return request.query_params.get(name, "").strip()[:max_length]


def query_date(request: Request, name: str) -> date | None:
    try:
        return date.fromisoformat(request.query_params.get(name, ""))
    except ValueError:
        return None


def prefilled(output: Tag, content: TagChild) -> Tag:
    """A Shiny output container already holding its first render (replaced by the session)."""
    output.append(content)
    return output


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float | Decimal) else None


__all__ = [
    "Column",
    "TagList",
    "as_float",
    "card",
    "chart",
    "data_table",
    "empty_state",
    "filter_date",
    "filter_select",
    "filter_text",
    "grid",
    "kpis",
    "pct",
    "prefilled",
    "query_choice",
    "query_date",
    "query_text",
    "raw_text",
    "shown_text",
    "table_rows_html",
]
