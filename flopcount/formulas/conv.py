"""Convolutions: Conv1d/2d/3d, ConvTranspose1d/2d/3d (and their Lazy variants), Fold, Unfold.

Symbols: N batch (1 for an unbatched input), Cin/Cout channels, G groups, K = ∏ kernel
sizes, Out = ∏ output spatial sizes, In = ∏ input spatial sizes.

- Conv: every output element is a dot product of (Cin/G)·K terms (padding, whatever its
  mode, is data movement): ops N·Cout·Out·(2·(Cin/G)·K − 1), plus N·Cout·Out with a bias;
  macs N·Cout·Out·(Cin/G)·K.
- ConvTranspose: every input element meets every tap of the Cout/G filters it feeds, one
  multiply-accumulate each: macs = N·Cin·In·(Cout/G)·K. The products are scattered into the
  full, uncropped output buffer and summed there (per reached element: contributions − 1
  adds); ``padding`` then crops that buffer (data movement, cropped sums still counted) and a
  bias adds one op per returned element. ops = 2·macs − N·Cout·∏ reach_d (+ N·Cout·Out).
- Fold sums overlapping blocks the same way (no multiplies, macs 0); Unfold copies: 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator, zero_cost
from .._shapes import arg, numel, prod
from .primitives import dot_products, expand


def reach(blocks: int, kernel: int, stride: int, dilation: int) -> int:
    """How many positions ``b·stride + t·dilation`` (0 ≤ b < blocks, 0 ≤ t < kernel) hit.

    These are the positions of a transposed convolution's (or a fold's) full output buffer
    that receive at least one contribution along one dimension. Positions with the same
    residue modulo ``stride`` form a line on which tap t covers the interval
    [t·dilation // stride, + blocks − 1]; the answer is the size of the union of intervals.
    """
    if blocks <= 0 or kernel <= 0:
        return 0
    lines: dict[int, list[tuple[int, int]]] = {}
    for tap in range(kernel):
        offset = tap * dilation
        start = offset // stride
        lines.setdefault(offset % stride, []).append((start, start + blocks - 1))
    total = 0
    for intervals in lines.values():
        intervals.sort()
        low, high = intervals[0]
        for start, end in intervals[1:]:
            if start > high + 1:
                total += high - low + 1
                low, high = start, end
            else:
                high = max(high, end)
        total += high - low + 1
    return total


# -- shape-level formulas --------------------------------------------------------------
def conv_count(output_shape: Sequence[int], weight_shape: Sequence[int], bias: bool) -> Count:
    """Conv of any rank: numel(output) dot products of (Cin/G)·K terms (+ bias each).

    ``weight_shape`` is (Cout, Cin/G, *kernel); ``output_shape`` (N, Cout, *Out) or
    (Cout, *Out) for an unbatched input.
    """
    return dot_products(numel(output_shape), numel(weight_shape[1:]), bias)


def conv_transpose_count(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    output_shape: Sequence[int],
    stride: Any,
    dilation: Any,
    bias: bool,
) -> Count:
    """Transposed conv: macs N·Cin·In·(Cout/G)·K; ops 2·macs − N·Cout·∏ reach_d (+ numel(out)).

    ``weight_shape`` is (Cin, Cout/G, *kernel). reach_d = :func:`reach` (In_d, K_d, s_d, d_d)
    is the number of positions of the full (uncropped) buffer that get a contribution; each
    reached element sums its contributions with contributions − 1 adds.
    """
    dims = len(weight_shape) - 2
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    kernel = tuple(weight_shape[2:])
    strides, dilations = expand(stride, dims), expand(dilation, dims)
    macs = numel(input_shape) * weight_shape[1] * prod(kernel)
    if macs == 0:
        return Count(0)
    planes = prod(output_shape[:-dims])  # N·Cout
    reached = planes * prod(
        reach(size, k, s, d)
        for size, k, s, d in zip(input_shape[-dims:], kernel, strides, dilations, strict=True)
    )
    ops = 2 * macs - reached + (numel(output_shape) if bias else 0)
    return Count(ops, macs)


def fold_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    kernel_size: Any,
    dilation: Any,
    padding: Any,
    stride: Any,
) -> Count:
    """Fold (col2im): sum the N·C·K·L block values into the padded image, crop the padding.

    ops = numel(input) − N·C·∏ reach_d, with blocks_d = ⌊(Out_d + 2p_d − d_d(k_d − 1) − 1)/s_d⌋ + 1
    and reach_d = :func:`reach` (blocks_d, k_d, s_d, d_d); macs 0.
    """
    if numel(input_shape) == 0 or numel(output_shape) == 0:
        return Count(0)
    kernel, dilations = expand(kernel_size, 2), expand(dilation, 2)
    paddings, strides = expand(padding, 2), expand(stride, 2)
    reached = prod(output_shape[:-2])  # N·C
    for size, k, d, p, s in zip(
        output_shape[-2:], kernel, dilations, paddings, strides, strict=True
    ):
        blocks = (size + 2 * p - d * (k - 1) - 1) // s + 1
        reached *= reach(blocks, k, s, d)
    return Count(max(numel(input_shape) - reached, 0))


# -- modules ---------------------------------------------------------------------------
@register(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def conv_module(module: nn.Conv1d, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.ConvNd`` (and ``LazyConvNd``): see :func:`conv_count`."""
    return conv_count(output.shape, module.weight.shape, module.bias is not None)


@register(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def conv_transpose_module(
    module: nn.ConvTranspose1d, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.ConvTransposeNd`` (and lazy variants): see :func:`conv_transpose_count`."""
    return conv_transpose_count(
        inputs[0].shape,
        module.weight.shape,
        output.shape,
        module.stride,
        module.dilation,
        module.bias is not None,
    )


# torch.ao's QAT and reference convolutions override forward only to fake-quantize (or
# quantize and dequantize) the weight first: the same convolution, so the same formula.
register(
    *(optional(f"torch.ao.nn.qat.Conv{n}d") for n in (1, 2, 3)),
    *(optional(f"torch.ao.nn.quantized.reference.Conv{n}d") for n in (1, 2, 3)),
)(conv_module)
register(*(optional(f"torch.ao.nn.quantized.reference.ConvTranspose{n}d") for n in (1, 2, 3)))(
    conv_transpose_module
)


@register(nn.Fold)
def fold_module(module: nn.Fold, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Fold``: see :func:`fold_count`."""
    return fold_count(
        inputs[0].shape,
        output.shape,
        module.kernel_size,
        module.dilation,
        module.padding,
        module.stride,
    )


register(nn.Unfold)(zero_cost)


# -- operators -------------------------------------------------------------------------
@register_operator(F.conv1d, F.conv2d, F.conv3d)
def conv_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.convNd(input, weight, bias, stride, padding, dilation, groups)`` = ``torch.convNd``."""
    weight = arg(args, kwargs, 1, "weight")
    return conv_count(output.shape, weight.shape, arg(args, kwargs, 2, "bias") is not None)


@register_operator(F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)
def conv_transpose_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.conv_transposeNd(input, weight, bias, stride, padding, output_padding, groups,
    dilation)`` = ``torch.conv_transposeNd``."""
    return conv_transpose_count(
        arg(args, kwargs, 0, "input").shape,
        arg(args, kwargs, 1, "weight").shape,
        output.shape,
        arg(args, kwargs, 3, "stride", 1),
        arg(args, kwargs, 7, "dilation", 1),
        arg(args, kwargs, 2, "bias") is not None,
    )


@register_operator(torch.convolution)
def convolution_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``torch.convolution(input, weight, bias, stride, padding, dilation, transposed,
    output_padding, groups)``: a conv or a transposed conv."""
    weight = arg(args, kwargs, 1, "weight")
    bias = arg(args, kwargs, 2, "bias") is not None
    if arg(args, kwargs, 6, "transposed", False):
        return conv_transpose_count(
            arg(args, kwargs, 0, "input").shape,
            weight.shape,
            output.shape,
            arg(args, kwargs, 3, "stride", 1),
            arg(args, kwargs, 5, "dilation", 1),
            bias,
        )
    return conv_count(output.shape, weight.shape, bias)


@register_operator(F.fold)
def fold_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.fold(input, output_size, kernel_size, dilation, padding, stride)``."""
    return fold_count(
        arg(args, kwargs, 0, "input").shape,
        output.shape,
        arg(args, kwargs, 2, "kernel_size"),
        arg(args, kwargs, 3, "dilation", 1),
        arg(args, kwargs, 4, "padding", 0),
        arg(args, kwargs, 5, "stride", 1),
    )


register_operator(F.unfold)(zero_cost)
