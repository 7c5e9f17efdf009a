"""Likelihood losses: BCE, BCE with logits, KL divergence, Poisson and Gaussian NLL.

Same conventions as :mod:`.regression`: one op per elementary operation, ``macs`` zero,
hyper-parameter arithmetic folded, then the shared reductions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..._count import Count
from ..._registry import register, register_operator
from ..._shapes import arg
from .reduction import broadcast_numel, elementwise_loss_count, module_reduction, reduction_arg

BCE_OPS = 9
"""``(y − 1)·max(log(1 − x), −100) − y·max(log x, −100)``: 9 ops."""
BCE_LOGITS_OPS = 11
"""``(1 − y)·x + max(−x, 0) + log(1 + exp(−|x|))``: 3 + 8 ops."""
KL_DIV_OPS = 3
"""``y·(log y − x)`` or ``exp(y)·(y − x)``."""


@register(nn.BCELoss)
def bce_module(module: nn.BCELoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.BCELoss``: 9 ops per element (+1 with ``weight``) + reduction."""
    n = broadcast_numel(*inputs[:2])
    weighted = module.weight is not None
    return elementwise_loss_count(n, BCE_OPS + weighted, module_reduction(module))


@register_operator(F.binary_cross_entropy)
def bce_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.binary_cross_entropy(input, target, weight, ...)``."""
    weighted = arg(args, kwargs, 2, "weight") is not None
    red = reduction_arg(args, kwargs, 5, 3, 4)
    n = broadcast_numel(args[0], args[1])
    return elementwise_loss_count(n, BCE_OPS + weighted, red)


def bce_with_logits_count(
    n: int, weighted: bool, pos_weight: Tensor | None, reduction: str
) -> Count:
    """``(1 − y)·x + l·softplus(−x)`` with ``l = 1 + (p − 1)·y`` when ``pos_weight`` p is given.

    softplus(−x) = max(−x, 0) + log(1 + exp(−|x|)) (8 ops), plus (1 − y)·x and the add
    (3): 11 per element. pos_weight: ``p − 1`` once per element of p, then ·y, +1, ·softplus
    (3 per element). weight: 1 multiply per element.
    """
    if n <= 0:
        return Count(0)
    per = BCE_LOGITS_OPS + weighted + (3 if pos_weight is not None else 0)
    once = pos_weight.numel() if pos_weight is not None else 0
    return Count(once) + elementwise_loss_count(n, per, reduction)


@register(nn.BCEWithLogitsLoss)
def bce_logits_module(
    module: nn.BCEWithLogitsLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.BCEWithLogitsLoss(weight, pos_weight)``: see :func:`bce_with_logits_count`."""
    n = broadcast_numel(*inputs[:2])
    weighted = module.weight is not None
    return bce_with_logits_count(n, weighted, module.pos_weight, module_reduction(module))


@register_operator(F.binary_cross_entropy_with_logits)
def bce_logits_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.binary_cross_entropy_with_logits(input, target, weight, ..., pos_weight)``."""
    weighted = arg(args, kwargs, 2, "weight") is not None
    pos_weight = arg(args, kwargs, 6, "pos_weight")
    red = reduction_arg(args, kwargs, 5, 3, 4)
    return bce_with_logits_count(broadcast_numel(args[0], args[1]), weighted, pos_weight, red)


def kl_div_count(input_shape: Sequence[int], n: int, reduction: str, log_target: bool) -> Count:
    """KL divergence pointwise ``y·(log y − x)``, or ``exp(y)·(y − x)`` with log_target: 3 ops
    either way (one log or exp, one subtract, one multiply).

    'batchmean' sums and divides by the batch size (a 0-d input is only summed).
    """
    if reduction == "batchmean" and len(input_shape) == 0:
        reduction = "sum"
    return elementwise_loss_count(n, KL_DIV_OPS, reduction)


@register(nn.KLDivLoss)
def kl_div_module(module: nn.KLDivLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.KLDivLoss(reduction, log_target)``: see :func:`kl_div_count`."""
    n = broadcast_numel(*inputs[:2])
    return kl_div_count(inputs[0].shape, n, module_reduction(module), module.log_target)


@register_operator(F.kl_div)
def kl_div_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.kl_div(input, target, ..., reduction, log_target)``."""
    red = reduction_arg(args, kwargs, 4, 2, 3)
    log_target = bool(arg(args, kwargs, 5, "log_target", False))
    return kl_div_count(args[0].shape, broadcast_numel(args[0], args[1]), red, log_target)


def poisson_nll_ops(log_input: bool, full: bool) -> int:
    """``exp(x) − y·x`` (3) or ``x − y·log(x + eps)`` (4); ``full`` adds the Stirling term
    ``y·log y − y + 0.5·log(2πy)`` (7), the compare ``y > 1`` that masks it, and the add (9).
    """
    return (3 if log_input else 4) + (9 if full else 0)


@register(nn.PoissonNLLLoss)
def poisson_module(module: nn.PoissonNLLLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.PoissonNLLLoss(log_input, full)``: see :func:`poisson_nll_ops`."""
    per = poisson_nll_ops(module.log_input, module.full)
    return elementwise_loss_count(broadcast_numel(*inputs[:2]), per, module_reduction(module))


@register_operator(F.poisson_nll_loss)
def poisson_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.poisson_nll_loss(input, target, log_input, full, ..., eps, ..., reduction)``."""
    log_input = bool(arg(args, kwargs, 2, "log_input", True))
    full = bool(arg(args, kwargs, 3, "full", False))
    red = reduction_arg(args, kwargs, 7, 4, 6)
    n = broadcast_numel(args[0], args[1])
    return elementwise_loss_count(n, poisson_nll_ops(log_input, full), red)


def gaussian_nll_count(
    input: Tensor, target: Tensor, var: Any, full: bool, reduction: str
) -> Count:
    """``0.5·(log v + (x − y)²/v)`` with v = max(var, eps).

    Per element of var: clamp, log (a float var is a tensor of the input's shape). Per loss
    element: subtract, square, divide, add, halve (5), +1 with ``full`` (add 0.5·log 2π).
    """
    n = broadcast_numel(input, target, var)
    if n <= 0:
        return Count(0)
    var_elements = var.numel() if isinstance(var, Tensor) else input.numel()
    return Count(2 * var_elements) + elementwise_loss_count(n, 5 + bool(full), reduction)


@register(nn.GaussianNLLLoss)
def gaussian_module(module: nn.GaussianNLLLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.GaussianNLLLoss(full, eps)``: see :func:`gaussian_nll_count`."""
    var = inputs[2]
    if isinstance(var, Tensor) and var.dim() == inputs[0].dim() - 1:
        var = var.unsqueeze(-1)
    return gaussian_nll_count(inputs[0], inputs[1], var, module.full, module_reduction(module))


@register_operator(F.gaussian_nll_loss)
def gaussian_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.gaussian_nll_loss(input, target, var, full, eps, reduction)``."""
    var = arg(args, kwargs, 2, "var")
    if isinstance(var, Tensor) and var.dim() == args[0].dim() - 1:
        var = var.unsqueeze(-1)
    full = bool(arg(args, kwargs, 3, "full", False))
    return gaussian_nll_count(args[0], args[1], var, full, reduction_arg(args, kwargs, 5))
