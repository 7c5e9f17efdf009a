"""Readable numbers for tables (data exports keep exact integers)."""

from __future__ import annotations

_PREFIXES = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def human(value: float) -> str:
    """``1234567`` -> ``'1.23 M'``; below a thousand the exact number."""
    magnitude = abs(value)
    for scale, prefix in _PREFIXES:
        if magnitude >= scale:
            return f"{value / scale:.2f} {prefix}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def percent(part: int, whole: int) -> str:
    if whole <= 0:
        return "-"
    return f"{100.0 * part / whole:.1f}%"
