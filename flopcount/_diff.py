"""What changed between two reports, module by module (pure data + one table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._units import human

if TYPE_CHECKING:
    from ._report import Report


@dataclass(frozen=True, slots=True)
class ModuleChange:
    name: str
    type: str
    before: int
    after: int
    macs_before: int
    macs_after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def _relative(before: int, after: int) -> str:
    if before == after:
        return "0.0%"
    if before == 0:
        return "new"
    return f"{100.0 * (after - before) / before:+.1f}%"


@dataclass(frozen=True)
class ReportDiff:
    """Per-module changes of ops and MACs from ``before`` to ``after``.

    ``changes`` lists every module whose counts differ, in the order of ``after`` (modules
    only in ``before`` last). A missing module counts as zero on its missing side.
    """

    changes: tuple[ModuleChange, ...]
    total_before: int
    total_after: int
    macs_before: int
    macs_after: int

    @property
    def total_delta(self) -> int:
        return self.total_after - self.total_before

    def table(self, tablefmt: str = "simple") -> str:
        from tabulate import tabulate

        rows = [
            [
                c.name or "(root)",
                c.type,
                human(c.before),
                human(c.after),
                _signed(c.delta),
                _relative(c.before, c.after),
                _signed(c.macs_after - c.macs_before),
            ]
            for c in self.changes
        ]
        rows.append(
            [
                "total",
                "",
                human(self.total_before),
                human(self.total_after),
                _signed(self.total_delta),
                _relative(self.total_before, self.total_after),
                _signed(self.macs_after - self.macs_before),
            ]
        )
        return tabulate(
            rows,
            headers=("module", "type", "ops before", "ops after", "Δ ops", "Δ %", "Δ MACs"),
            tablefmt=tablefmt,
            disable_numparse=True,
            colalign=("left", "left", "right", "right", "right", "right", "right"),
        )

    def __str__(self) -> str:
        return self.table()


def _signed(value: int) -> str:
    return ("+" if value > 0 else "") + human(value) if value else "0"


def diff_reports(before: Report, after: Report) -> ReportDiff:
    old, new = before.modules, after.modules
    changes = []
    for name in [*new, *(n for n in old if n not in new)]:
        a, b = old.get(name), new.get(name)
        change = ModuleChange(
            name=name,
            type=(b or a).type,  # type: ignore[union-attr]
            before=a.ops if a else 0,
            after=b.ops if b else 0,
            macs_before=a.macs if a else 0,
            macs_after=b.macs if b else 0,
        )
        if change.before != change.after or change.macs_before != change.macs_after:
            changes.append(change)
    return ReportDiff(tuple(changes), before.total, after.total, before.macs, after.macs)
