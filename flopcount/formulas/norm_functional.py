"""Operator forms of the normalisation formulas in ``norm``: ``F.batch_norm``,
``torch.batch_norm``, ``F.instance_norm``, ``torch.instance_norm``, ``F.layer_norm``,
``torch.layer_norm``, ``F.group_norm``, ``torch.group_norm``, ``F.rms_norm``,
``torch.rms_norm``. The ``F.`` and ``torch.`` forms of batch and instance norm take their
arguments in different orders.
"""

from __future__ import annotations

from collections.abc import Callable
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
