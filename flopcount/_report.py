"""What a profile produces: per-module statistics and totals (data only, no printing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from ._diff import ReportDiff
    from ._registry import ModuleFormula


class Node:
    """Mutable per-module accumulator used while a profile runs (one per module).

    Counters default on the class, so building the tree of a 100,000-module model sets
    only the four attributes every node needs.
    """

    children: list[Node] | tuple[()] = ()  # a list once the first child is added
    calls = 0
    self_ops = 0
    self_macs = 0
    shapes: tuple[tuple[int, ...], ...] = ()
    dynamic = False
    unsupported = False

    def __init__(
        self, name: str, module: nn.Module, formula: ModuleFormula | None, parent: Node | None
    ) -> None:
        self.name = name
        self.module = module
        self.formula = formula
        self.parent = parent

    def add_child(self, child: Node) -> None:
        if self.children:
            self.children.append(child)  # type: ignore[union-attr]
        else:
            self.children = [child]

    @property
    def label(self) -> str:
        return self.name or "(root)"


@dataclass(slots=True)
class ModuleStats:
    """Counts of one module. ``ops``/``macs`` include descendants; ``self_*`` do not."""

    name: str
    type: str
    depth: int
    calls: int
    ops: int
    macs: int
    self_ops: int
    self_macs: int
    input_shapes: tuple[tuple[int, ...], ...]
    has_formula: bool
    children: tuple[str, ...]


class Report:
    """Result of a profile: ``total`` ops, ``macs``, per-module ``modules``, ``unsupported``.

    ``str(report)`` is the per-layer table. Rows are built on first access, so a profile
    whose caller only reads the totals pays nothing for them.
    """

    def __init__(self) -> None:
        self._root: Node | None = None
        self._modules: dict[str, ModuleStats] | None = None
        self._totals = (0, 0)
        self.unsupported: dict[str, int] = {}
        self._filled = False

    def _fill(self, root: Node, unsupported: Mapping[str, int]) -> None:
        ops = macs = 0
        todo = [root]
        while todo:
            node = todo.pop()
            ops += node.self_ops
            macs += node.self_macs
            todo.extend(node.children)
        self._root = root
        self._totals = (ops, macs)
        self.unsupported = dict(unsupported)
        self._filled = True

    @classmethod
    def from_rows(cls, rows: Mapping[str, ModuleStats], unsupported: Mapping[str, int]) -> Report:
        report = cls()
        report._modules = dict(rows)
        root = report._modules.get("")
        report._totals = (root.ops, root.macs) if root else (0, 0)
        report.unsupported = dict(unsupported)
        report._filled = True
        return report

    def _require_filled(self) -> None:
        if not self._filled:
            raise RuntimeError(
                "the report is filled in when the profile block ends; read it after the with-block"
            )

    @property
    def modules(self) -> dict[str, ModuleStats]:
        """Rows keyed by qualified module name (root ``""``), in tree order."""
        self._require_filled()
        if self._modules is None:
            modules: dict[str, ModuleStats] = {}
            if self._root is not None:
                _collect(self._root, 0, modules)
            self._modules = modules
        return self._modules

    @property
    def total(self) -> int:
        """Operations of everything counted (the specification's convention)."""
        self._require_filled()
        return self._totals[0]

    @property
    def ops(self) -> int:
        return self.total

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the linear-algebra core of everything counted."""
        self._require_filled()
        return self._totals[1]

    def __iter__(self) -> Iterator[ModuleStats]:
        return iter(self.modules.values())

    def table(self, max_depth: int | None = None, tablefmt: str = "simple") -> str:
        """Per-module table as an indented tree, with a total row."""
        from ._table import render_table

        self._require_filled()
        return render_table(self, max_depth=max_depth, tablefmt=tablefmt)

    def check(
        self,
        max_ops: float | None = None,
        max_macs: float | None = None,
        modules: Mapping[str, float] | None = None,
    ) -> None:
        """Raise :class:`BudgetExceeded` if a total or a module goes over its budget."""
        from ._check import check_report

        self._require_filled()
        check_report(self, max_ops=max_ops, max_macs=max_macs, modules=modules)

    # -- exports ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Versioned, JSON-ready data: totals, units, per-module rows, unsupported."""
        from ._export import to_dict

        return to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        from ._export import to_json

        return to_json(self, indent=indent)

    def to_csv(self) -> str:
        """One CSV row per module with exact integers."""
        from ._export import to_csv

        return to_csv(self)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame indexed by module name (needs pandas)."""
        from ._export import to_dataframe

        return to_dataframe(self)

    def to_html(self, title: str = "flopcount report") -> str:
        """A self-contained HTML page: table plus bar charts of where the ops go."""
        from ._html import to_html

        return to_html(self, title=title)

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Load a report saved with :meth:`to_json`."""
        from ._export import from_json

        return from_json(text)

    def diff(self, other: Report) -> ReportDiff:
        """Per-module changes from this report to ``other``; ``str()`` of it is a table."""
        from ._diff import diff_reports

        return diff_reports(self, other)

    def __str__(self) -> str:
        if not self._filled:
            return "<flopcount.Report (profile still running)>"
        return self.table()

    def __repr__(self) -> str:
        if not self._filled:
            return "<flopcount.Report (profile still running)>"
        return f"<flopcount.Report total={self.total} ops, macs={self.macs}>"


def _collect(node: Node, depth: int, out: dict[str, ModuleStats]) -> tuple[int, int]:
    """Depth-first: fill ``out`` in tree order, return the node's inclusive (ops, macs)."""
    out[node.name] = None  # type: ignore[assignment]  # reserve the tree-order slot
    ops, macs = node.self_ops, node.self_macs
    for child in node.children:
        child_ops, child_macs = _collect(child, depth + 1, out)
        ops += child_ops
        macs += child_macs
    out[node.name] = ModuleStats(
        name=node.name,
        type=type(node.module).__name__,
        depth=depth,
        calls=node.calls,
        ops=ops,
        macs=macs,
        self_ops=node.self_ops,
        self_macs=node.self_macs,
        input_shapes=node.shapes,
        has_formula=node.formula is not None,
        children=tuple(child.name for child in node.children),
    )
    return ops, macs
