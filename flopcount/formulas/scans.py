"""Scans along one dim: ``cumsum``, ``cumprod``, ``diff``...

A scan works on the M = numel / N lines of N elements along ``dim`` (N = 1 for a 0-d
input); each line is independent. Zero-size inputs cost 0; ``macs`` is always zero.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg, normalize_dim
from .primitives import spellings


def lines(shape: tuple[int, ...], dim: int) -> tuple[int, int]:
    """``(M, N)``: the number of lines along ``dim`` and their length."""
    if not shape:
        return 1, 1
    n = shape[normalize_dim(dim, len(shape))]
    return (math.prod(shape) // n if n else 0), n


def scan_count(shape: tuple[int, ...], dim: int, per_line: Any) -> Count:
    """``M · per_line(N)`` ops; 0 for zero-size inputs."""
    m, n = lines(shape, dim)
    if m == 0 or n == 0:
        return Count(0, 0)
    return Count(m * per_line(n), 0)


def _scan(per_line: Any) -> Any:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return scan_count(tuple(args[0].shape), arg(args, kwargs, 1, "dim"), per_line)

    formula.__doc__ = per_line.__doc__
    formula.__qualname__ = formula.__name__ = f"scan_{per_line.__name__}"
    return formula


def running_fold(n: int) -> int:
    """cumsum/cumprod/cummax/cummin: each prefix extends the previous one, N − 1 steps."""
    return n - 1


def log_cum_sum_exp(n: int) -> int:
    """log of running sums of exp (no max shift): N exps, N − 1 adds, N logs = 3N − 1."""
    return n + (n - 1) + n


register_operator(*spellings("cumsum", "cumprod", "cummax", "cummin"))(_scan(running_fold))
register_operator(*spellings("logcumsumexp"))(_scan(log_cum_sum_exp))


def diff_count(length: int, lines_: int, order: int) -> Count:
    """``order`` passes of differences over lines of ``length`` (prepend/append included):
    pass i leaves length − i elements, each one subtract."""
    per_line = sum(max(length - i, 0) for i in range(1, order + 1))
    return Count(lines_ * per_line, 0)


@register_operator(*spellings("diff", inplace=False))
def diff_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``diff(x, n=1, dim=-1, prepend, append)``: M · Σᵢ₌₁ⁿ (L − i)⁺ subtracts, L the
    length along ``dim`` after prepending and appending."""
    source: Tensor = args[0]
    order = arg(args, kwargs, 1, "n", 1)
    dim = normalize_dim(arg(args, kwargs, 2, "dim", -1), source.dim())
    m, length = lines(tuple(source.shape), dim)
    if m == 0 and length:
        return Count(0, 0)
    if length == 0:  # the other dims still say how many lines there are
        m = math.prod(s for i, s in enumerate(source.shape) if i != dim)
    for extra in (arg(args, kwargs, 3, "prepend"), arg(args, kwargs, 4, "append")):
        if isinstance(extra, Tensor):
            length += extra.shape[dim] if extra.dim() else 1
    return diff_count(length, m, order)
