"""Activations: softmax family and elementwise nonlinearities.

Convention (the specification's): each add, subtract, multiply, divide, exp, log, sqrt and
compare is one op. Activations do no multiply-accumulates, so ``macs`` is always zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg, normalize_dim, numel


def implicit_softmax_dim(ndim: int) -> int:
    """The dim PyTorch picks when softmax is called with ``dim=None`` (legacy rule)."""
    return 0 if ndim in (0, 1, 3) else 1


def softmax_count(shape: Sequence[int], dim: int | None) -> Count:
    """Softmax along ``dim``: ``M·(4N − 1)`` ops.

    N = size along ``dim``; M = product of the other sizes. Per row: N exps and N − 1 adds
    for the denominator, then N exps and N divides for the numerators (the specification
    counts the numerator's exps again rather than reusing them).
    """
    ndim = len(shape)
    if dim is None:
        dim = implicit_softmax_dim(ndim)
    total = numel(shape)
    if total == 0:
        return Count(0)
    n = shape[normalize_dim(dim, ndim)] if ndim else 1
    m = total // n
    return Count(m * (4 * n - 1))


@register(nn.Softmax)
def softmax_module(module: nn.Softmax, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Softmax(dim)``: see :func:`softmax_count`."""
    return softmax_count(inputs[0].shape, module.dim)


@register_operator(F.softmax, torch.softmax, Tensor.softmax)
def softmax_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.softmax(input, dim)``, ``torch.softmax``, ``Tensor.softmax``."""
    return softmax_count(args[0].shape, arg(args, kwargs, 1, "dim"))


def pointwise(cost: int) -> Any:
    """Formula factory for activations costing ``cost`` ops per element."""

    def formula(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Count:
        return Count(cost * inputs[0].numel())

    formula.__doc__ = f"{cost} op(s) per input element."
    formula.__qualname__ = formula.__name__ = f"pointwise_{cost}"
    return formula


register(nn.ReLU)(pointwise(1))
