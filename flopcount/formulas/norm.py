"""Normalisation: BatchNorm, InstanceNorm, LayerNorm, GroupNorm and RMSNorm.

Normalising is elementwise work: ``macs`` is always zero. Every formula is built from one
op-by-op definition of "standardise a group of N elements with its own statistics":

- mean:      N − 1 adds + 1 divide                      = N ops
- centre:    d = x − mean, N subtracts                   = N ops
- variance:  N multiplies (d·d) + N − 1 adds + 1 divide  = 2N ops
- scale:     s = sqrt(var + eps), 1 add + 1 sqrt         = 2 ops
- divide:    y = d / s, N divides                        = N ops

so a group costs ``5N + 2`` ops (:func:`standardize_count`). An affine ``γ·y + β`` adds one
multiply per element for a weight and one add per element for a bias. Statistics read from
running buffers (BatchNorm / InstanceNorm in eval) cost 2 ops per channel (``+ eps``,
``sqrt``) and 2 per element (``x − mean``, ``/ s``): the textbook form, not a pre-folded
scale and shift. Running-statistic updates in training are counted (see
:func:`running_update_count`); the integer ``num_batches_tracked`` increment is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from .._count import Count
from .._registry import register
from .._shapes import numel


def standardize_count(groups: int, size: int) -> int:
    """``groups`` groups of ``size`` elements normalised by their own mean and variance.

    ``groups·(5·size + 2)`` ops (see the module docstring for the op-by-op definition).
    """
    if groups <= 0 or size <= 0:
        return 0
    return groups * (5 * size + 2)


def running_update_count(
    channels: int, batch: int, mean: bool, var: bool, per_instance: bool
) -> int:
    """Ops of the momentum update of running statistics, per channel.

    ``r ← (1 − m)·r + m·s`` is 2 multiplies and 1 add (``1 − m`` is a Python scalar).
    The variance stored is unbiased: 1 divide of the sum of squared deviations by N − 1.
    BatchNorm: mean 3, var 1 + 3 → 7 per channel. InstanceNorm averages its ``batch``
    per-instance statistics first (a mean of B values: B ops each), so mean B + 3 and var
    B (unbiased) + B + 3 per channel.
    """
    if channels <= 0:
        return 0
    if per_instance:
        return channels * ((batch + 3) * mean + (2 * batch + 3) * var)
    return channels * (3 * mean + 4 * var)


def _norm_count(
    total: int,
    groups: int,
    size: int,
    channels: int,
    batch_stats: bool,
    affine_ops: int,
    update: int,
) -> Count:
    """Shared body: batch statistics or running statistics, then the affine."""
    if total == 0:
        return Count(0)
    if batch_stats:
        ops = standardize_count(groups, size) + update
    else:
        ops = 2 * channels + 2 * total
    return Count(ops + affine_ops * total)


def batch_norm_count(
    shape: Sequence[int],
    batch_stats: bool,
    weight: bool,
    bias: bool,
    update_mean: bool = False,
    update_var: bool = False,
) -> Count:
    """BatchNorm over input (B, C, *): statistics per channel over N = numel/C elements.

    batch stats: ``C·(5N + 2)`` (+ ``running_update_count``); running stats:
    ``2C + 2·numel``; plus ``numel`` per affine term (weight, bias).
    """
    total = numel(shape)
    channels = shape[1] if len(shape) > 1 else 1
    size = total // channels if channels else 0
    update = running_update_count(channels, 1, update_mean, update_var, per_instance=False)
    return _norm_count(total, channels, size, channels, batch_stats, weight + bias, update)


def instance_norm_count(
    shape: Sequence[int],
    batch_stats: bool,
    weight: bool,
    bias: bool,
    update_mean: bool = False,
    update_var: bool = False,
) -> Count:
    """InstanceNorm over input (B, C, *): statistics per (b, c) over N = prod(*).

    batch stats: ``B·C·(5N + 2)`` (+ running update); running stats: ``2C + 2·numel``.
    """
    total = numel(shape)
    batch, channels = shape[0], shape[1]
    size = numel(shape[2:])
    update = running_update_count(channels, batch, update_mean, update_var, per_instance=True)
    return _norm_count(total, batch * channels, size, channels, batch_stats, weight + bias, update)


def layer_norm_count(shape: Sequence[int], normalized_ndim: int, weight: bool, bias: bool) -> Count:
    """LayerNorm over the last ``normalized_ndim`` dims: M·(5N + 2) + affine·numel.

    N = product of the normalised dims, M = numel / N.
    """
    total = numel(shape)
    size = numel(shape[len(shape) - normalized_ndim :])
    groups = total // size if size else 0
    return _norm_count(total, groups, size, 0, True, weight + bias, 0)


def group_norm_count(shape: Sequence[int], num_groups: int, weight: bool, bias: bool) -> Count:
    """GroupNorm of (B, C, *) in G groups: B·G·(5N + 2) + affine·numel, N = (C/G)·prod(*)."""
    total = numel(shape)
    groups = shape[0] * num_groups
    size = total // groups if groups else 0
    return _norm_count(total, groups, size, 0, True, weight + bias, 0)


def rms_norm_count(shape: Sequence[int], normalized_ndim: int, weight: bool) -> Count:
    """RMSNorm ``x / sqrt(mean(x²) + eps) · γ``: M·(3N + 2) + weight·numel.

    Per group of N: N squares, N − 1 adds, 1 divide (the mean), 1 add (eps), 1 sqrt, N
    divides. ``eps=None`` still adds the dtype's machine epsilon.
    """
    total = numel(shape)
    size = numel(shape[len(shape) - normalized_ndim :])
    if total == 0 or size == 0:
        return Count(0)
    return Count((total // size) * (3 * size + 2) + weight * total)


# -- modules ----------------------------------------------------------------------------
_BATCH_NORMS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
)
_INSTANCE_NORMS = (
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LazyInstanceNorm1d,
    nn.LazyInstanceNorm2d,
    nn.LazyInstanceNorm3d,
)


@register(*_BATCH_NORMS)
def batch_norm_module(module: Any, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """BatchNorm*d / SyncBatchNorm: batch statistics in training or without running
    buffers, running statistics otherwise; running buffers updated in training."""
    tracked = module.running_mean is not None
    batch_stats = module.training or not tracked
    update = module.training and tracked
    return batch_norm_count(
        inputs[0].shape,
        batch_stats,
        module.weight is not None,
        module.bias is not None,
        update,
        update and module.running_var is not None,
    )


@register(*_INSTANCE_NORMS)
def instance_norm_module(module: Any, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """InstanceNorm*d: per-instance statistics unless in eval with tracked running stats."""
    shape = tuple(inputs[0].shape)
    if len(shape) == module._get_no_batch_dim():
        shape = (1, *shape)
    tracked = module.running_mean is not None
    batch_stats = module.training or not module.track_running_stats
    update = batch_stats and tracked
    return instance_norm_count(
        shape, batch_stats, module.weight is not None, module.bias is not None, update, update
    )


@register(nn.LayerNorm)
def layer_norm_module(module: nn.LayerNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.LayerNorm``: see :func:`layer_norm_count`."""
    return layer_norm_count(
        inputs[0].shape,
        len(module.normalized_shape),
        module.weight is not None,
        module.bias is not None,
    )


@register(nn.GroupNorm)
def group_norm_module(module: nn.GroupNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.GroupNorm``: see :func:`group_norm_count`."""
    return group_norm_count(
        inputs[0].shape, module.num_groups, module.weight is not None, module.bias is not None
    )


@register(nn.RMSNorm)
def rms_norm_module(module: nn.RMSNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.RMSNorm``: see :func:`rms_norm_count`."""
    return rms_norm_count(inputs[0].shape, len(module.normalized_shape), module.weight is not None)


from . import norm_functional, norm_lrn  # noqa: E402,F401
