"""Budget checks: a report's totals and chosen modules held to maximum counts.

Pure functions of report data; the ``budget()`` context manager, which runs a profile,
lives with the profiler.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._count import Count
from ._errors import BudgetExceeded
from ._table import render_offenders

if TYPE_CHECKING:
    from ._report import Report


def _validate_limit(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or None, got {type(value).__name__} {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return value


PHASES = ("forward", "backward", "recompute", "optimizer")


def validate_budget(
    max_ops: object = None, max_macs: object = None, modules: object = None, phase: object = None
) -> dict[str, float]:
    """Check budget arguments up front; returns the per-module globs. ``ValueError`` if bad."""
    if phase is not None and phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)} or None, got {phase!r}")
    _validate_limit("max_ops", max_ops)
    _validate_limit("max_macs", max_macs)
    if modules is None:
        return {}
    if not isinstance(modules, Mapping):
        raise ValueError(
            f"modules must map qualified-name globs to max ops, got {type(modules).__name__}"
        )
    globs: dict[str, float] = {}
    for pattern, limit in modules.items():
        if not isinstance(pattern, str):
            raise ValueError(f"module budget keys must be glob strings, got {pattern!r}")
        checked = _validate_limit(f"modules[{pattern!r}]", limit)
        if checked is None:
            raise ValueError(f"modules[{pattern!r}] must be a number, got None")
        globs[pattern] = checked
    return globs


def offenders(
    report: Report,
    *,
    max_ops: float | None = None,
    max_macs: float | None = None,
    modules: Mapping[str, float] | None = None,
    phase: str | None = None,
) -> list[tuple[str, int, float]]:
    """Every (what, actual, budget) over its limit; raises ``ValueError`` for bad limits.
    ``phase`` holds one phase (``"backward"``...) to the limits instead of all of them."""
    globs = validate_budget(max_ops, max_macs, modules, phase)
    rows: list[tuple[str, int, float]] = []
    zero = Count(0)
    total = report.phases.get(phase, zero) if phase else Count(report.total, report.macs)
    what = f"{phase} " if phase else "total "
    if max_ops is not None and total.ops > max_ops:
        rows.append((f"{what}ops", total.ops, max_ops))
    if max_macs is not None and total.macs > max_macs:
        rows.append((f"{what}MACs", total.macs, max_macs))
    for pattern, limit in globs.items():
        if pattern == "(root)":
            matched = [""]
        else:
            matched = [name for name in report.modules if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            examples = [name for name in report.modules if name][:3]
            hint = (
                f"names look like {', '.join(map(repr, examples))}"
                if examples
                else "the model has no submodules; '' (or '(root)') is the whole model"
            )
            raise ValueError(f"module budget {pattern!r} matches no module; {hint}")
        for name in matched:
            row = report.modules[name]
            ops = row.phases.get(phase, zero).ops if phase else row.ops
            if ops > limit:
                rows.append((f"{what if phase else ''}ops of {report.describe(name)}", ops, limit))
    return rows


def check_report(
    report: Report,
    *,
    max_ops: float | None = None,
    max_macs: float | None = None,
    modules: Mapping[str, float] | None = None,
    phase: str | None = None,
) -> None:
    """Raise :class:`BudgetExceeded`, listing every offender, if anything is over budget."""
    __tracebackhide__ = True
    rows = offenders(report, max_ops=max_ops, max_macs=max_macs, modules=modules, phase=phase)
    if rows:
        raise BudgetExceeded(
            f"flopcount budget exceeded ({len(rows)} over):\n{render_offenders(rows)}", rows
        )
