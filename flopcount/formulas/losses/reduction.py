"""What every loss shares: reading its ``reduction`` and the cost of reducing n losses.

Reductions of the n per-element losses: ``'none'`` 0, ``'sum'`` n − 1 adds, ``'mean'``
n − 1 adds + 1 divide (``'batchmean'`` likewise, dividing by the batch size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import _reduction

from ..._count import Count
from ..._shapes import arg, numel

_ENUM = {0: "none", 1: "mean", 2: "sum"}


# -- shared helpers -------------------------------------------------------------------
def reduction_arg(
    args: Sequence[Any],
    kwargs: dict[str, Any],
    index: int,
    size_average_index: int | None = None,
    reduce_index: int | None = None,
) -> str:
    """The reduction of a functional loss call, honouring legacy ``size_average``/``reduce``."""
    size_average = reduce = None
    if size_average_index is not None:
        size_average = arg(args, kwargs, size_average_index, "size_average")
    if reduce_index is not None:
        reduce = arg(args, kwargs, reduce_index, "reduce")
    if size_average is not None or reduce is not None:
        return _reduction.legacy_get_string(size_average, reduce, emit_warning=False)
    value = arg(args, kwargs, index, "reduction", "mean")
    return _ENUM[value] if isinstance(value, int) else str(value)


def reduce_ops(n: int, reduction: str) -> int:
    """Ops of reducing ``n`` losses: none 0, sum n − 1, mean/batchmean n − 1 + 1 divide."""
    if n <= 0 or reduction == "none":
        return 0
    if reduction == "sum":
        return n - 1
    return n


def broadcast_numel(*tensors: Any) -> int:
    """Number of elements of the broadcast of ``tensors`` (Python floats broadcast freely)."""
    shapes = [tuple(t.shape) for t in tensors if isinstance(t, Tensor)]
    return numel(torch.broadcast_shapes(*shapes))


def module_reduction(module: nn.Module) -> str:
    return str(getattr(module, "reduction", "mean"))


# -- elementwise losses ----------------------------------------------------------------
def elementwise_loss_count(
    n: int, per_element: int, reduction: str, weighted_mean: bool = False
) -> Count:
    """``per_element`` ops for each of ``n`` losses, then the reduction.

    ``weighted_mean``: a ``'mean'`` divides by ``Σ weight`` (n − 1 more adds).
    """
    if n <= 0:
        return Count(0)
    extra = n - 1 if weighted_mean and reduction == "mean" else 0
    return Count(n * per_element + reduce_ops(n, reduction) + extra)
