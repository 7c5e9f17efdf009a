"""Norms (part of the reduction family): ``torch.norm``, ``Tensor.norm``, ``torch.linalg.*norm``.

Vector p-norms reduce groups of ``N`` elements (``N = numel(input) / numel(output)``, as
every reduction in :mod:`.reduction`); per output element they cost

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
from typing import Any

import torch
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg, normalize_dim
from .reduction import reduction_count


def vector_norm_per_group(p: Any) -> Any:
    """The per-output cost ``f(N)`` of the vector p-norm."""
    if p == 2:
        return lambda n: 2 * n
    if p in (1, 0, math.inf, -math.inf):
        return lambda n: 2 * n - 1
    return lambda n: 3 * n


def vector_norm_count(source: Tensor, output: Tensor, p: Any) -> Count:
    """Vector p-norm of groups of ``numel(source) / numel(output)`` elements."""
    return reduction_count(source.numel(), output.numel(), vector_norm_per_group(p))


def matrix_norm_count(shape: tuple[int, ...], ord: Any, dims: Any) -> Count:
    """Matrix norm ``ord`` of the matrices spanning ``dims`` of a tensor of ``shape``."""
    if ord == "fro":
        total = math.prod(shape)
        rows, cols = (shape[normalize_dim(d, len(shape))] for d in dims)
        return reduction_count(total, total // (rows * cols) if rows * cols else 0, lambda n: 2 * n)
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
