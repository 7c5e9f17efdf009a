"""Normalisation, as modules and as functions: BatchNorm, InstanceNorm, LayerNorm, GroupNorm,
RMSNorm, LocalResponseNorm, CrossMapLRN2d and ``F.normalize``.

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


The ``F.`` and ``torch.`` forms of batch and instance norm take their arguments in
different orders; one factory reads both. Cross-channel norms (LRN) and ``F.normalize``
price their power ``t ** β`` and their p-norms at the one price of :mod:`.primitives`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg, normalize_dim, numel
from .primitives import ADD, DIV, MUL, POW, p_norm_ops, rows_along


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
    # torch.ao's quantized norms: the same math with a quantized kernel (likewise below)
    *(optional(f"torch.ao.nn.quantized.InstanceNorm{n}d") for n in (1, 2, 3)),
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


@register(nn.LayerNorm, optional("torch.ao.nn.quantized.LayerNorm"))
def layer_norm_module(module: nn.LayerNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.LayerNorm``: see :func:`layer_norm_count`."""
    return layer_norm_count(
        inputs[0].shape,
        len(module.normalized_shape),
        module.weight is not None,
        module.bias is not None,
    )


@register(nn.GroupNorm, optional("torch.ao.nn.quantized.GroupNorm"))
def group_norm_module(module: nn.GroupNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.GroupNorm``: see :func:`group_norm_count`."""
    return group_norm_count(
        inputs[0].shape, module.num_groups, module.weight is not None, module.bias is not None
    )


@register(nn.RMSNorm)
def rms_norm_module(module: nn.RMSNorm, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.RMSNorm``: see :func:`rms_norm_count`."""
    return rms_norm_count(inputs[0].shape, len(module.normalized_shape), module.weight is not None)


def _ndim(normalized_shape: Any) -> int:
    return 1 if isinstance(normalized_shape, int) else len(normalized_shape)


def _statistics_norm(
    count: Callable[..., Count], flag: tuple[int, str, bool], positions: tuple[int, int, int, int]
) -> Callable[[tuple[Any, ...], dict[str, Any], Tensor], Count]:
    """An operator formula for batch or instance norm, whose ``F.`` and ``torch.`` forms
    differ only in where they take ``weight``, ``bias``, ``running_mean`` and
    ``running_var`` (``positions``, in that order) and the name of the statistics flag."""
    flag_index, flag_name, flag_default = flag
    names = ("weight", "bias", "running_mean", "running_var")

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
        batch_stats = bool(arg(args, kwargs, flag_index, flag_name, flag_default))
        weight, bias, mean, var = (
            arg(args, kwargs, index, name) is not None
            for index, name in zip(positions, names, strict=True)
        )
        return count(
            args[0].shape, batch_stats, weight, bias, batch_stats and mean, batch_stats and var
        )

    formula.__doc__ = f"{count.__name__} with the statistics flag ``{flag_name}`` at {flag_index}."
    return formula


# F.batch_norm(input, running_mean, running_var, weight, bias, training, ...)
register_operator(F.batch_norm)(
    _statistics_norm(batch_norm_count, (5, "training", False), (3, 4, 1, 2))
)
# torch.batch_norm(input, weight, bias, running_mean, running_var, training, ...)
register_operator(torch.batch_norm)(
    _statistics_norm(batch_norm_count, (5, "training", False), (1, 2, 3, 4))
)
# F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, ...)
register_operator(F.instance_norm)(
    _statistics_norm(instance_norm_count, (5, "use_input_stats", True), (3, 4, 1, 2))
)
# torch.instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, ...)
register_operator(torch.instance_norm)(
    _statistics_norm(instance_norm_count, (5, "use_input_stats", True), (1, 2, 3, 4))
)


@register_operator(F.layer_norm, torch.layer_norm)
def layer_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.layer_norm`` / ``torch.layer_norm(input, normalized_shape, weight, bias, eps)``."""
    return layer_norm_count(
        args[0].shape,
        _ndim(arg(args, kwargs, 1, "normalized_shape")),
        arg(args, kwargs, 2, "weight") is not None,
        arg(args, kwargs, 3, "bias") is not None,
    )


@register_operator(F.group_norm, torch.group_norm)
def group_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.group_norm`` / ``torch.group_norm(input, num_groups, weight, bias, eps)``."""
    return group_norm_count(
        args[0].shape,
        int(arg(args, kwargs, 1, "num_groups")),
        arg(args, kwargs, 2, "weight") is not None,
        arg(args, kwargs, 3, "bias") is not None,
    )


@register_operator(F.rms_norm, torch.rms_norm)
def rms_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.rms_norm`` / ``torch.rms_norm(input, normalized_shape, weight, eps)``."""
    return rms_norm_count(
        args[0].shape,
        _ndim(arg(args, kwargs, 1, "normalized_shape")),
        arg(args, kwargs, 2, "weight") is not None,
    )


"""``t ** β`` = exp(β·log t)."""


def lrn_window_terms(channels: int, size: int) -> int:
    """Σ over channels c of the number of channels in c's clipped window.

    The window of channel c is ``[c − size//2, c + (size − 1)//2]`` clipped to
    ``[0, C − 1]`` (PyTorch's padding); it is the sum over offsets δ of the channels c
    with ``0 ≤ c + δ < C``, i.e. ``Σ_δ max(0, C − |δ|)``.
    """
    return sum(
        max(0, channels - abs(offset)) for offset in range(-(size // 2), (size - 1) // 2 + 1)
    )


def local_response_norm_count(shape: Sequence[int], size: int) -> Count:
    """``b_c = a_c / (k + α/n · Σ_{c' ∈ window(c)} a_{c'}²) ** β`` over input (B, C, *).

    Per position of (B, *): C squares, ``Σ_c (t_c − 1)`` adds for the window sums (t_c real
    channels in the clipped window; the zero padding is not added), then per element
    1 multiply by α/n, 1 add of k, 1 power and 1 divide: ``B·prod(*)·(Σ_c t_c + 4C)``.
    """
    positions, channels = rows_along(shape, 1)  # a zero-size input: no positions
    window_adds = (lrn_window_terms(channels, size) - channels) * ADD
    per_element = MUL + MUL + ADD + POW + DIV  # square; then α/n, + k, ** β, a / ·
    return Count(positions * (window_adds + per_element * channels))


def cross_map_lrn2d_count(shape: Sequence[int], size: int) -> Count:
    """``nn.CrossMapLRN2d`` priced by the running-window algorithm it executes.

    With ``p = int((size − 1)/2 + 1)``, per spatial position: C squares; the first
    channel's window sums ``min(p, C)`` squares (``min(p, C) − 1`` adds); each later channel
    c = 1..C−1 adds the square entering the window (when ``c ≤ C − p``) and subtracts the
    one leaving it (when ``c > p``); then per element a multiply by α/n, an add of k, the
    power ``scale ** −β`` and a multiply by the input: ``5C`` plus the window updates.
    """
    positions, channels = rows_along(shape, 1)  # a zero-size input: no positions
    pre_pad = int((size - 1) / 2 + 1)
    first = min(pre_pad, channels) - 1
    entering = max(0, channels - pre_pad)
    leaving = max(0, channels - 1 - pre_pad)
    per_element = MUL + MUL + ADD + POW + MUL  # square; then α/n, + k, ** −β, · a
    return Count(positions * (per_element * channels + (first + entering + leaving) * ADD))


@register(nn.LocalResponseNorm)
def local_response_norm_module(
    module: nn.LocalResponseNorm, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.LocalResponseNorm``: see :func:`local_response_norm_count`."""
    return local_response_norm_count(inputs[0].shape, module.size)


@register(nn.CrossMapLRN2d)
def cross_map_lrn2d_module(
    module: nn.CrossMapLRN2d, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.CrossMapLRN2d``: see :func:`cross_map_lrn2d_count`."""
    return cross_map_lrn2d_count(inputs[0].shape, module.size)


@register_operator(F.local_response_norm)
def local_response_norm_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.local_response_norm(input, size, alpha, beta, k)``."""
    return local_response_norm_count(args[0].shape, int(arg(args, kwargs, 1, "size")))


def normalize_count(shape: Sequence[int], p: float, dim: int) -> Count:
    """``F.normalize``: ``v / max(‖v‖_p, eps)`` along ``dim``.

    Per vector of N elements: ``p_norm_ops(N, p)``, 1 compare (clamp at eps), N divides.
    """
    total = numel(shape)
    if total == 0:
        return Count(0)
    length = shape[normalize_dim(dim, len(shape))] if shape else 1
    vectors = total // length
    return Count(vectors * (p_norm_ops(length, p) + 1 + length))


@register_operator(F.normalize)
def normalize_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.normalize(input, p=2.0, dim=1, eps=1e-12)``."""
    p = float(arg(args, kwargs, 1, "p", 2.0))
    return normalize_count(args[0].shape, p, int(arg(args, kwargs, 2, "dim", 1)))
