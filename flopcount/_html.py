"""A self-contained HTML page of a report: the per-layer table and where the ops go.

No scripts, no network: inline CSS and bars drawn with widths, so it opens anywhere.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import TYPE_CHECKING

from ._table import HEADERS, NUMERIC, table_rows
from ._units import human, percent

if TYPE_CHECKING:
    from ._report import Report

_TOP = 15

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{white-space:pre;font-family:ui-monospace,monospace}
.bars{display:grid;grid-template-columns:max-content 1fr max-content;gap:4px 10px;max-width:60em}
.bar{background:#4a7bd0;height:1.1em;min-width:1px}.label{font-family:ui-monospace,monospace}
.summary{font-size:1.1em}
"""


def _bars(title: str, items: list[tuple[str, int]], total: int) -> str:
    if not items:
        return ""
    largest = max(value for _, value in items) or 1
    cells = "".join(
        f'<div class="label">{escape(label)}</div>'
        f'<div><div class="bar" style="width:{100.0 * value / largest:.2f}%"></div></div>'
        f'<div class="num">{human(value)} ({percent(value, total)})</div>'
        for label, value in items
    )
    return f'<h2>{escape(title)}</h2><div class="bars">{cells}</div>'


def _listing(heading: str, calls: dict[str, int]) -> str:
    if not calls:
        return ""
    items = "".join(
        f"<li>{escape(name or '(root)')}: {count} call(s)</li>"
        for name, count in sorted(calls.items())
    )
    return f"<h2>{escape(heading)}</h2><ul>{items}</ul>"


def to_html(report: Report, title: str = "flopcount report") -> str:
    total = report.total
    rows = report.modules.values()
    by_module = sorted(
        ((row.name or "(root)", row.self_ops) for row in rows if row.self_ops > 0),
        key=lambda item: -item[1],
    )[:_TOP]
    by_type: Counter[str] = Counter()
    for row in rows:
        by_type[row.type] += row.self_ops
    by_type_items = [(name, ops) for name, ops in by_type.most_common(_TOP) if ops > 0]

    numeric = set(NUMERIC)
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i in numeric else "name" if i == 0 else ""}">{escape(cell)}</td>'
            for i, cell in enumerate(cells)
        )
        + "</tr>"
        for cells in table_rows(report, None)
    )
    unsupported = _listing("Not counted (no formula)", report.unsupported) + _listing(
        "Own code not seen (operators=False)", report.uncounted
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="summary"><b>{total:,}</b> ops · <b>{report.macs:,}</b> MACs</p>'
        + _bars("Top modules by own ops", by_module, total)
        + _bars("Ops by module type", by_type_items, total)
        + "<h2>Per-layer table</h2>"
        + f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + unsupported
        + "</body></html>\n"
    )
