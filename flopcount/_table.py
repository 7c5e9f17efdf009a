"""The per-module table. The only file that imports tabulate; rendering is pure.

:func:`table_lines` decides the rows (the HTML table reads them too): one per module in
tree order; with ``collapse=True`` one per run of identical consecutive siblings
(``layers.0–31 ×32``); with ``sort`` the heaviest first. :func:`render_table` turns them into
text, with one legend line for each notation the table uses.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tabulate import tabulate, tabulate_formats

from ._units import human, percent

if TYPE_CHECKING:
    from ._report import ModuleStats, Report

RANK_HEADERS = ("min ops/rank", "max ops/rank")
"""A gathered report's extra columns: the least and the most ops one rank spent on a row."""
NAMES = ("tree", "qualified")
SORTS = {"ops": "self_ops", "macs": "self_macs"}
"""``table(sort=...)`` keys: the heaviest modules by their own (self) work."""
NOT_CALLED = "—"
LEGEND_NOT_CALLED = (
    f"{NOT_CALLED}: not called itself: a container such as ModuleList, whose children are "
    "called directly (its row sums theirs), or a part its parent's formula counts "
    "(MultiheadAttention's out_proj)"
)
LEGEND_FOLDED = (
    "×N: N consecutive siblings alike in type, input shapes, counts and submodules, in one "
    "row; it and the rows under it show sums over the N, 'ops each' and 'MACs each' one of them"
)
_ROOT = "(root)"
_MAX_SHAPES = 2
_RANGE = "–"  # en dash: layers.0–31


@dataclass(frozen=True, slots=True)
class Line:
    """One row of the table: a module, or ``fold`` > 1 consecutive identical siblings.

    ``repeats`` is how many modules the line stands for: its ``fold`` times the folds of
    the lines above it. Its counts are ``repeats`` times those of ``row``, the first module.
    """

    row: ModuleStats
    path: str
    """Qualified name, folded ranges included (``layers.0–31.attn``); ``""`` is the root."""
    leaf: str
    """The last part of ``path`` (``0–31``, ``attn``)."""
    fold: int = 1
    repeats: int = 1

    def label(self, names: str) -> str:
        suffix = f" ×{self.fold}" if self.fold > 1 else ""
        if names == "qualified":
            return (self.path or _ROOT) + suffix
        return "  " * self.row.depth + (self.leaf or _ROOT) + suffix

    def phase_ops(self, phase: str) -> int:
        """Ops of one phase (``"backward"``...), summed over the modules the line stands for."""
        found = self.row.phases.get(phase)
        return 0 if found is None else found.ops * self.repeats

    def count(self, field: str) -> int:
        """``"ops"``, ``"self_ops"``, ``"macs"``, ``"self_macs"`` or ``"calls"``, summed over
        the modules the line stands for."""
        return int(getattr(self.row, field)) * self.repeats


def _relative(name: str, parent: str) -> str:
    return name[len(parent) + 1 :] if parent else name


def _roots(modules: Mapping[str, ModuleStats]) -> list[str]:
    """The rows no row lists as a child: the root (and, in a hand-made report, any other)."""
    inner = {child for row in modules.values() for child in row.children}
    return [name for name in modules if name not in inner]


def _signatures(modules: Mapping[str, ModuleStats]) -> dict[str, int]:
    """A number per module, equal for two modules exactly when they have the same type,
    input shapes, calls and counts, and submodules of the same names, recursively alike."""
    order: list[str] = []
    stack = _roots(modules)[::-1]
    seen: set[str] = set()
    while stack:  # pre-order without recursion: children are numbered before parents
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        order.append(name)
        stack.extend(child for child in modules[name].children if child in modules)
    numbers: dict[Hashable, int] = {}
    signature: dict[str, int] = {}
    for name in reversed(order):
        row = modules[name]
        key = (
            row.type,
            row.input_shapes,
            row.calls,
            row.ops,
            row.macs,
            row.self_ops,
            row.self_macs,
            row.has_formula,
            tuple(
                (_relative(child, name), signature[child])
                for child in row.children
                if child in signature
            ),
        )
        signature[name] = numbers.setdefault(key, len(numbers))
    return signature


