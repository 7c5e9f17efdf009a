"""The per-module table. The only file that imports tabulate; rendering is pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate, tabulate_formats

from ._units import human, percent

if TYPE_CHECKING:
    from ._report import ModuleStats, Report

HEADERS = ("module", "type", "calls", "input shape", "ops", "MACs", "share")
_MAX_SHAPES = 2


def _name_cell(row: ModuleStats) -> str:
    leaf = row.name.rsplit(".", 1)[-1] if row.name else "(root)"
    return "  " * row.depth + leaf


def _shape_cell(row: ModuleStats) -> str:
    shapes = ["×".join(map(str, shape)) or "scalar" for shape in row.input_shapes[:_MAX_SHAPES]]
    if len(row.input_shapes) > _MAX_SHAPES:
        shapes.append("…")
    return ", ".join(shapes)


def table_rows(report: Report, max_depth: int | None) -> list[list[str]]:
    total = report.total
    rows = [
        [
            _name_cell(row),
            row.type,
            str(row.calls),
            _shape_cell(row),
            human(row.ops),
            human(row.macs),
            percent(row.ops, total),
        ]
        for row in report.modules.values()
        if max_depth is None or row.depth <= max_depth
    ]
    rows.append(["total", "", "", "", human(total), human(report.macs), percent(total, total)])
    return rows


FORMATS: tuple[str, ...] = tuple(sorted(tabulate_formats))


def render_table(report: Report, *, max_depth: int | None = None, tablefmt: str = "simple") -> str:
    if max_depth is not None and (
        isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0
    ):
        raise ValueError(f"max_depth must be a non-negative int or None, got {max_depth!r}")
    text = tabulate(
        table_rows(report, max_depth),
        headers=HEADERS,
        tablefmt=tablefmt,
        colalign=("left", "left", "right", "left", "right", "right", "right"),
        disable_numparse=True,
        preserve_whitespace=True,
    )
    for heading, calls in (
        ("not counted (no formula)", report.unsupported),
        ("own code not seen (operators=False)", report.uncounted),
    ):
        if calls:
            names = ", ".join(f"{report.describe(n)} ×{c}" for n, c in sorted(calls.items()))
            text += f"\n{heading}: {names}"
    return text


def render_offenders(rows: list[tuple[str, int, float]]) -> str:
    """Table of budget offenders: what, actual, budget, overshoot."""

    def number(value: float) -> str:  # small numbers once, large ones also readable
        return f"{value:,.0f}" if abs(value) < 1000 else f"{value:,.0f} ({human(value)})"

    body = [
        [
            what,
            number(actual),
            number(budget),
            f"+{100.0 * (actual - budget) / budget:.1f}%" if budget > 0 else "+inf%",
        ]
        for what, actual, budget in rows
    ]
    return tabulate(
        body,
        headers=("over budget", "actual", "budget", "overshoot"),
        disable_numparse=True,
        colalign=("left", "right", "right", "right"),
    )
