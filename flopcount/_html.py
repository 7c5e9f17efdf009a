"""A self-contained HTML page of a report: an icicle of the module tree, bars of where the
ops go, and the per-layer table.

No scripts, no network: inline CSS, bars drawn with widths and the icicle as inline SVG
(hovering a block shows its name and counts through SVG ``<title>``), so it opens anywhere.
Rendering is pure: every function returns a string.
"""

from __future__ import annotations

import zlib
from collections import Counter
from html import escape
from typing import TYPE_CHECKING

from ._table import table_columns
from ._units import human, percent

if TYPE_CHECKING:
    from ._report import ModuleStats, Report, Step

_TOP = 15

ICICLE_WIDTH = 960
"""Width of the icicle in CSS pixels; the root's block spans all of it."""
ICICLE_ROW = 22
"""Height of one level of the icicle in CSS pixels."""
ROOT_COLOUR = "#34495e"
"""The root's block; other blocks take a colour of ``PALETTE`` by their type's name."""
PALETTE = (
    "#4a7bd0",
    "#e08e45",
    "#5aa469",
    "#c9566b",
    "#8e6cc1",
    "#3fa7a3",
    "#c5a53a",
    "#a0704f",
    "#d47fb6",
    "#7f8c3a",
)
_MIN_WIDTH = 0.25  # narrower blocks (and their subtrees) are not drawn
_CHAR_WIDTH = 7.0  # approximate width of a label character at 12px

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{white-space:pre;font-family:ui-monospace,monospace}
.bars{display:grid;grid-template-columns:max-content 1fr max-content;gap:4px 10px;max-width:60em}
.bar{background:#4a7bd0;height:1.1em;min-width:1px}.label{font-family:ui-monospace,monospace}
.summary{font-size:1.1em}.legend{color:#555;font-size:.9em}
svg.icicle{display:block}svg.icicle text{font:12px ui-monospace,monospace;fill:#fff}
"""


def type_colour(type_name: str) -> str:
    """The same colour for a type on every page (a checksum, not Python's salted hash)."""
    return PALETTE[zlib.crc32(type_name.encode()) % len(PALETTE)]


def _label(text: str, width: float) -> str:
    fits = int((width - 6) // _CHAR_WIDTH)
    if fits < 2:
        return ""
    return text if len(text) <= fits else text[: fits - 1] + "…"


def icicle(report: Report) -> str:
    """The module tree as an inline SVG icicle: one row per depth, each module a block whose
    width is its inclusive ops (its share of the root's width) under its parent's block;
    the room a parent's children leave is the parent's own work."""
    modules = report.modules
    total = report.total
    if total <= 0 or "" not in modules:
        return ""
    blocks: list[str] = []
    deepest = 0
    scale = ICICLE_WIDTH / total
    stack: list[tuple[ModuleStats, float]] = [(modules[""], 0.0)]
    while stack:
        row, x = stack.pop()
        width = row.ops * scale
        depth = row.depth
        deepest = max(deepest, depth)
        name = row.name or "(root)"
        leaf = row.name.rsplit(".", 1)[-1] if row.name else "(root)"
        colour = ROOT_COLOUR if not row.name else type_colour(row.type)
        tip = f"{name} ({row.type}): {row.ops:,} ops, {row.macs:,} MACs, {percent(row.ops, total)}"
        y = depth * ICICLE_ROW
        text = _label(f"{leaf} {row.type}", width)
        blocks.append(
            f'<g><title>{escape(tip)}</title><rect x="{x:.2f}" y="{y}" width="{width:.2f}" '
            f'height="{ICICLE_ROW - 1}" fill="{colour}" stroke="#fff" stroke-width="0.5"/>'
            + (f'<text x="{x + 3:.2f}" y="{y + 15}">{escape(text)}</text>' if text else "")
            + "</g>"
        )
        offset = x
        children = []
        for child_name in row.children:
            child = modules.get(child_name)
            if child is None or child.ops <= 0:
                continue
            if child.ops * scale >= _MIN_WIDTH:
                children.append((child, offset))
            offset += child.ops * scale
        stack.extend(reversed(children))
    height = (deepest + 1) * ICICLE_ROW
    return (
        f'<svg class="icicle" width="{ICICLE_WIDTH}" '
        f'height="{height}" viewBox="0 0 {ICICLE_WIDTH} {height}" role="img" '
        f'aria-label="icicle of the module tree by inclusive ops">{"".join(blocks)}</svg>'
    )


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


def _table(report: Report, collapse: bool) -> str:
    table = table_columns(report, collapse=collapse)
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i in table.numeric else "name" if i == 0 else ""}">'
            f"{escape(cell)}</td>"
            for i, cell in enumerate(cells)
        )
        + "</tr>"
        for cells in table.rows
    )
    legend = "".join(f'<p class="legend">{escape(line)}</p>' for line in table.legend)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{legend}"


def _steps(report: Report) -> str:
    """One row per call of the model from outside it, when there was more than one."""
    if len(report.steps) < 2:
        return ""

    def shapes(step: Step) -> str:
        return ", ".join("×".join(map(str, shape)) or "scalar" for shape in step.input_shapes)

    body = "".join(
        f'<tr><td class="num">{index}</td><td>{escape(shapes(step))}</td>'
        f'<td class="num">{step.ops:,}</td><td class="num">{step.macs:,}</td></tr>'
        for index, step in enumerate(report.steps)
    )
    head = "<tr><th>step</th><th>input shapes</th><th>ops</th><th>MACs</th></tr>"
    return (
        "<h2>Steps (calls of the model)</h2>"
        f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    )


def _phases(report: Report) -> str:
    """A training step's split by phase, when more than the forward ran."""
    if len(report.phases) < 2:
        return ""
    return "".join(
        f" · {escape(name)} <b>{count.ops:,}</b> ops, <b>{count.macs:,}</b> MACs"
        for name, count in report.phases.items()
    )


def to_html(report: Report, title: str = "flopcount report", *, collapse: bool = False) -> str:
    if not isinstance(collapse, bool):
        raise TypeError(f"collapse must be True or False, got {collapse!r}")
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
    tree = icicle(report)
    unsupported = _listing("Not counted (no formula)", report.unsupported) + _listing(
        "Own code not seen (operators=False)", report.uncounted
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="summary"><b>{total:,}</b> ops · <b>{report.macs:,}</b> MACs'
        f"{_phases(report)}</p>"
        + (
            "<h2>Module tree by inclusive ops</h2>"
            '<p class="legend">Each block is a module, as wide as its ops including its '
            "submodules'; the blocks under it are its submodules, and the room they leave is "
            "its own work. Hover a block for its name and counts.</p>" + tree
            if tree
            else ""
        )
        + _bars("Top modules by own ops", by_module, total)
        + _bars("Ops by module type", by_type_items, total)
        + "<h2>Per-layer table</h2>"
        + _table(report, collapse)
        + _steps(report)
        + unsupported
        + "</body></html>\n"
    )
