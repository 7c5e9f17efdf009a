"""Optimizer steps: what ``optimizer.step()`` computes per parameter element.

A step updates every element of every parameter with the same elementwise arithmetic, so
its price is ``ops_per_element · numel`` for each parameter tensor, a pure function of the
param group's hyper-parameters. The single-tensor, ``foreach`` and ``fused``
implementations compute the same math (the reference read is torch's
``_single_tensor_sgd`` / ``_single_tensor_adam``), so they cost the same. Per-tensor
scalar bookkeeping (the step counter, bias corrections ``1 − βᵗ``, ``1 − dampening``,
``lr·weight_decay``) is arithmetic on hyper-parameters, folded like the forward's constants
and not counted. Optimizers do no multiply-accumulates (``macs`` 0).
``docs/formulas.md`` ("Optimizer step") derives each count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import optim

from .._count import Count
from .._registry import register_optimizer
from .primitives import ADD, COMPARE, DIV, MUL, NEG, SQRT, SUB, elementwise


def sgd_ops_per_element(
    *,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
    first_step: bool,
) -> int:
    """SGD, per element: ``g ← −g`` (maximize, 1); ``g ← g + wd·p`` (2); the momentum
    buffer ``b ← μ·b + (1 − τ)·g`` (2, 3 when τ ≠ 0; on the first step ``b ← g``, 0);
    Nesterov ``g ← g + μ·b`` (2); the update ``p ← p − lr·g`` (2)."""
    ops = NEG if maximize else 0
    if weight_decay != 0:
        ops += MUL + ADD
    if momentum != 0:
        if not first_step:
            ops += MUL + (MUL if dampening != 0 else 0) + ADD
        if nesterov:
            ops += MUL + ADD
    return ops + MUL + ADD


def adam_ops_per_element(
    *, weight_decay: float, decoupled: bool, amsgrad: bool, maximize: bool
) -> int:
    """Adam / AdamW, per element: ``g ← −g`` (maximize, 1); weight decay, L2 ``g ← g + wd·p``
    (2) or decoupled ``p ← p·(1 − lr·wd)`` (1); ``m ← m + (1 − β₁)·(g − m)`` (3);
    ``v ← β₂·v + (1 − β₂)·g·g`` (4); AMSGrad ``v̂ ← max(v̂, v)`` (1); the denominator
    ``√v / √(1 − β₂ᵗ) + ε`` (3); ``p ← p − (lr / (1 − β₁ᵗ))·m / denominator`` (3).
    13 per element with no option set, the same on every step."""
    ops = NEG if maximize else 0
    if weight_decay != 0:
        ops += MUL if decoupled else MUL + ADD
    ops += SUB + MUL + ADD  # first moment, as lerp
    ops += MUL + MUL + MUL + ADD  # second moment
    if amsgrad:
        ops += COMPARE
    ops += SQRT + DIV + ADD  # denominator
    return ops + DIV + MUL + ADD  # update


@register_optimizer(optim.SGD)
def sgd_step(group: Mapping[str, Any], numel: int, first_step: bool) -> Count:
    """``torch.optim.SGD``: see :func:`sgd_ops_per_element` (per element, times numel)."""
    return elementwise(
        numel,
        sgd_ops_per_element(
            momentum=group.get("momentum", 0),
            dampening=group.get("dampening", 0),
            nesterov=bool(group.get("nesterov", False)),
            weight_decay=group.get("weight_decay", 0),
            maximize=bool(group.get("maximize", False)),
            first_step=first_step,
        ),
    )


@register_optimizer(optim.Adam)
def adam_step(group: Mapping[str, Any], numel: int, first_step: bool) -> Count:
    """``torch.optim.Adam`` (L2 weight decay unless the group says ``decoupled_weight_decay``):
    see :func:`adam_ops_per_element`."""
    return elementwise(
        numel,
        adam_ops_per_element(
            weight_decay=group.get("weight_decay", 0),
            decoupled=bool(group.get("decoupled_weight_decay", False)),
            amsgrad=bool(group.get("amsgrad", False)),
            maximize=bool(group.get("maximize", False)),
        ),
    )


@register_optimizer(optim.AdamW)
def adamw_step(group: Mapping[str, Any], numel: int, first_step: bool) -> Count:
    """``torch.optim.AdamW``: Adam with decoupled weight decay; see
    :func:`adam_ops_per_element`."""
    return elementwise(
        numel,
        adam_ops_per_element(
            weight_decay=group.get("weight_decay", 0),
            decoupled=True,
            amsgrad=bool(group.get("amsgrad", False)),
            maximize=bool(group.get("maximize", False)),
        ),
    )
