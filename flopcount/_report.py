"""What a profile produces: per-module statistics and totals, as plain data.

The engine fills a :class:`Report`; tables, exports, diffs and budget checks read it
through the renderer modules imported here, none of which imports this module back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _diff, _export, _html, _table
from ._check import check_report
from ._count import Count
from ._distributed import CollectiveStats, gather


@dataclass(frozen=True, slots=True)
class OperatorStats:
    """What operator counting counted for one torch function: ops, MACs and calls."""

    ops: int
    macs: int
    calls: int


@dataclass(frozen=True, slots=True)
class Step:
    """One call of the profiled model from outside it (a forward, a prefill, one decode
    step of a generation): what it counted and the shapes it was called with."""

    ops: int
    macs: int
    input_shapes: tuple[tuple[int, ...], ...]

    @property
    def count(self) -> Count:
        return Count(self.ops, self.macs)


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
    phases: dict[str, Count] = field(default_factory=dict)
    """Inclusive counts per phase that ran in the profile (``forward``, and in a training
    step ``backward``, ``recompute``, ``optimizer``); ``ops``/``macs`` are their sum."""


ROOT = "(root)"
"""How tables and messages name the root; accepted wherever a module name is."""


class Modules(dict[str, ModuleStats]):
    """Rows keyed by qualified name. The root's key is ``""`` (as in
    ``model.named_modules()``), and ``"(root)"``, the name tables print, finds it too."""

    def __getitem__(self, name: str) -> ModuleStats:
        return super().__getitem__("" if name == ROOT else name)

    def __contains__(self, name: object) -> bool:
        return super().__contains__("" if name == ROOT else name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get("" if name == ROOT else name, default)


class Report:
    """Result of a profile: ``total`` ops, ``macs``, per-module ``modules``, ``unsupported``,
    ``uncounted``.

    ``unsupported`` maps what ran with no formula to its calls: torch functions, and with
    ``operators=False`` formula-less leaf modules (nothing of them is counted).
    ``uncounted`` is filled by ``operators=False`` profiles only: the formula-less modules
    with children whose own forward code hooks cannot see (their children are counted,
    their own torch calls are not). Pure containers (``nn.Sequential``...) and registered
    composites are in neither.

    ``str(report)`` is the per-layer table. Rows are built on first access, so a profile
    whose caller only reads the totals pays nothing for them.
    """

    def __init__(self) -> None:
        self._build_rows: Callable[[], dict[str, ModuleStats]] | None = None
        self._modules: dict[str, ModuleStats] | None = None
        self._totals = (0, 0)
        self.phases: dict[str, Count] = {}
        """Counts per phase that ran: ``forward``, and in a training step ``backward``,
        ``recompute`` (activation checkpointing) and ``optimizer``; ``total`` is their sum."""
        self.unsupported: dict[str, int] = {}
        self.by_operator: dict[str, OperatorStats] = {}
        """Operator counting: each torch function counted (public name, ``torch.matmul``)."""
        self.steps: list[Step] = []
        """One entry per call of the model from outside it, in order: a loop of forwards or
        ``model.generate()`` (prefill, then each decode step) read step by step."""
        self.uncounted: dict[str, int] = {}
        """Hooks-only profiles: formula-less blocks whose own torch calls (``q @ k.T`` in a
        hand-written attention) were not seen, with their calls; their children are counted."""
        self.collectives: dict[str, dict[str, CollectiveStats]] = {}
        """Distributed runs: ``{module: {collective: CollectiveStats}}``, what each module
        issued itself (its parallel-style hooks included), with the elements and bytes this
        rank sent; never counted as ops."""
        self.wrapped_names: dict[str, str] = {}
        """Rows renamed past a wrapper (DDP's ``module.``, FSDP1's ``_fsdp_wrapped_module.``):
        the row's name -> its name in the wrapper's ``named_modules()``."""
        self.ranks: tuple[Report, ...] = ()
        """A gathered report (:meth:`gather`): each rank's own report, by rank in the group."""
        self._filled = False

    def _fill(
        self,
        phases: Mapping[str, tuple[int, int]],
        build_rows: Callable[[], dict[str, ModuleStats]],
        unsupported: Mapping[str, int],
        uncounted: Mapping[str, int] | None = None,
        totals: tuple[int, int] | None = None,
    ) -> None:
        """Called once by the engine when the profile ends; ``build_rows`` runs on first read.
        ``totals`` defaults to the sum of the phases."""
        self.phases = {name: Count(ops, macs) for name, (ops, macs) in phases.items()}
        self._totals = totals or (
            sum(ops for ops, _ in phases.values()),
            sum(macs for _, macs in phases.values()),
        )
        self._build_rows = build_rows
        self._modules = None
        self.unsupported = dict(unsupported)
        self.uncounted = dict(uncounted or {})
        self._filled = True

    @classmethod
    def from_rows(
        cls,
        rows: Mapping[str, ModuleStats],
        unsupported: Mapping[str, int],
        uncounted: Mapping[str, int] | None = None,
    ) -> Report:
        """A report of ready rows (the root's row, named ``""``, gives the totals)."""
        modules = dict(rows)
        root = modules.get("")
        report = cls()
        if root is None:
            phases: dict[str, tuple[int, int]] = {}
        elif root.phases:
            phases = {name: (count.ops, count.macs) for name, count in root.phases.items()}
        else:
            phases = {"forward": (root.ops, root.macs)}
        totals = (root.ops, root.macs) if root is not None else (0, 0)
        report._fill(phases, lambda: modules, unsupported, uncounted, totals)
        return report

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report from :meth:`to_dict` output (for diffs of saved reports)."""
        if not isinstance(data, dict) or data.get("schema") != _export.SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"not a flopcount report: expected schema {_export.SCHEMA!r}, found {found!r}"
            )
        rows = {}
        for item in data["modules"]:
            rows[item["name"]] = ModuleStats(
                **{name: item[name] for name in _export.ROW_FIELDS},
                input_shapes=tuple(tuple(shape) for shape in item.get("input_shapes", ())),
                has_formula=bool(item.get("has_formula", False)),
                children=tuple(item.get("children", ())),
                phases={
                    phase: Count(int(c["ops"]), int(c["macs"]))
                    for phase, c in item.get("phases", {}).items()
                },
            )
        report = cls.from_rows(rows, data.get("unsupported", {}), data.get("uncounted", {}))
        report.by_operator = {
            name: OperatorStats(int(item["ops"]), int(item["macs"]), int(item["calls"]))
            for name, item in data.get("by_operator", {}).items()
        }
        report.steps = [
            Step(int(item["ops"]), int(item["macs"]), tuple(tuple(s) for s in item["input_shapes"]))
            for item in data.get("steps", ())
        ]
        return report

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Load a report saved with :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def _require_filled(self) -> None:
        if not self._filled:
            raise RuntimeError(
                "the report is filled in when the profile block ends; read it after the with-block"
            )

    @property
    def by_type(self) -> dict[str, Count]:
        """Own (self) ops and MACs per module type, heaviest first."""
        totals: dict[str, Count] = {}
        for row in self.modules.values():
            totals[row.type] = totals.get(row.type, Count(0)) + Count(row.self_ops, row.self_macs)
        return dict(sorted(totals.items(), key=lambda item: -item[1].ops))

    def describe(self, name: str) -> str:
        """How messages name a row: ``'encoder.0' (Block)``, ``(root) (Model)``; an operator
        (a key of ``unsupported`` that is no module) by its public name."""
        row = self.modules.get(name)
        if row is None:
            return name
        return f"{repr(name) if name else '(root)'} ({row.type})"

    @property
    def modules(self) -> dict[str, ModuleStats]:
        """Rows keyed by qualified module name, in tree order; the root is ``""``, also
        found as ``"(root)"``, the name tables print."""
        self._require_filled()
        if self._modules is None:
            build, self._build_rows = self._build_rows, None
            self._modules = Modules(build() if build is not None else {})
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

    def table(
        self,
        max_depth: int | None = None,
        tablefmt: str = "simple",
        *,
        names: str = "tree",
        sort: str | None = None,
        top: int | None = None,
        collapse: bool = False,
    ) -> str:
        """Per-module table with a total row: an indented tree, or ``names="qualified"`` for
        names a budget can use (``layer2.0.conv1``); ``sort="ops"`` (or ``"macs"``) lists
        modules by their own work, heaviest first, and ``top=20`` keeps the first 20.

        ``collapse=True`` folds consecutive siblings ``k, k+1, ...`` of the same type, input
        shapes, counts and submodules into one row, ``layers.0–31 ×32``: its counts are the
        sums over the 32, the ``ops each``/``MACs each`` columns one block's, and the rows
        under it are the first block's submodules summed likewise. Folding happens in the
        tree; ``sort`` then orders the folded rows by their summed own work, ``max_depth``
        and ``top`` limit them. A legend line under the table explains ``×N`` and ``—``
        (a module never called itself, such as a ModuleList)."""
        self._require_filled()
        return _table.render_table(
            self,
            max_depth=max_depth,
            tablefmt=tablefmt,
            names=names,
            sort=sort,
            top=top,
            collapse=collapse,
        )

    def check(
        self,
        max_ops: float | None = None,
        max_macs: float | None = None,
        modules: Mapping[str, float] | None = None,
        *,
        phase: str | None = None,
    ) -> None:
        """Raise :class:`BudgetExceeded` if a total or a module goes over its budget.

        ``phase="backward"`` (or ``"forward"``, ``"recompute"``, ``"optimizer"``) holds that
        phase of a training step to the limits; by default all phases count."""
        __tracebackhide__ = True  # pytest: a failed budget reads from the caller's line
        self._require_filled()
        check_report(self, max_ops=max_ops, max_macs=max_macs, modules=modules, phase=phase)

    # -- exports ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Versioned, JSON-ready data: totals, units, per-module rows, unsupported."""
        return _export.to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return _export.to_json(self, indent=indent)

    def to_csv(self) -> str:
        """One CSV row per module with exact integers; its ``uncounted`` column holds the
        calls whose own forward code went unseen (:attr:`uncounted`; 0 for every other row)."""
        return _export.to_csv(self)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame indexed by module name (needs pandas)."""
        return _export.to_dataframe(self)

    def to_html(self, title: str = "flopcount report", *, collapse: bool = False) -> str:
        """A self-contained HTML page: an icicle of the module tree (inline SVG, widths are
        inclusive ops), bar charts of where the ops go, and the table (``collapse`` as in
        :meth:`table`)."""
        return _html.to_html(self, title=title, collapse=collapse)

    def gather(self, group: Any = None) -> Report:
        """One report for the job: every rank's counts summed (a collective: every rank of
        ``group``, default the default process group, must call it).

        Every count is summed over ranks (totals, each module's ops, MACs, calls and any
        other count field, ``unsupported``, ``by_operator``, ``collectives``); a module some
        ranks lack (a pipeline stage's) counts on the ranks that have it. ``ranks`` holds
        each rank's own report and the table gains the least and most ops of a rank.
        Uses ``torch.distributed.all_gather_object``.
        """
        return gather(self, group)

    def diff(self, other: Report) -> _diff.ReportDiff:
        """Per-module changes from this report to ``other``; ``str()`` of it is a table."""
        if not isinstance(other, Report):
            raise TypeError(f"diff() takes another flopcount.Report, got {type(other).__name__}")
        return _diff.diff_reports(self, other)

    def __str__(self) -> str:
        if not self._filled:
            return "<flopcount.Report (profile still running)>"
        return self.table()

    def __repr__(self) -> str:
        if not self._filled:
            return "<flopcount.Report (profile still running)>"
        return f"<flopcount.Report total={self.total} ops, macs={self.macs}>"
