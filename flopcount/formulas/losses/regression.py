"""Elementwise regression and margin losses: L1, MSE, SmoothL1, Huber, SoftMargin,
MarginRanking, HingeEmbedding.

Convention: each add, subtract, multiply, divide, exp, log, sqrt, abs, negate and compare
is one op; losses do no multiply-accumulates, so ``macs`` is zero (the linear layer of
``LinearCrossEntropyLoss`` is the one exception). Arithmetic on hyper-parameters alone
(``0.5·beta``, ``ε/C``) is folded into constants and costs nothing.

A branch chosen by tensor VALUES (SmoothL1's ``|d| < beta``, Hinge's ``y = ±1``) is
priced value-independently: both branches are evaluated for every element, plus one
compare that selects (the way a vectorised kernel computes ``where(c, a, b)``).

The n per-element losses are then reduced as :mod:`.reduction` prices it.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..._count import Count
from ..._registry import register, register_operator
from ..._shapes import arg
from .reduction import broadcast_numel, elementwise_loss_count, module_reduction, reduction_arg

L1_OPS = 2
"""``|x − y|``: subtract, abs."""
MSE_OPS = 2
"""``(x − y)²``: subtract, square."""
SMOOTH_L1_OPS = 7
"""d = x − y, |d|, compare with beta, ``0.5·d·d/beta`` (3), ``|d| − 0.5·beta`` (1)."""
HUBER_OPS = 7
"""d = x − y, |d|, compare with delta, ``0.5·d·d`` (2), ``delta·(|d| − 0.5·delta)`` (2)."""
SOFT_MARGIN_OPS = 5
"""``log(1 + exp(−y·x))``: multiply, negate, exp, add, log."""
MARGIN_RANKING_OPS = 5
"""``max(0, −y·(x₁ − x₂) + margin)``: subtract, negate, multiply, add, max."""
HINGE_OPS = 3
"""``x`` (free) and ``max(0, margin − x)`` (2), one compare of y selects."""


def _l1_like(per_element: int, args: tuple[Any, ...], kwargs: dict[str, Any], red: str) -> Count:
    weight = arg(args, kwargs, 5, "weight")
    n = broadcast_numel(args[0], args[1])
    if weight is None:
        return elementwise_loss_count(n, per_element, red)
    return elementwise_loss_count(n, per_element + 1, red, weighted_mean=True)


@register(nn.L1Loss)
def l1_module(module: nn.L1Loss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.L1Loss``: 2 ops per element + reduction."""
    return elementwise_loss_count(broadcast_numel(*inputs[:2]), L1_OPS, module_reduction(module))


@register_operator(F.l1_loss)
def l1_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.l1_loss``; a ``weight`` adds a multiply per element and ``Σ weight`` to 'mean'."""
    return _l1_like(L1_OPS, args, kwargs, reduction_arg(args, kwargs, 4, 2, 3))


@register(nn.MSELoss)
def mse_module(module: nn.MSELoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.MSELoss``: 2 ops per element + reduction."""
    return elementwise_loss_count(broadcast_numel(*inputs[:2]), MSE_OPS, module_reduction(module))


@register_operator(F.mse_loss)
def mse_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.mse_loss``; a ``weight`` adds a multiply per element and ``Σ weight`` to 'mean'."""
    return _l1_like(MSE_OPS, args, kwargs, reduction_arg(args, kwargs, 4, 2, 3))


def smooth_l1_ops(beta: float) -> int:
    """Per-element ops of SmoothL1; ``beta == 0`` is plain L1 in PyTorch."""
    return L1_OPS if beta == 0 else SMOOTH_L1_OPS


@register(nn.SmoothL1Loss)
def smooth_l1_module(module: nn.SmoothL1Loss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.SmoothL1Loss(beta)``: 7 ops per element (2 if beta = 0) + reduction."""
    n = broadcast_numel(*inputs[:2])
    return elementwise_loss_count(n, smooth_l1_ops(module.beta), module_reduction(module))


@register_operator(F.smooth_l1_loss)
def smooth_l1_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.smooth_l1_loss(input, target, ..., beta)``."""
    beta = float(arg(args, kwargs, 5, "beta", 1.0))
    red = reduction_arg(args, kwargs, 4, 2, 3)
    return elementwise_loss_count(broadcast_numel(args[0], args[1]), smooth_l1_ops(beta), red)


@register(nn.HuberLoss)
def huber_module(module: nn.HuberLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.HuberLoss(delta)``: 7 ops per element + reduction."""
    return elementwise_loss_count(broadcast_numel(*inputs[:2]), HUBER_OPS, module_reduction(module))


@register_operator(F.huber_loss)
def huber_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.huber_loss``; a ``weight`` adds 1 multiply per element (its 'mean' is plain)."""
    weighted = arg(args, kwargs, 4, "weight") is not None
    red = reduction_arg(args, kwargs, 2)
    n = broadcast_numel(args[0], args[1])
    return elementwise_loss_count(n, HUBER_OPS + weighted, red)


@register(nn.SoftMarginLoss)
def soft_margin_module(module: nn.SoftMarginLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.SoftMarginLoss``: 5 ops per element + reduction."""
    n = broadcast_numel(*inputs[:2])
    return elementwise_loss_count(n, SOFT_MARGIN_OPS, module_reduction(module))


@register_operator(F.soft_margin_loss)
def soft_margin_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.soft_margin_loss``."""
    red = reduction_arg(args, kwargs, 4, 2, 3)
    return elementwise_loss_count(broadcast_numel(args[0], args[1]), SOFT_MARGIN_OPS, red)


@register(nn.MarginRankingLoss)
def margin_ranking_module(
    module: nn.MarginRankingLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.MarginRankingLoss(margin)``: 5 ops per element + reduction."""
    n = broadcast_numel(*inputs[:3])
    return elementwise_loss_count(n, MARGIN_RANKING_OPS, module_reduction(module))


@register_operator(F.margin_ranking_loss)
def margin_ranking_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.margin_ranking_loss(input1, input2, target, margin, ...)``."""
    red = reduction_arg(args, kwargs, 6, 4, 5)
    n = broadcast_numel(args[0], args[1], args[2])
    return elementwise_loss_count(n, MARGIN_RANKING_OPS, red)


@register(nn.HingeEmbeddingLoss)
def hinge_module(module: nn.HingeEmbeddingLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.HingeEmbeddingLoss(margin)``: 3 ops per element + reduction."""
    n = broadcast_numel(*inputs[:2])
    return elementwise_loss_count(n, HINGE_OPS, module_reduction(module))


@register_operator(F.hinge_embedding_loss)
def hinge_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.hinge_embedding_loss(input, target, margin, ...)``."""
    red = reduction_arg(args, kwargs, 5, 3, 4)
    return elementwise_loss_count(broadcast_numel(args[0], args[1]), HINGE_OPS, red)
