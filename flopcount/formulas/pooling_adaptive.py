"""Adaptive pools, fractional max pools and max unpooling (the rest of :mod:`.pooling`).

Adaptive pools split each input dimension of size I into O windows with PyTorch's rule:
window i spans [⌊i·I/O⌋, ⌈(i+1)·I/O⌉). Its element count is the product of the spans, so
the totals S (elements read per plane) and E (non-empty windows per plane) of
:mod:`.pooling` apply unchanged: an adaptive max pool costs planes·(S − E) compares, an
adaptive average pool planes·(S − E) adds + numel(output) divides — exactly what the average
pool with the same windows costs. Fractional max pools place windows of the kernel's size
at random offsets, always inside the input: numel(output)·(∏k − 1) compares. Max unpooling
scatters values to stored indices: 0 ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._count import Count
from .._registry import DEFAULT, register, register_operator, zero_cost
from .._shapes import arg, first_tensor, numel, prod
from .conv import expand
from .pooling import rank_of, window_totals


def adaptive_spans(size: int, out: int) -> list[int]:
    """Window lengths ⌈(i+1)·size/out⌉ − ⌊i·size/out⌋ for i < out."""
    return [-(-(i + 1) * size // out) - (i * size // out) for i in range(out)]


def adaptive_windows(
    input_shape: Sequence[int], output_shape: Sequence[int], dims: int
) -> tuple[int, int, int]:
    """(planes, S, E) of an adaptive pool of rank ``dims``."""
    per_dim = [
        adaptive_spans(size, out)
        for size, out in zip(input_shape[-dims:], output_shape[-dims:], strict=True)
    ]
    summed, nonempty = window_totals(per_dim)
    return prod(output_shape[:-dims]), summed, nonempty


def adaptive_max_pool_count(
    input_shape: Sequence[int], output_shape: Sequence[int], dims: int
) -> Count:
    """AdaptiveMaxPool: planes·(S − E) compares."""
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    planes, summed, nonempty = adaptive_windows(input_shape, output_shape, dims)
    return Count(planes * (summed - nonempty))


def adaptive_avg_pool_count(
    input_shape: Sequence[int], output_shape: Sequence[int], dims: int
) -> Count:
    """AdaptiveAvgPool: planes·(S − E) adds + numel(output) divides."""
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    planes, summed, nonempty = adaptive_windows(input_shape, output_shape, dims)
    return Count(planes * (summed - nonempty) + numel(output_shape))


def fractional_max_pool_count(output_shape: Sequence[int], dims: int, kernel_size: Any) -> Count:
    """FractionalMaxPool: every window holds ∏k in-bounds elements: numel(out)·(∏k − 1)."""
    window = prod(expand(kernel_size, dims))
    return Count(numel(output_shape) * max(window - 1, 0))


# -- modules ---------------------------------------------------------------------------
_ADAPTIVE_MAX: dict[type, int] = {
    nn.AdaptiveMaxPool1d: 1,
    nn.AdaptiveMaxPool2d: 2,
    nn.AdaptiveMaxPool3d: 3,
}
_ADAPTIVE_AVG: dict[type, int] = {
    nn.AdaptiveAvgPool1d: 1,
    nn.AdaptiveAvgPool2d: 2,
    nn.AdaptiveAvgPool3d: 3,
}
_FRACTIONAL: dict[type, int] = {nn.FractionalMaxPool2d: 2, nn.FractionalMaxPool3d: 3}


@register(*_ADAPTIVE_MAX)
def adaptive_max_pool_module(
    module: nn.AdaptiveMaxPool1d, inputs: tuple[Any, ...], output: Any
) -> Count:
    """``nn.AdaptiveMaxPoolNd`` (also with ``return_indices``)."""
    return adaptive_max_pool_count(
        inputs[0].shape, first_tensor(output).shape, rank_of(module, _ADAPTIVE_MAX)
    )


@register(*_ADAPTIVE_AVG)
def adaptive_avg_pool_module(
    module: nn.AdaptiveAvgPool1d, inputs: tuple[Any, ...], output: Any
) -> Count:
    """``nn.AdaptiveAvgPoolNd``."""
    return adaptive_avg_pool_count(
        inputs[0].shape, first_tensor(output).shape, rank_of(module, _ADAPTIVE_AVG)
    )


@register(*_FRACTIONAL)
def fractional_max_pool_module(
    module: nn.FractionalMaxPool2d, inputs: tuple[Any, ...], output: Any
) -> Count:
    """``nn.FractionalMaxPoolNd`` (also with ``return_indices``)."""
    return fractional_max_pool_count(
        first_tensor(output).shape, rank_of(module, _FRACTIONAL), module.kernel_size
    )


register(nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)(zero_cost)


# -- operators -------------------------------------------------------------------------
def _adaptive_operator(dims: int, kind: str) -> Any:
    count = adaptive_max_pool_count if kind == "max" else adaptive_avg_pool_count

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return count(arg(args, kwargs, 0, "input").shape, first_tensor(output).shape, dims)

    formula.__doc__ = f"``F.adaptive_{kind}_pool{dims}d(input, output_size, ...)``"
    formula.__qualname__ = formula.__name__ = f"adaptive_{kind}_pool{dims}d_operator"
    return formula


def _fractional_operator(dims: int) -> Any:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        kernel = arg(args, kwargs, 1, "kernel_size")
        return fractional_max_pool_count(first_tensor(output).shape, dims, kernel)

    formula.__doc__ = f"``F.fractional_max_pool{dims}d(input, kernel_size, ...)``"
    formula.__qualname__ = formula.__name__ = f"fractional_max_pool{dims}d_operator"
    return formula


register_operator(F.adaptive_avg_pool1d)(_adaptive_operator(1, "avg"))  # torch.adaptive_avg_pool1d
register_operator(F.adaptive_avg_pool2d)(_adaptive_operator(2, "avg"))
register_operator(F.adaptive_avg_pool3d)(_adaptive_operator(3, "avg"))
register_operator(
    F.adaptive_max_pool1d, F.adaptive_max_pool1d_with_indices, torch.adaptive_max_pool1d
)(_adaptive_operator(1, "max"))
register_operator(F.adaptive_max_pool2d, F.adaptive_max_pool2d_with_indices)(
    _adaptive_operator(2, "max")
)
register_operator(F.adaptive_max_pool3d, F.adaptive_max_pool3d_with_indices)(
    _adaptive_operator(3, "max")
)
register_operator(F.fractional_max_pool2d, F.fractional_max_pool2d_with_indices)(
    _fractional_operator(2)
)
register_operator(F.fractional_max_pool3d, F.fractional_max_pool3d_with_indices)(
    _fractional_operator(3)
)
DEFAULT.declare_zero_cost(F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)
