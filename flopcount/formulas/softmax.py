"""The softmax family: Softmax (the specification), Softmin, LogSoftmax, Softmax2d and
AdaptiveLogSoftmaxWithLoss, as modules and as functions.

Softmax along ``dim`` costs ``M·(4N − 1)`` ops, N = size along ``dim``, M = the product of
the other sizes (the specification's page, ``spec/softmax-seed.txt``). All follow the
specification's Softmax convention: no max is subtracted before ``exp``
(a numerical-stability detail of kernels, not part of the definition), a row sum of N
terms is N − 1 adds, and ``dim=None`` resolves like PyTorch's legacy rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg, normalize_dim, numel
from .primitives import dot_products


def implicit_softmax_dim(ndim: int) -> int:
    """The dim PyTorch picks when softmax is called with ``dim=None`` (legacy rule)."""
    return 0 if ndim in (0, 1, 3) else 1


def softmax_rows(shape: Sequence[int], dim: int | None) -> tuple[int, int]:
    """``(M, N)`` of a softmax-like reduction: N = size along ``dim``, M = the other sizes.

    ``dim=None`` resolves like PyTorch (:func:`implicit_softmax_dim`); a 0-d tensor is one
    row of one element; a zero-size tensor is ``(0, 0)``.
    """
    ndim = len(shape)
    if dim is None:
        dim = implicit_softmax_dim(ndim)
    total = numel(shape)
    if total == 0:
        return 0, 0
    n = shape[normalize_dim(dim, ndim)] if ndim else 1
    return total // n, n


def softmax_count(shape: Sequence[int], dim: int | None) -> Count:
    """Softmax along ``dim``: ``M·(4N − 1)`` ops.

    N = size along ``dim``; M = product of the other sizes. Per row: N exps and N − 1 adds
    for the denominator, then N exps and N divides for the numerators (the specification
    counts the numerator's exps again rather than reusing them).
    """
    m, n = softmax_rows(shape, dim)
    return Count(m * (4 * n - 1)) if m else Count(0)


@register(nn.Softmax)
def softmax_module(module: nn.Softmax, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Softmax(dim)``: see :func:`softmax_count`."""
    return softmax_count(inputs[0].shape, module.dim)


# torch.ao's quantized Softmax runs the same math with a quantized kernel
register(optional("torch.ao.nn.quantized.Softmax"))(softmax_module)


@register_operator(F.softmax, torch.softmax, Tensor.softmax)
def softmax_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.softmax(input, dim)``, ``torch.softmax``, ``Tensor.softmax``."""
    return softmax_count(args[0].shape, arg(args, kwargs, 1, "dim"))


register_operator(torch.special.softmax)(softmax_operator)


def softmin_count(shape: Sequence[int], dim: int | None) -> Count:
    """Softmin ``softmax(−x)`` along ``dim``: ``M·(5N − 1)`` ops.

    M·N negations, then the softmax of the negated rows, ``M·(4N − 1)``.
    """
    m, n = softmax_rows(shape, dim)
    return Count(m * (5 * n - 1)) if m else Count(0)


def log_softmax_count(shape: Sequence[int], dim: int | None) -> Count:
    """LogSoftmax ``x − log Σ exp x`` along ``dim``: ``3·M·N`` ops.

    Per row: N exps and N − 1 adds for the sum, 1 log, N subtracts.
    """
    m, n = softmax_rows(shape, dim)
    return Count(m * (n + (n - 1) + 1 + n))


@register(nn.Softmin)
def softmin_module(module: nn.Softmin, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Softmin(dim)``: see :func:`softmin_count`."""
    return softmin_count(inputs[0].shape, module.dim)


@register_operator(F.softmin)
def softmin_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.softmin(input, dim)``: see :func:`softmin_count`."""
    return softmin_count(args[0].shape, arg(args, kwargs, 1, "dim"))


@register(nn.LogSoftmax)
def log_softmax_module(module: nn.LogSoftmax, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.LogSoftmax(dim)``: see :func:`log_softmax_count`."""
    return log_softmax_count(inputs[0].shape, module.dim)


@register_operator(F.log_softmax, torch.log_softmax, Tensor.log_softmax, torch.special.log_softmax)
def log_softmax_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.log_softmax(input, dim)``, ``torch.log_softmax``, ``Tensor.log_softmax``."""
    return log_softmax_count(args[0].shape, arg(args, kwargs, 1, "dim"))


@register(nn.Softmax2d)
def softmax2d_module(module: nn.Softmax2d, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Softmax2d``: softmax over the channel dim (−3) of (N, C, H, W) or (C, H, W).

    ``M·(4C − 1)`` with M = N·H·W (H·W unbatched).
    """
    return softmax_count(inputs[0].shape, -3)


def adaptive_log_softmax_count(
    input_shape: Sequence[int],
    head: tuple[int, bool],
    tails: Sequence[tuple[int, int]],
) -> Count:
    """AdaptiveLogSoftmaxWithLoss, priced dense: every row through the head and every tail.

    B rows (1 for a 1-d input) of ``d`` features; ``head = (h, head_bias)`` with h the
    shortlist size plus the number of clusters; ``tails`` = ``(hsz_i, osz_i)`` per cluster.

    - head Linear (d → h) and its log-softmax: ``B·h`` dot products of d, ``3·B·h``;
    - cluster i: Linear (d → hsz_i), Linear (hsz_i → osz_i), log-softmax ``3·B·osz_i``;
    - the gathered head and cluster log-probabilities added: ``B``;
    - the loss, mean of the negated outputs: ``B`` negations, ``B − 1`` adds, 1 divide.

    Which rows reach a cluster depends on the target values, which formulas never read;
    the dense count is an upper bound of ``forward`` (the head and tail work of ``log_prob``).
    """
    rows = 1
    for size in input_shape[:-1]:
        rows *= size
    features = input_shape[-1] if input_shape else 1
    if rows == 0:
        return Count(0)
    head_size, head_bias = head
    total = dot_products(rows * head_size, features, head_bias)
    total += Count(3 * rows * head_size)
    for hidden, out in tails:
        total += dot_products(rows * hidden, features, False)
        total += dot_products(rows * out, hidden, False)
        total += Count(3 * rows * out)
    return total + Count(rows + rows + (rows - 1) + 1)


@register(nn.AdaptiveLogSoftmaxWithLoss)
def adaptive_log_softmax_module(
    module: nn.AdaptiveLogSoftmaxWithLoss, inputs: tuple[Any, ...], output: Any
) -> Count:
    """``nn.AdaptiveLogSoftmaxWithLoss(input, target)``: see :func:`adaptive_log_softmax_count`."""
    head = (module.head.out_features, module.head.bias is not None)
    tails = [
        (projection[0].out_features, projection[1].out_features)  # type: ignore[index]
        for projection in module.tail
    ]
    return adaptive_log_softmax_count(inputs[0].shape, head, tails)
