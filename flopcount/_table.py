"""The per-module table. The only file that imports tabulate; rendering is pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate, tabulate_formats

from ._units import human, percent

if TYPE_CHECKING:
    from ._report import ModuleStats, Report

HEADERS = ("module", "type", "calls", "input shape", "ops", "self ops", "MACs", "share")
NUMERIC = (2, 4, 5, 6, 7)  # right-aligned columns
RANK_HEADERS = ("min ops/rank", "max ops/rank")
"""A gathered report's extra columns: the least and the most ops one rank spent on a row."""
NAMES = ("tree", "qualified")
SORTS = {"ops": "self_ops", "macs": "self_macs"}
"""``table(sort=...)`` keys: the heaviest modules by their own (self) work."""
_MAX_SHAPES = 2


def _name_cell(row: ModuleStats, names: str) -> str:
    if names == "qualified":
        return row.name or "(root)"
    leaf = row.name.rsplit(".", 1)[-1] if row.name else "(root)"
    return "  " * row.depth + leaf


def _shape_cell(row: ModuleStats) -> str:
    shapes = ["×".join(map(str, shape)) or "scalar" for shape in row.input_shapes[:_MAX_SHAPES]]
    if len(row.input_shapes) > _MAX_SHAPES:
        shapes.append("…")
    return ", ".join(shapes)


def table_rows(
    report: Report,
    max_depth: int | None,
    *,
    names: str = "tree",
    sort: str | None = None,
    top: int | None = None,
) -> list[list[str]]:
    """Rows in tree order (``names="tree"`` indents leaf names), or, with ``sort``, the
    modules by their own work, heaviest first, under qualified names; ``top`` keeps the first
    rows. The total row closes every table."""
    total = report.total
    selected = [
        row for row in report.modules.values() if max_depth is None or row.depth <= max_depth
    ]
    if sort is not None:
        key = SORTS[sort]
        selected.sort(key=lambda row: -getattr(row, key))
        names = "qualified"
    if top is not None:
        selected = selected[:top]
    rows = [
        [
            _name_cell(row, names),
            row.type,
            str(row.calls),
            _shape_cell(row),
            human(row.ops),
            human(row.self_ops),
            human(row.macs),
            percent(row.ops, total),
            *_rank_cells(report, row.name),
        ]
        for row in selected
    ]
    rows.append(
        [
            "total",
            *("", "", "", human(total), "", human(report.macs), percent(total, total)),
            *_rank_cells(report, None),
        ]
    )
    return rows


def _rank_cells(report: Report, name: str | None) -> list[str]:
    """Least and most ops of one rank on row ``name`` (None: the total); a rank that does
    not run the module (another pipeline stage) spends 0 on it."""
    if not report.ranks:
        return []
    spent = [
        r.total if name is None else getattr(r.modules.get(name), "ops", 0) for r in report.ranks
    ]
    return [human(min(spent)), human(max(spent))]


FORMATS: tuple[str, ...] = tuple(sorted(tabulate_formats))


def render_table(
    report: Report,
    *,
    max_depth: int | None = None,
    tablefmt: str = "simple",
    names: str = "tree",
    sort: str | None = None,
    top: int | None = None,
) -> str:
    if not isinstance(tablefmt, str) or tablefmt not in FORMATS:
        raise ValueError(
            f"tablefmt must be one of tabulate's formats ({', '.join(FORMATS[:6])}, ...), "
            f"got {tablefmt!r}"
        )
    for option, value in (("max_depth", max_depth), ("top", top)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValueError(f"{option} must be a non-negative int or None, got {value!r}")
    if names not in NAMES:
        raise ValueError(f"names must be one of {', '.join(map(repr, NAMES))}, got {names!r}")
    if sort is not None and sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(map(repr, SORTS))} or None, got {sort!r}")
    headers = HEADERS + (RANK_HEADERS if report.ranks else ())
    text = tabulate(
        table_rows(report, max_depth, names=names, sort=sort, top=top),
        headers=headers,
        tablefmt=tablefmt,
        colalign=tuple(
            "right" if i in NUMERIC or i >= len(HEADERS) else "left" for i in range(len(headers))
        ),
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
    if report.collectives:
        text += "\ncollectives (not counted as ops): " + _collectives_cell(report)
    return text


def _collectives_cell(report: Report) -> str:
    return "; ".join(
        f"{report.describe(module)} {name} ×{c.calls}, {human(c.elements)} elements "
        f"({human(c.bytes)} bytes)"
        for module, issued in report.collectives.items()
        for name, c in issued.items()
    )


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


def render_breakdown(report: Report, by: str) -> str:
    """``by="operator"``: what operator counting counted per torch function; ``by="type"``:
    the modules' own work per module type. Heaviest first, exact integers beside readable."""
    if by == "operator":
        rows = [
            [name, str(s.calls), human(s.ops), human(s.macs)]
            for name, s in report.by_operator.items()
        ]
        headers: tuple[str, ...] = ("torch function", "calls", "ops", "MACs")
    else:
        rows = [[name, human(c.ops), human(c.macs)] for name, c in report.by_type.items()]
        headers = ("module type", "self ops", "self MACs")
    return tabulate(rows, headers=headers, disable_numparse=True)
