"""Reductions called directly in a forward: ``x.sum(dim)``, ``torch.var``, ``x.max(-1)``...

Every reduction folds groups of ``N`` input elements into one output element each. The
group size is read from the shapes alone, ``N = numel(input) / numel(output)``, which is
right for every way of naming the reduced dims (``dim=None``, an int, a negative int, a
tuple, ``keepdim``) and for 0-d inputs (N = 1). With ``R = numel(output)`` outputs a
reduction costs ``R · f(N)`` ops, ``f`` being the per-group cost below; a zero-size input
or output costs 0. Reductions do no multiply-accumulates (``macs = 0``). Norms live in
:mod:`.reduction_norm`, scans (``cumsum``, ``diff``...) in :mod:`.reduction_scan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import first_tensor
from .elementwise import elementwise_count, output_numel, spellings

PerGroup = Callable[[int], int]


def reduction_count(input_numel: int, output_numel: int, per_group: PerGroup) -> Count:
    """``R · per_group(N)`` ops with ``R = output_numel`` and ``N = input_numel / R``.

    Zero when either side is empty (an empty group yields its identity with no arithmetic).
    """
    if input_numel <= 0 or output_numel <= 0:
        return Count(0, 0)
    return Count(output_numel * max(per_group(input_numel // output_numel), 0), 0)


def fold(n: int) -> int:
    """N − 1 binary steps fold N elements into one (adds for a sum, compares for a max)."""
    return n - 1


def mean(n: int) -> int:
    """N − 1 adds and 1 divide."""
    return n


def variance(n: int) -> int:
    """Two-pass variance: mean (N − 1 adds, 1 divide), N subtracts, N squares,
    N − 1 adds, 1 divide by ``N − correction`` = 4N. The correction only changes the
    divisor, so ``unbiased``/``correction`` do not change the count."""
    return (n - 1) + 1 + n + n + (n - 1) + 1


def standard_deviation(n: int) -> int:
    """The variance and one square root: 4N + 1."""
    return variance(n) + 1


def log_sum_exp(n: int) -> int:
    """log Σ exp x, the specification's way (no max shift): N exps, N − 1 adds, 1 log = 2N."""
    return n + (n - 1) + 1


def min_and_max(n: int) -> int:
    """``aminmax``: two independent folds of N − 1 compares."""
    return 2 * (n - 1)


def count_nonzero(n: int) -> int:
    """N compares with zero and N − 1 adds of the resulting ones."""
    return n + (n - 1)


def reducer(per_group: PerGroup) -> Any:
    """Operator formula of a reduction costing ``per_group(N)`` per output element."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        source = args[0] if args else kwargs["input"]
        result = first_tensor(output)
        return reduction_count(source.numel(), result.numel(), per_group)

    formula.__doc__ = f"Reduction: R · {per_group.__name__}(N) ops. {per_group.__doc__}"
    formula.__qualname__ = formula.__name__ = f"reduce_{per_group.__name__}"
    return formula


register_operator(*spellings("sum", "prod", "amax", "amin", "argmax", "argmin", inplace=False))(
    reducer(fold)
)
# all/any: N − 1 logical and/or steps; reading each element as a truth value is a cast (free).
register_operator(*spellings("all", "any", inplace=False))(reducer(fold))
register_operator(*spellings("mean", inplace=False))(reducer(mean))
register_operator(*spellings("var", "var_mean", inplace=False))(reducer(variance))
register_operator(*spellings("std", "std_mean", inplace=False))(reducer(standard_deviation))
register_operator(*spellings("logsumexp", inplace=False))(reducer(log_sum_exp))
register_operator(*spellings("aminmax", inplace=False))(reducer(min_and_max))
register_operator(*spellings("count_nonzero", inplace=False))(reducer(count_nonzero))


@register_operator(*spellings("max", "min", inplace=False))
def max_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``max``/``min`` in their three forms.

    ``max(x)`` and ``max(x, dim)`` are reductions: N − 1 compares per output (the indices
    ``max(x, dim)`` also returns are tracked alongside, free). ``max(a, b)`` with a tensor
    ``b`` is the elementwise ``maximum``: 1 compare per output element.
    """
    other = args[1] if len(args) > 1 else kwargs.get("other")
    if isinstance(other, Tensor):
        return elementwise_count(output_numel(output), 1)
    source = args[0] if args else kwargs["input"]
    return reduction_count(source.numel(), first_tensor(output).numel(), fold)


from . import reduction_norm, reduction_scan  # noqa: E402,F401
