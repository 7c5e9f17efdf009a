"""Reductions called directly in a forward: ``x.sum(dim)``, ``torch.var``, ``x.max(-1)``...

Every reduction folds groups of ``N`` input elements into one output element each. The
group size is read from the shapes alone, ``N = numel(input) / numel(output)``, which is
right for every way of naming the reduced dims (``dim=None``, an int, a negative int, a
tuple, ``keepdim``) and for 0-d inputs (N = 1). With ``R = numel(output)`` outputs a
reduction costs ``R · f(N)`` ops, ``f`` being the per-group cost below; a zero-size input
or output costs 0. Reductions do no multiply-accumulates (``macs = 0``). Scans (``cumsum``,
``diff``...) are in :mod:`.scans`.

Norms (``torch.norm``, ``Tensor.norm``, ``torch.linalg.*norm``) are reductions too: vector
p-norms reduce groups of ``N`` elements and cost, per output element
(:func:`.primitives.p_norm_ops`),

* p = 2 (and ``'fro'``): N squares, N − 1 adds, 1 square root = 2N;
* p = 1: N absolute values, N − 1 adds = 2N − 1;
* p = ±∞: N absolute values, N − 1 compares = 2N − 1;
* p = 0 (count of non-zeros): N compares, N − 1 adds = 2N − 1;
* any other p: N absolute values, N powers, N − 1 adds, 1 power 1/p = 3N.

Matrix norms ±1 and ±∞ sum absolute values along one dim (S elements) and take the
max/min of the T sums: S·T abs + (S − 1)·T adds + T − 1 compares per matrix. The spectral
(±2) and nuclear norms need a singular value decomposition, which flopcount does not
price: their formula raises, so the profile reports a :class:`~flopcount.FormulaError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg, first_tensor, normalize_dim
from .primitives import (
    ADD,
    COMPARE,
    MUL,
    ROUND,
    SUB,
    elementwise,
    output_numel,
    p_norm_ops,
    spellings,
)

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
        return elementwise(output_numel(output), 1)
    source = args[0] if args else kwargs["input"]
    return reduction_count(source.numel(), first_tensor(output).numel(), fold)


def vector_norm_per_group(p: Any) -> Any:
    """The per-output cost ``f(N)`` of the vector p-norm: :func:`.primitives.p_norm_ops`."""
    return lambda n: p_norm_ops(n, float(p))


def vector_norm_count(source: Tensor, output: Tensor, p: Any) -> Count:
    """Vector p-norm of groups of ``numel(source) / numel(output)`` elements."""
    return reduction_count(source.numel(), output.numel(), vector_norm_per_group(p))


def matrix_norm_count(shape: tuple[int, ...], ord: Any, dims: Any) -> Count:
    """Matrix norm ``ord`` of the matrices spanning ``dims`` of a tensor of ``shape``."""
    if ord == "fro":
        total = math.prod(shape)
        rows, cols = (shape[normalize_dim(d, len(shape))] for d in dims)
        groups = total // (rows * cols) if rows * cols else 0
        return reduction_count(total, groups, vector_norm_per_group(2))
    if ord in (1, -1, math.inf, -math.inf):
        row_dim, col_dim = (normalize_dim(d, len(shape)) for d in dims)
        summed, kept = (row_dim, col_dim) if ord in (1, -1) else (col_dim, row_dim)
        s, t = shape[summed], shape[kept]
        matrices = math.prod(shape) // (s * t) if s * t else 0
        if matrices == 0:
            return Count(0, 0)
        return Count(matrices * (s * t + (s - 1) * t + (t - 1)), 0)
    raise ValueError(
        f"the matrix norm ord={ord!r} needs a singular value decomposition, "
        "which flopcount does not price"
    )


@register_operator(torch.norm, Tensor.norm)
def norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``torch.norm(x, p='fro', dim=None)``: ``'fro'`` is the 2-norm over ``dim``; a number
    is the vector p-norm over ``dim`` (all elements when None); ``'nuc'`` raises."""
    p = arg(args, kwargs, 1, "p", "fro")
    if p == "nuc":
        return matrix_norm_count(tuple(args[0].shape), p, (-2, -1))
    return vector_norm_count(args[0], output, 2 if p == "fro" else p)


@register_operator(torch.linalg.vector_norm)
def vector_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``linalg.vector_norm(x, ord=2, dim=None)``: see :func:`vector_norm_per_group`."""
    return vector_norm_count(args[0], output, arg(args, kwargs, 1, "ord", 2))


@register_operator(torch.linalg.matrix_norm)
def matrix_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``linalg.matrix_norm(A, ord='fro', dim=(-2, -1))``: see :func:`matrix_norm_count`."""
    ord = arg(args, kwargs, 1, "ord", "fro")
    dims = arg(args, kwargs, 2, "dim", (-2, -1))
    return matrix_norm_count(tuple(args[0].shape), ord, dims)


@register_operator(torch.linalg.norm)
def linalg_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``linalg.norm(A, ord=None, dim=None)``: a vector norm for an int ``dim``, for 1-d
    input or for ``ord=None``; a matrix norm for a 2-tuple ``dim`` or a 2-d input."""
    source = args[0]
    ord = arg(args, kwargs, 1, "ord")
    dim = arg(args, kwargs, 2, "dim")
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        if ord is None or source.dim() == 1:
            return vector_norm_count(source, output, 2 if ord is None else ord)
        dim = (-2, -1)
    if len(dim) == 1 and not isinstance(ord, str):
        return vector_norm_count(source, output, 2 if ord is None else ord)
    return matrix_norm_count(tuple(source.shape), "fro" if ord is None else ord, tuple(dim))


HISTC_OPS_PER_ELEMENT = COMPARE + COMPARE + SUB + MUL + ROUND + ADD
"""Per element: two compares with the range ends, ``(x − min)`` times the precomputed
``bins / (max − min)``, floor to a bin, one add to that bin's count."""


@register_operator(*spellings("histc", inplace=False))
def histc_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``histc(input, bins=100, min=0, max=0)``: N elements binned at
    ``HISTC_OPS_PER_ELEMENT`` (6) ops each. With ``min == max`` torch first finds the range
    from the data: the min and the max, N − 1 compares each. Mixture-of-experts routers
    count tokens per expert this way."""
    n = args[0].numel()
    if n <= 0:
        return Count(0)
    low, high = arg(args, kwargs, 2, "min", 0), arg(args, kwargs, 3, "max", 0)
    range_ops = 2 * (n - 1) * COMPARE if low == high else 0
    return Count(n * HISTC_OPS_PER_ELEMENT + range_ops)