def _runs(children: list[str], parent: str, signature: Mapping[str, int] | None) -> list[list[str]]:
    """Consecutive siblings that fold: indexed ``k, k+1, ...`` and alike (one-element runs
    for everything else, and for all when ``signature`` is None)."""
    runs: list[list[str]] = []
    for child in children:
        if signature is not None and runs:
            last = runs[-1][-1]
            index, previous = _relative(child, parent), _relative(last, parent)
            if (
                index.isdigit()
                and previous.isdigit()
                and int(index) == int(previous) + 1
                and signature[child] == signature[last]
            ):
                runs[-1].append(child)
                continue
        runs.append([child])
    return runs


def table_lines(
    report: Report,
    max_depth: int | None = None,
    *,
    sort: str | None = None,
    top: int | None = None,
    collapse: bool = False,
) -> list[Line]:
    """The table's rows: modules in tree order down to ``max_depth``; with ``collapse``
    consecutive identical siblings as one line; with ``sort`` ordered by their own work
    (summed over a folded line), heaviest first; ``top`` keeps the first lines."""
    modules = report.modules
    signature = _signatures(modules) if collapse else None
    lines: list[Line] = []
    # pre-order without recursion (a model may nest deeper than Python's stack allows):
    # each pending run of siblings with its parent's name, path and repeats
    pending = [(run, "", "", 1) for run in reversed(_runs(_roots(modules), "", signature))]
    while pending:
        run, parent, parent_path, repeats = pending.pop()
        first = modules[run[0]]
        if max_depth is not None and first.depth > max_depth:
            continue
        leaf = _relative(run[0], parent)
        if len(run) > 1:
            leaf += _RANGE + _relative(run[-1], parent)
        path = f"{parent_path}.{leaf}" if parent_path else leaf
        line = Line(first, path, leaf, len(run), repeats * len(run))
        lines.append(line)
        children = [child for child in first.children if child in modules]
        pending.extend(
            (child_run, first.name, path, line.repeats)
            for child_run in reversed(_runs(children, first.name, signature))
        )
    if sort is not None:
        lines.sort(key=lambda line: -line.count(SORTS[sort]))  # stable: ties in tree order
    return lines if top is None else lines[:top]


def _shape_cell(row: ModuleStats) -> str:
    if row.calls == 0:
        return NOT_CALLED
    shapes = ["×".join(map(str, shape)) or "scalar" for shape in row.input_shapes[:_MAX_SHAPES]]
    if len(row.input_shapes) > _MAX_SHAPES:
        shapes.append("…")
    return ", ".join(shapes)


@dataclass(frozen=True, slots=True)
class Table:
    """What a table shows: headers, cells, which columns are numbers, and legend lines."""

    headers: tuple[str, ...]
    rows: list[list[str]]
    numeric: frozenset[int]
    legend: tuple[str, ...]


