"""Grid sampling: ``F.grid_sample`` and the ``F.affine_grid`` that usually feeds it.

Unlike ``F.interpolate``, grid sampling reads its source coordinates from a tensor (the
grid), so the arithmetic that turns them into pixel positions and weights is arithmetic on
tensor values and counts, once per sampled location and axis. Tap indices derived from
those positions (offsets, bounds masks, padding of integer tap indices) are index math.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import arg, numel
from .linear import dot_products
from .shape_resample import interpolation_ops

UNNORMALIZE_OPS = 2
"""[-1, 1] → pixel position is affine: one multiply and one add per coordinate."""
CLIP_OPS = 2
"""Clamping a position into [0, S − 1]: a max and a min."""
REFLECT_OPS = 7
"""lo + span − |(|x − lo| mod 2·span) − span|: sub, abs, mod, sub, abs, sub, add."""
WEIGHT_OPS = {"nearest": 1, "bilinear": 3, "bicubic": 27}
"""Per axis: nearest rounds (1); bilinear takes floor, t = x − ⌊x⌋ and 1 − t (3); bicubic
takes floor and t (2), the Keys arguments t + 1, 1 − t, 2 − t (3), the inner polynomial
((A + 2)s − (A + 3))s² + 1 at t and 1 − t (5 each) and the outer one
((A·s − 5A)s + 8A)s − 4A at t + 1 and 2 − t (6 each): 27."""
TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}
MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")


def padding_ops(padding_mode: str, size: int, align_corners: bool) -> int:
    """Ops to apply ``padding_mode`` to one continuous coordinate of an axis of ``size``.

    zeros: 0 (out-of-range taps are masked to zero, index math). border: a clamp (2).
    reflection: reflect (7) then clamp (2); with ``align_corners`` and size 1 the reflected
    span is empty and the coordinate is the constant 0, so only the clamp remains.
    """
    if padding_mode == "zeros":
        return 0
    if padding_mode == "border":
        return CLIP_OPS
    reflect = 0 if (align_corners and size == 1) else REFLECT_OPS
    return reflect + CLIP_OPS


def grid_sample_count(
    input_shape: Sequence[int],
    grid_shape: Sequence[int],
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> Count:
    """Sample an (N, C, *S) input at the L = N·Π(grid spatial) locations of the grid.

    Per location and input axis (size S_a): unnormalize (2) + padding (bilinear and
    nearest pad the continuous coordinate; bicubic pads integer tap indices, free)
    + weights (nearest 1, bilinear 3, bicubic 27). Per output element (C·L of them): the
    repeated interpolation of :func:`interpolation_ops` over d axes (nearest 0,
    bilinear 9 in 2-D and 21 in 3-D, bicubic 35). Empty input or grid: 0.
    """
    if mode not in MODES or padding_mode not in PADDING_MODES:
        raise ValueError(f"unknown grid_sample mode {mode!r} / padding {padding_mode!r}")
    locations = numel(grid_shape[:-1])
    if locations == 0 or numel(input_shape) == 0:
        return Count(0, 0)
    per_location = 0
    for size in input_shape[2:]:
        per_location += UNNORMALIZE_OPS + WEIGHT_OPS[mode]
        if mode != "bicubic":
            per_location += padding_ops(padding_mode, size, align_corners)
    dims = len(input_shape) - 2
    sampling = 0 if mode == "nearest" else interpolation_ops(TAPS[mode], dims)
    return Count(locations * per_location + input_shape[1] * locations * sampling, 0)


@register_operator(F.grid_sample)
def grid_sample_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.grid_sample(input, grid, mode, padding_mode, align_corners)``."""
    return grid_sample_count(
        tuple(args[0].shape),
        tuple(arg(args, kwargs, 1, "grid").shape),
        arg(args, kwargs, 2, "mode", "bilinear"),
        arg(args, kwargs, 3, "padding_mode", "zeros"),
        bool(arg(args, kwargs, 4, "align_corners", False)),
    )


@register_operator(torch.grid_sampler, torch.grid_sampler_2d, torch.grid_sampler_3d)
def grid_sampler_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``torch.grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)``
    with the integer enums of ``F.grid_sample``."""
    return grid_sample_count(
        tuple(args[0].shape),
        tuple(arg(args, kwargs, 1, "grid").shape),
        MODES[int(arg(args, kwargs, 2, "interpolation_mode", 0))],
        PADDING_MODES[int(arg(args, kwargs, 3, "padding_mode", 0))],
        bool(arg(args, kwargs, 4, "align_corners", False)),
    )


def affine_grid_count(theta_shape: Sequence[int], grid_shape: Sequence[int]) -> Count:
    """Grid (N, *S, d) = base (N, ΠS, d + 1) @ θᵀ: numel(grid) dot products of d + 1 terms.

    The base grid holds homogeneous coordinates (x, y, 1) built from sizes alone (free);
    each output coordinate is a dot product of length K = d + 1 = θ's last size:
    2K − 1 ops and K MACs (the translation is multiplied by the constant 1, as PyTorch's
    batched matmul does).
    """
    return dot_products(numel(grid_shape), theta_shape[-1] if theta_shape else 0, bias=False)


@register_operator(F.affine_grid, torch.affine_grid_generator)
def affine_grid_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.affine_grid(theta, size, align_corners)``, ``torch.affine_grid_generator``."""
    return affine_grid_count(tuple(args[0].shape), tuple(output.shape))
