"""Classification losses: NLL, cross-entropy, multi-class and multi-label margins.

Shapes: input (C), (N, C) or (N, C, d₁, …); C classes along dim 1 (dim 0 unbatched); m =
numel(input)/C rows (one per target position). Integer class labels are bookkeeping:
gathering ``x[y]``, looking up ``weight[y]`` and testing ``y == ignore_index`` cost 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..._compat import optional
from ..._count import Count
from ..._registry import register, register_operator
from ..._shapes import arg, numel
from ..linear import linear_count
from ..primitives import SOFTPLUS
from ..softmax import log_softmax_count
from .reduction import reduce_ops, reduction_arg

LOG_SIGMOID = SOFTPLUS + 2
"""``log σ(x) = −log(1 + exp(−x))``: negate, exp, add, log, negate (the activation's price)."""


def _classes(shape: Sequence[int]) -> tuple[int, int]:
    """(m rows, C classes) of a classification input (class dim 1, or 0 when 1-d)."""
    if not shape:
        return 1, 1
    c = shape[1] if len(shape) >= 2 else shape[0]
    return (numel(shape) // c if c else 0), c


def _mean_of_weights(m: int, reduction: str) -> int:
    """'mean' of NLL-style losses is ``Σ loss / Σ w`` over non-ignored targets: m − 1 more adds."""
    return m - 1 if reduction == "mean" and m > 0 else 0


def nll_count(m: int, weighted: bool, reduction: str) -> Count:
    """NLL over m targets: gather (free), negate, ·weight[y] if weighted, then the reduction.

    'mean' divides by the sum of the targets' weights (or the count of non-ignored targets):
    m − 1 adds for it besides the m − 1 adds and 1 divide of the numerator.
    """
    if m <= 0:
        return Count(0)
    return Count(m * (1 + weighted) + reduce_ops(m, reduction) + _mean_of_weights(m, reduction))


def cross_entropy_count(
    shape: Sequence[int],
    probabilities: bool,
    weighted: bool,
    reduction: str,
    label_smoothing: float,
) -> Count:
    """log_softmax over C (3C per row, the activation family's price) + the NLL part.

    Class indices: :func:`nll_count`; with label smoothing ε > 0 also the smoothing loss
    ``−Σ_c w_c·logp_c`` per row (w: C multiplies; C − 1 adds; negate) reduced like NLL, and
    ``(1 − ε)·nll + (ε/C)·smooth`` (3 per result). Class probabilities: targets smoothed
    (``y·(1 − ε) + ε/C``, 2 per element when ε > 0), ``−Σ_c logp·y(·w)`` (1 or 2 multiplies
    per element, C − 1 adds and a negate per row), 'mean' divides by m.
    """
    m, c = _classes(shape)
    if m * c == 0:
        return Count(0)
    dim = 1 if len(shape) >= 2 else 0
    ops = log_softmax_count(shape, dim).ops
    if probabilities:
        elements = m * c
        ops += 2 * elements if label_smoothing > 0 else 0
        ops += elements * (1 + weighted) + m * (c - 1) + m
        return Count(ops + reduce_ops(m, reduction))
    ops += nll_count(m, weighted, reduction).ops
    if label_smoothing > 0:
        ops += m * c * weighted + m * (c - 1) + m
        ops += reduce_ops(m, reduction) + _mean_of_weights(m, reduction)
        ops += 3 * (m if reduction == "none" else 1)
    return Count(ops)


def _is_probabilities(input: Tensor, target: Tensor) -> bool:
    return target.is_floating_point() and tuple(target.shape) == tuple(input.shape)


@register(nn.CrossEntropyLoss)
def cross_entropy_module(
    module: nn.CrossEntropyLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.CrossEntropyLoss``: see :func:`cross_entropy_count`."""
    x, y = inputs[0], inputs[1]
    return cross_entropy_count(
        x.shape,
        _is_probabilities(x, y),
        module.weight is not None,
        module.reduction,
        float(module.label_smoothing),
    )


@register_operator(F.cross_entropy)
def cross_entropy_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.cross_entropy(input, target, weight, ..., reduction, label_smoothing)``."""
    x, y = args[0], args[1]
    return cross_entropy_count(
        x.shape,
        _is_probabilities(x, y),
        arg(args, kwargs, 2, "weight") is not None,
        reduction_arg(args, kwargs, 6, 3, 5),
        float(arg(args, kwargs, 7, "label_smoothing", 0.0)),
    )


@register(optional("torch.nn.LinearCrossEntropyLoss"))
def linear_cross_entropy_module(module: Any, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """Linear ``(…, in) → (…, C·Πd)`` then cross-entropy on logits (…, C, d₁, …)."""
    x, y = inputs[0], inputs[1]
    outs = tuple(module.out_features)
    lead = tuple(x.shape[:-1])
    logits = (*lead, module.num_classes, *outs)
    linear = linear_count(
        tuple(x.shape), numel((module.num_classes, *outs)), module.linear.bias is not None
    )
    probabilities = y.is_floating_point() and tuple(y.shape) == logits
    return linear + cross_entropy_count(
        logits,
        probabilities,
        module.weight is not None,
        module.reduction,
        float(module.label_smoothing),
    )


@register(nn.NLLLoss)
def nll_module(module: nn.NLLLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.NLLLoss(weight, ignore_index)``: see :func:`nll_count`."""
    return nll_count(inputs[1].numel(), module.weight is not None, module.reduction)


@register_operator(F.nll_loss)
def nll_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.nll_loss(input, target, weight, ..., reduction)``."""
    weighted = arg(args, kwargs, 2, "weight") is not None
    return nll_count(args[1].numel(), weighted, reduction_arg(args, kwargs, 6, 3, 5))


def multi_margin_count(shape: Sequence[int], p: int, weighted: bool, reduction: str) -> Count:
    """Per row, for each of the C − 1 other classes i: ``max(0, margin − x[y] + x[i])`` (3),
    squared if p = 2 (1), ·weight[y] if weighted (1); C − 2 adds and 1 divide by C.
    """
    m, c = _classes(shape)
    if m * c == 0:
        return Count(0)
    terms = c - 1
    row = terms * (3 + (p == 2) + weighted) + max(terms - 1, 0) + 1
    return Count(m * row + reduce_ops(m, reduction))


@register(nn.MultiMarginLoss)
def multi_margin_module(
    module: nn.MultiMarginLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.MultiMarginLoss(p, margin, weight)``: see :func:`multi_margin_count`."""
    weighted = module.weight is not None
    return multi_margin_count(inputs[0].shape, module.p, weighted, module.reduction)


@register_operator(F.multi_margin_loss)
def multi_margin_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.multi_margin_loss(input, target, p, margin, weight, ...)``."""
    p = int(arg(args, kwargs, 2, "p", 1))
    weighted = arg(args, kwargs, 4, "weight") is not None
    return multi_margin_count(args[0].shape, p, weighted, reduction_arg(args, kwargs, 7, 5, 6))


def multilabel_margin_count(shape: Sequence[int], reduction: str) -> Count:
    """Dense convention: every ordered class pair (j, i) gets ``max(0, 1 − x[j] + x[i])`` (3),
    masked to j a target and i not one (free), summed (C² − 1) and divided by C: 4C² per row.
    """
    m, c = _classes(shape)
    if m * c == 0:
        return Count(0)
    return Count(m * 4 * c * c + reduce_ops(m, reduction))


@register(nn.MultiLabelMarginLoss)
def multilabel_margin_module(
    module: nn.MultiLabelMarginLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.MultiLabelMarginLoss``: see :func:`multilabel_margin_count`."""
    return multilabel_margin_count(inputs[0].shape, module.reduction)


@register_operator(F.multilabel_margin_loss)
def multilabel_margin_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.multilabel_margin_loss(input, target, ...)``."""
    return multilabel_margin_count(args[0].shape, reduction_arg(args, kwargs, 4, 2, 3))


def multilabel_soft_margin_count(shape: Sequence[int], weighted: bool, reduction: str) -> Count:
    """``−(y·logσ(x) + (1 − y)·logσ(−x))`` per element: 2 log-sigmoids (5 each), negate of x,
    1 − y, 2 multiplies, add, negate (16); ·weight (1). Per row over the last dim C: C − 1
    adds and a divide by C.
    """
    total = numel(shape)
    if total == 0:
        return Count(0)
    c = shape[-1] if shape else 1
    m = total // c
    per = 2 * LOG_SIGMOID + 6 + weighted
    return Count(total * per + m * c + reduce_ops(m, reduction))


@register(nn.MultiLabelSoftMarginLoss)
def multilabel_soft_margin_module(
    module: nn.MultiLabelSoftMarginLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.MultiLabelSoftMarginLoss(weight)``: see :func:`multilabel_soft_margin_count`."""
    weighted = module.weight is not None
    return multilabel_soft_margin_count(inputs[0].shape, weighted, module.reduction)


@register_operator(F.multilabel_soft_margin_loss)
def multilabel_soft_margin_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.multilabel_soft_margin_loss(input, target, weight, ...)``."""
    weighted = arg(args, kwargs, 2, "weight") is not None
    red = reduction_arg(args, kwargs, 5, 3, 4)
    return multilabel_soft_margin_count(args[0].shape, weighted, red)


@register_operator(optional("torch.nn.functional.linear_cross_entropy"))
def linear_cross_entropy_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.linear_cross_entropy(input, linear_weight (C, d₁…, in), target, *, linear_bias, …)``."""
    x, w, y = args[0], args[1], args[2]
    logits = (*tuple(x.shape[:-1]), *tuple(w.shape[:-1]))
    bias = kwargs.get("linear_bias") is not None
    linear = linear_count(tuple(x.shape), numel(tuple(w.shape[:-1])), bias)
    probabilities = y.is_floating_point() and tuple(y.shape) == logits
    return linear + cross_entropy_count(
        logits,
        probabilities,
        kwargs.get("weight") is not None,
        reduction_arg(args, kwargs, 99),
        float(kwargs.get("label_smoothing", 0.0)),
    )
