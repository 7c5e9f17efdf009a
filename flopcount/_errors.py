"""Exception types of the package; each carries the context a user needs to act."""

from __future__ import annotations

from collections.abc import Mapping


class FlopcountError(Exception):
    """Base class of every error flopcount raises on its own account."""

    __module__ = "flopcount"  # shown as flopcount.FlopcountError in tracebacks


class RegistrationError(FlopcountError, ValueError):
    """A formula registration was refused (duplicate type, not a module type, ...)."""

    __module__ = "flopcount"  # shown as flopcount.RegistrationError in tracebacks


class UnsupportedError(FlopcountError):
    """``strict=True`` and something ran that no formula can count.

    ``unsupported`` maps each module's qualified name or operator's name to its calls;
    ``uncounted`` (hooks-only profiles) the modules whose own forward code was not seen.
    """

    __module__ = "flopcount"  # shown as flopcount.UnsupportedError in tracebacks

    def __init__(
        self,
        unsupported: Mapping[str, int],
        uncounted: Mapping[str, int] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.unsupported = dict(unsupported)
        self.uncounted = dict(uncounted or {})
        names = dict(labels or {})
        parts = []
        if self.unsupported:
            lines = _lines(self.unsupported, names)
            parts.append(
                f"{len(self.unsupported)} module(s)/operator(s) have no formula "
                f"(register one with @flopcount.register, or pass strict=False):\n{lines}"
            )
        if self.uncounted:
            lines = _lines(self.uncounted, names)
            parts.append(
                f"{len(self.uncounted)} module(s) run code of their own that operators=False "
                "cannot see (count with operators=True, or declare a pure container with "
                f"flopcount.register_composite):\n{lines}"
            )
        super().__init__("\n".join(parts))


def _lines(calls: Mapping[str, int], labels: Mapping[str, str]) -> str:
    return "\n".join(
        f"  {labels.get(name, name or '(root)')}: {count} call(s)" for name, count in calls.items()
    )


class DryRunError(FlopcountError):
    """``dry_run=True`` met an operation fake tensors cannot run (its output shape depends
    on tensor values); names the module and the operation."""

    __module__ = "flopcount"  # shown as flopcount.DryRunError in tracebacks


class FormulaError(FlopcountError):
    """A formula raised; names the module or operator and the input shapes."""

    __module__ = "flopcount"  # shown as flopcount.FormulaError in tracebacks


class BudgetExceeded(AssertionError):
    """A count went over its budget. ``offenders`` holds (what, actual, budget) rows.

    It is an :class:`AssertionError` so that a failed budget reads like any failed
    assertion in a test run.
    """

    __module__ = "flopcount"  # shown as flopcount.BudgetExceeded in tracebacks

    def __init__(self, message: str, offenders: list[tuple[str, int, float]]) -> None:
        super().__init__(message)
        self.offenders = offenders
