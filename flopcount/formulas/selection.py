"""Selection and sorting called directly in a forward: ``topk``, ``kthvalue``, ``median``,
``sort``, ``argsort``, ``msort``.

These are comparisons, one op each, and their number depends on the algorithm and, for
most algorithms, on the values. A formula may not read values, so each is priced by a
named algorithm whose comparison count depends on the shape alone:

- selecting the k largest (or smallest) of N: k rounds, each finding the extreme of the
  elements still left (N − 1, N − 2, … compares): ``k·N − k(k+1)/2``;
- sorting N: merge sort with sentinels, where placing every element of a merge costs one
  compare: ``C(N) = C(⌈N/2⌉) + C(⌊N/2⌋) + N``, ``C(0) = C(1) = 0``.

A tensor holds ``M = numel / N`` independent rows along ``dim``; everything is per row.
Indices, gathers and copies are free; ``macs = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg, normalize_dim, numel


def selection_compares(n: int, k: int) -> int:
    """Compares to pick the k most extreme of n by k rounds of finding the extreme."""
    k = max(0, min(k, n))
    return k * n - k * (k + 1) // 2


@lru_cache(maxsize=256)
def merge_sort_compares(n: int) -> int:
    """Compares of a sentinel merge sort of n elements (one per element per merge level)."""
    if n <= 1:
        return 0
    return merge_sort_compares((n + 1) // 2) + merge_sort_compares(n // 2) + n


def _rows(shape: Sequence[int], dim: int | None) -> tuple[int, int]:
    """(M rows, N elements per row) along ``dim``; ``dim=None`` means all elements."""
    total = numel(shape)
    if dim is None or not shape:
        return (1, total)
    n = shape[normalize_dim(dim, len(shape))]
    return (total // n if n else 0, n)


def select_count(shape: Sequence[int], dim: int | None, k: int) -> Count:
    """M rows, each selecting its k most extreme of N: ``M·(k·N − k(k+1)/2)``."""
    rows, n = _rows(shape, dim)
    return Count(rows * selection_compares(n, k)) if rows and n else Count(0)


def sort_count(shape: Sequence[int], dim: int | None) -> Count:
    """M rows sorted along ``dim``: ``M·C(N)``."""
    rows, n = _rows(shape, dim)
    return Count(rows * merge_sort_compares(n)) if rows and n else Count(0)


def _t(name: str) -> list[Any]:
    """``torch.name`` and ``Tensor.name`` (the objects a TorchFunctionMode receives)."""
    return [getattr(torch, name), getattr(Tensor, name)]


@register_operator(*_t("topk"))
def topk_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``topk(input, k, dim=-1, largest=True, sorted=True)``: k rounds of selection."""
    return select_count(args[0].shape, arg(args, kwargs, 2, "dim", -1), arg(args, kwargs, 1, "k"))


@register_operator(*_t("kthvalue"))
def kthvalue_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``kthvalue(input, k, dim=-1)``: the k-th smallest, k rounds of selection."""
    return select_count(args[0].shape, arg(args, kwargs, 2, "dim", -1), arg(args, kwargs, 1, "k"))


@register_operator(*_t("median"), *_t("nanmedian"))
def median_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``median(input[, dim])``: the lower median, the ``(N − 1)//2 + 1``-th smallest."""
    dim = arg(args, kwargs, 1, "dim")
    _, n = _rows(args[0].shape, dim)
    return select_count(args[0].shape, dim, (n - 1) // 2 + 1)


@register_operator(*_t("sort"), *_t("argsort"))
def sort_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``sort(input, dim=-1, descending=False, stable=False)`` and ``argsort``."""
    dim = arg(args, kwargs, 1, "dim", -1)
    return sort_count(args[0].shape, -1 if isinstance(dim, bool) else dim)


@register_operator(*_t("msort"))
def msort_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``msort(input)``: sorts along dim 0."""
    return sort_count(args[0].shape, 0)