def table_columns(
    report: Report,
    max_depth: int | None = None,
    *,
    names: str = "tree",
    sort: str | None = None,
    top: int | None = None,
    collapse: bool = False,
) -> Table:
    """The cells of the per-module table (the text table's and the HTML table's).

    Columns: module, type, calls, input shape, ops, self ops, MACs, share; in a training
    step, the ops of each phase that ran (``forward ops``, ``backward ops``...) follow
    ``MACs``; when a line is folded, ``ops each`` and ``MACs each`` (one of the folded
    modules) come next.
    ``sort`` names rows by qualified name (an indented tree means nothing out of order).
    The last row is the report's total."""
    lines = table_lines(report, max_depth, sort=sort, top=top, collapse=collapse)
    if sort is not None:
        names = "qualified"
    total = report.total
    folded = any(line.repeats > 1 for line in lines)
    # a training step: the ops of each phase that ran, beside their sum
    phases = tuple(report.phases) if len(report.phases) > 1 else ()
    rows = []
    for line in lines:
        cells = [
            line.label(names),
            line.row.type,
            str(line.count("calls")) if line.row.calls else NOT_CALLED,
            _shape_cell(line.row),
            human(line.count("ops")),
            human(line.count("self_ops")),
            human(line.count("macs")),
        ]
        cells += [human(line.phase_ops(phase)) for phase in phases]
        if folded:
            many = line.repeats > 1
            cells += [human(line.row.ops) if many else "", human(line.row.macs) if many else ""]
        rows.append(
            [*cells, percent(line.count("ops"), total), *_rank_cells(report, line.row.name, line)]
        )
    headers: tuple[str, ...] = ("module", "type", "calls", "input shape", "ops", "self ops", "MACs")
    headers += tuple(f"{phase} ops" for phase in phases)
    headers += (*(("ops each", "MACs each") if folded else ()), "share")
    headers += RANK_HEADERS if report.ranks else ()
    total_row = ["total", "", "", "", human(total), "", human(report.macs)]
    total_row += [human(report.phases[phase].ops) for phase in phases]
    total_row += ["", ""] if folded else []
    rows.append([*total_row, percent(total, total), *_rank_cells(report, None, None)])
    legend: tuple[str, ...] = (LEGEND_FOLDED,) if folded else ()
    legend += (LEGEND_NOT_CALLED,) if any(line.row.calls == 0 for line in lines) else ()
    numeric = frozenset(
        i for i, h in enumerate(headers) if h not in ("module", "type", "input shape")
    )
    return Table(headers, rows, numeric, legend)


def _rank_cells(report: Report, name: str | None, line: Line | None) -> list[str]:
    """Least and most ops of one rank on row ``name`` (None: the total), times the modules a
    folded line stands for; a rank that does not run the module (another pipeline stage)
    spends 0 on it."""
    if not report.ranks:
        return []
    repeats = line.repeats if line is not None else 1
    spent = [
        r.total if name is None else getattr(r.modules.get(name), "ops", 0) * repeats
        for r in report.ranks
    ]
    return [human(min(spent)), human(max(spent))]


FORMATS: tuple[str, ...] = tuple(sorted(tabulate_formats))


def check_table_options(
    *,
    max_depth: object,
    tablefmt: object,
    names: object,
    sort: object,
    top: object,
    collapse: object,
) -> None:
    """Raise a ValueError (TypeError for ``collapse``) naming a bad option of ``table()``."""
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
    if not isinstance(collapse, bool):
        raise TypeError(f"collapse must be True or False, got {collapse!r}")


def render_table(
    report: Report,
    *,
    max_depth: int | None = None,
    tablefmt: str = "simple",
    names: str = "tree",
    sort: str | None = None,
    top: int | None = None,
    collapse: bool = False,
) -> str:
    check_table_options(
        max_depth=max_depth, tablefmt=tablefmt, names=names, sort=sort, top=top, collapse=collapse
    )
    table = table_columns(report, max_depth, names=names, sort=sort, top=top, collapse=collapse)
    text = tabulate(
        table.rows,
        headers=table.headers,
        tablefmt=tablefmt,
        colalign=tuple(
            "right" if i in table.numeric else "left" for i in range(len(table.headers))
        ),
        disable_numparse=True,
        preserve_whitespace=True,
    )
    for line in table.legend:
        text += f"\n{line}"
    for heading, calls in (
        ("not counted (no formula)", report.unsupported),
        ("own code not seen (operators=False)", report.uncounted),
    ):
        if calls:
            listed = ", ".join(f"{report.describe(n)} ×{c}" for n, c in sorted(calls.items()))
            text += f"\n{heading}: {listed}"
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
