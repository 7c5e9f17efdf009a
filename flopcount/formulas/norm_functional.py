"""Operator forms of the normalisation formulas in ``norm``: ``F.batch_norm``,
``torch.batch_norm``, ``F.instance_norm``, ``torch.instance_norm``, ``F.layer_norm``,
``torch.layer_norm``, ``F.group_norm``, ``torch.group_norm``, ``F.rms_norm``,
``torch.rms_norm``. The ``F.`` and ``torch.`` forms of batch and instance norm take their
arguments in different orders.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg
from .norm import (
    batch_norm_count,
    group_norm_count,
    instance_norm_count,
    layer_norm_count,
    rms_norm_count,
)


def _ndim(normalized_shape: Any) -> int:
    return 1 if isinstance(normalized_shape, int) else len(normalized_shape)


@register_operator(F.batch_norm)
def batch_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.batch_norm(input, running_mean, running_var, weight, bias, training, ...)``."""
    training = bool(arg(args, kwargs, 5, "training", False))
    mean = arg(args, kwargs, 1, "running_mean") is not None
    var = arg(args, kwargs, 2, "running_var") is not None
    return batch_norm_count(
        args[0].shape,
        training,
        arg(args, kwargs, 3, "weight") is not None,
        arg(args, kwargs, 4, "bias") is not None,
        training and mean,
        training and var,
    )


@register_operator(torch.batch_norm)
def torch_batch_norm_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``torch.batch_norm(input, weight, bias, running_mean, running_var, training, ...)``."""
    training = bool(arg(args, kwargs, 5, "training", False))
    mean = arg(args, kwargs, 3, "running_mean") is not None
    var = arg(args, kwargs, 4, "running_var") is not None
    return batch_norm_count(
        args[0].shape,
        training,
        arg(args, kwargs, 1, "weight") is not None,
        arg(args, kwargs, 2, "bias") is not None,
        training and mean,
        training and var,
    )


@register_operator(F.instance_norm)
def instance_norm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, ...)``."""
    stats = bool(arg(args, kwargs, 5, "use_input_stats", True))
    mean = arg(args, kwargs, 1, "running_mean") is not None
    var = arg(args, kwargs, 2, "running_var") is not None
    return instance_norm_count(
        args[0].shape,
        stats,
        arg(args, kwargs, 3, "weight") is not None,
        arg(args, kwargs, 4, "bias") is not None,
        stats and mean,
        stats and var,
    )


@register_operator(torch.instance_norm)
def torch_instance_norm_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``torch.instance_norm(input, weight, bias, running_mean, running_var, use_input_stats,
    momentum, eps, cudnn_enabled)``."""
    stats = bool(arg(args, kwargs, 5, "use_input_stats", True))
    mean = arg(args, kwargs, 3, "running_mean") is not None
    var = arg(args, kwargs, 4, "running_var") is not None
    return instance_norm_count(
        args[0].shape,
        stats,
        arg(args, kwargs, 1, "weight") is not None,
        arg(args, kwargs, 2, "bias") is not None,
        stats and mean,
        stats and var,
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
