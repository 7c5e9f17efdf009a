"""Pooling: Max/Avg/LP pools of rank 1–3, adaptive and fractional pools, max unpooling.

Pools do no multiply-accumulates (``macs`` 0). A window of n elements costs n − 1
compares (max) or n − 1 adds (sum); an average adds one divide per output. Only the
elements of a window that lie inside the input count: padding is never read (max pools pad
with −∞, average pools with zeros that the kernels skip), and ``ceil_mode`` windows are
clipped at the input's end. Output sizes are read from the output, so ``ceil_mode`` needs
no rule here.

Per dimension d (input size I_d, output size O_d, kernel k_d, stride s_d, padding p_d,
dilation δ_d), window o covers positions o·s_d − p_d + j·δ_d, 0 ≤ j < k_d; c_d(o) of them are
in [0, I_d). A window's element count is ∏_d c_d(o_d), so over all windows of one plane
S = ∏_d Σ_o c_d(o) elements are read and E = ∏_d #{o : c_d(o) > 0} windows are non-empty.


Adaptive pools split each input dimension of size I into O windows with PyTorch's rule:
window i spans [⌊i·I/O⌋, ⌈(i+1)·I/O⌉). Its element count is the product of the spans, so
the totals S (elements read per plane) and E (non-empty windows per plane) above apply
unchanged: an adaptive max pool costs planes·(S − E) compares, an
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
from torch import Tensor, nn

from .._count import Count
from .._registry import register, register_operator, zero_cost
from .._shapes import arg, first_tensor, numel, prod
from .primitives import expand


def in_bounds(
    size: int, out: int, kernel: int, stride: int, padding: int, dilation: int
) -> list[int]:
    """c(o) for o < out: taps of window o (start o·stride − padding) inside [0, size)."""
    counts = []
    for o in range(out):
        start = o * stride - padding
        low = max(0, -(start // dilation))  # first j with start + j·dilation ≥ 0
        high = min(kernel - 1, (size - 1 - start) // dilation) if size - 1 >= start else -1
        counts.append(max(0, high - low + 1))
    return counts


def window_totals(per_dim: Sequence[Sequence[int]]) -> tuple[int, int]:
    """(S, E): elements read and non-empty windows per plane, from per-dimension counts."""
    summed = prod(sum(counts) for counts in per_dim)
    nonempty = prod(sum(1 for c in counts if c > 0) for counts in per_dim)
    return summed, nonempty


def sliding_windows(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    dims: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
) -> tuple[int, int, int]:
    """(planes, S, E) of a sliding-window pool; planes = N·C (C for an unbatched input).

    ``stride`` None (or an empty list, torch's default) means the kernel size.
    """
    kernel = expand(kernel_size, dims)
    strides = kernel if stride is None or stride == [] or stride == () else expand(stride, dims)
    paddings, dilations = expand(padding, dims), expand(dilation, dims)
    per_dim = [
        in_bounds(size, out, k, s, p, d)
        for size, out, k, s, p, d in zip(
            input_shape[-dims:],
            output_shape[-dims:],
            kernel,
            strides,
            paddings,
            dilations,
            strict=False,
        )
    ]
    summed, nonempty = window_totals(per_dim)
    return prod(output_shape[:-dims]), summed, nonempty


# -- shape-level formulas --------------------------------------------------------------
def max_pool_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    dims: int,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
) -> Count:
    """MaxPool: one compare per in-bounds window element but the first: planes·(S − E)."""
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    planes, summed, nonempty = sliding_windows(
        input_shape, output_shape, dims, kernel_size, stride, padding, dilation
    )
    return Count(planes * (summed - nonempty))


def avg_pool_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    dims: int,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
) -> Count:
    """AvgPool: in-bounds sum, then one divide per output: planes·(S − E) + numel(output).

    ``count_include_pad`` and ``divisor_override`` change the divisor, not the op count.
    """
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    planes, summed, nonempty = sliding_windows(
        input_shape, output_shape, dims, kernel_size, stride, padding
    )
    return Count(planes * (summed - nonempty) + numel(output_shape))


def lp_pool_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    dims: int,
    norm_type: float,
    kernel_size: Any,
    stride: Any = None,
) -> Count:
    """LPPool ``(Σ x^p)^(1/p)``: numel(input) powers + planes·(S − E) adds + numel(output) roots.

    p = ±∞ is max (min) of |x|: numel(input) abs + planes·(S − E) compares, no root.
    """
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    planes, summed, nonempty = sliding_windows(
        input_shape, output_shape, dims, kernel_size, stride, 0
    )
    roots = 0 if abs(float(norm_type)) == float("inf") else numel(output_shape)
    return Count(numel(input_shape) + planes * (summed - nonempty) + roots)


# -- modules ---------------------------------------------------------------------------
_MAX: dict[type, int] = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}
_AVG: dict[type, int] = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
_LP: dict[type, int] = {nn.LPPool1d: 1, nn.LPPool2d: 2, nn.LPPool3d: 3}


def rank_of(module: nn.Module, table: dict[type, int]) -> int:
    for base in type(module).__mro__:
        if base in table:
            return table[base]
    raise TypeError(f"not a pooling module: {type(module).__name__}")


@register(*_MAX)
def max_pool_module(module: nn.MaxPool1d, inputs: tuple[Any, ...], output: Any) -> Count:
    """``nn.MaxPoolNd`` (also with ``return_indices``): see :func:`max_pool_count`."""
    return max_pool_count(
        inputs[0].shape,
        first_tensor(output).shape,
        rank_of(module, _MAX),
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
    )


@register(*_AVG)
def avg_pool_module(module: nn.AvgPool1d, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.AvgPoolNd``: see :func:`avg_pool_count`."""
    return avg_pool_count(
        inputs[0].shape,
        output.shape,
        rank_of(module, _AVG),
        module.kernel_size,
        module.stride,
        module.padding,
    )


@register(*_LP)
def lp_pool_module(module: nn.LPPool1d, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.LPPoolNd``: see :func:`lp_pool_count`."""
    return lp_pool_count(
        inputs[0].shape,
        output.shape,
        rank_of(module, _LP),
        module.norm_type,
        module.kernel_size,
        module.stride,
    )


# -- operators -------------------------------------------------------------------------
Parameter = tuple[int, str, Any]  # (position, keyword name, default) in the F. signature


def _pool_operator(name: str, count: Any, dims: int, parameters: tuple[Parameter, ...]) -> Any:
    """An operator formula calling ``count(input_shape, output_shape, dims, *parameters)``,
    with each parameter read from the call by position or keyword."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        values = [arg(args, kwargs, index, key, default) for index, key, default in parameters]
        input_shape = arg(args, kwargs, 0, "input").shape
        return count(input_shape, first_tensor(output).shape, dims, *values)  # type: ignore[no-any-return]

    keys = ", ".join(key for _, key, _ in parameters)
    formula.__doc__ = f"``F.{name}{dims}d(input, {keys}, ...)``"
    formula.__qualname__ = formula.__name__ = f"{name}{dims}d_operator"
    return formula


_MAX_ARGS: tuple[Parameter, ...] = (
    (1, "kernel_size", None),
    (2, "stride", None),
    (3, "padding", 0),
    (4, "dilation", 1),
)
_AVG_ARGS: tuple[Parameter, ...] = (
    (1, "kernel_size", None),
    (2, "stride", None),
    (3, "padding", 0),
)
_LP_ARGS: tuple[Parameter, ...] = (
    (1, "norm_type", None),
    (2, "kernel_size", None),
    (3, "stride", None),
)


def _max_pool_operator(dims: int) -> Any:
    return _pool_operator("max_pool", max_pool_count, dims, _MAX_ARGS)


def _avg_pool_operator(dims: int) -> Any:
    return _pool_operator("avg_pool", avg_pool_count, dims, _AVG_ARGS)


def _lp_pool_operator(dims: int) -> Any:
    return _pool_operator("lp_pool", lp_pool_count, dims, _LP_ARGS)


register_operator(
    F.max_pool1d, F.max_pool1d_with_indices, torch.max_pool1d, torch.max_pool1d_with_indices
)(_max_pool_operator(1))
register_operator(F.max_pool2d, F.max_pool2d_with_indices, torch.max_pool2d)(_max_pool_operator(2))
register_operator(F.max_pool3d, F.max_pool3d_with_indices, torch.max_pool3d)(_max_pool_operator(3))
register_operator(F.avg_pool1d)(_avg_pool_operator(1))  # is torch.avg_pool1d
register_operator(F.avg_pool2d)(_avg_pool_operator(2))
register_operator(F.avg_pool3d)(_avg_pool_operator(3))
register_operator(F.lp_pool1d)(_lp_pool_operator(1))
register_operator(F.lp_pool2d)(_lp_pool_operator(2))
register_operator(F.lp_pool3d)(_lp_pool_operator(3))


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
register_operator(F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)(zero_cost)
