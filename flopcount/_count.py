"""The value every formula returns: elementary operations and multiply-accumulates."""

from __future__ import annotations

from typing import NamedTuple


class Count(NamedTuple):
    """Cost of one call: ``ops`` in the specification's convention, ``macs`` of the
    linear-algebra core (zero for elementwise work).

    Counts are exact Python integers, so they never overflow, even for models that only
    exist on the ``meta`` device.
    """

    ops: int
    macs: int = 0

    def __add__(self, other: object) -> Count:  # type: ignore[override]
        if not isinstance(other, Count):
            return NotImplemented
        return Count(self.ops + other.ops, self.macs + other.macs)

    def __mul__(self, factor: object) -> Count:  # type: ignore[override]
        if not isinstance(factor, int):
            return NotImplemented
        return Count(self.ops * factor, self.macs * factor)

    def __rmul__(self, factor: object) -> Count:  # type: ignore[override]
        return self.__mul__(factor)


ZERO = Count(0, 0)


def as_count(value: Count | int) -> Count:
    """Normalise a formula's return value (a :class:`Count` or a bare ``int`` of ops).

    ``TypeError`` for anything else, ``ValueError`` for a negative count: counts are never
    negative (a zero-size input costs 0).
    """
    if type(value) is Count:
        count = value
    elif isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, tuple) and len(value) == 2:
            count = Count(int(value[0]), int(value[1]))
        else:
            raise TypeError(
                f"a formula must return flopcount.Count or int, got {type(value).__name__}"
            )
    else:
        count = Count(value, 0)
    if count.ops < 0 or count.macs < 0:
        raise ValueError(f"a formula must not return a negative count, got {count}")
    return count
