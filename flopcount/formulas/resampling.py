"""Resampling: ``nn.Upsample`` and its aliases, ``F.interpolate`` and the kernels it calls,
``F.grid_sample`` and ``F.affine_grid``.

Only arithmetic on tensor values counts. Source coordinates, tap indices and interpolation
weights depend on sizes alone (index math) and are free; so nearest modes cost 0.

A 1-D interpolation with k taps is k multiplies and k − 1 adds (2k − 1 ops): 3 for linear
(k = 2), 7 for cubic convolution (k = 4). Multi-axis modes interpolate repeatedly, per
output element: the k taps of the outermost axis are each an interpolation over the
remaining axes, so one output element costs (2k − 1)·(1 + k + … + k^(d−1)) ops over d
axes: linear 3, bilinear 9, trilinear 21, bicubic 35. ``area`` is adaptive average
pooling. Antialiased modes resample one axis at a time (PyTorch's CPU kernel and PIL's
two-pass scheme), each pass costing its taps per output of the pass.


Grid sampling (``F.grid_sample`` and the ``F.affine_grid`` that usually feeds it) is
resampling at positions read from a tensor. Unlike ``F.interpolate``, grid sampling
reads its source coordinates from a tensor (the grid), so the arithmetic that turns them
into pixel positions and weights is arithmetic on tensor values and counts, once per
sampled location and axis. Tap indices derived from those positions (offsets, bounds
masks, padding of integer tap indices) are index math.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._count import Count
from .._registry import OperatorFormula, register, register_operator
from .._shapes import arg, numel
from .primitives import dot_products

TAPS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}
"""Taps per axis of the separable interpolation modes."""

FREE_MODES = ("nearest", "nearest-exact")
AA_INTERP_SIZE = {"bilinear": 2, "bicubic": 4}
"""Filter width (taps at scale 1) of the antialiased modes."""


def interpolation_ops(taps: int, dims: int) -> int:
    """Ops of one output element: (2k − 1)·(1 + k + … + k^(d−1)) for k taps on d axes."""
    return (2 * taps - 1) * sum(taps**level for level in range(dims))


def area_window_sum(in_size: int, out_size: int) -> int:
    """Σ over outputs of adaptive-pooling window sizes along one axis: in + out − gcd.

    Window i spans [⌊i·in/out⌋, ⌈(i + 1)·in/out⌉).
    """
    if in_size <= 0 or out_size <= 0:
        return 0
    return in_size + out_size - math.gcd(in_size, out_size)


def pixel_scale(in_size: int, out_size: int, align_corners: bool, scale: float | None) -> float:
    """PyTorch's source-per-output step (``area_pixel_compute_scale``)."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    if scale is not None and scale > 0:
        return 1.0 / scale
    return in_size / out_size


def antialias_taps(in_size: int, out_size: int, interp_size: int, scale: float) -> int:
    """Σ over outputs of the taps of an antialiased 1-D resampling (PyTorch's rule).

    support = interp_size/2 · max(scale, 1); output i is centred at c = scale·(i + ½) and
    reads inputs [max(⌊c − support + ½⌋, 0), min(⌊c + support + ½⌋, in)).
    """
    support = interp_size * 0.5 * (scale if scale >= 1.0 else 1.0)
    widest = math.ceil(support) * 2 + 1
    total = 0
    for i in range(out_size):
        center = scale * (i + 0.5)
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        total += min(max(high - low, 0), widest)
    return total


def antialias_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    interp_size: int,
    align_corners: bool,
    scales: Sequence[float | None],
) -> Count:
    """Separable antialiased resampling: the last axis first, then the others inwards-out.

    A pass along an axis whose size changes produces P·out outputs (P = the product of the
    other sizes at that point, already resampled axes at their output size) and costs
    P·Σ_i (2·t_i − 1) ops, t_i = taps of output i. Axes of unchanged size are skipped.
    """
    current = list(input_shape)
    ops = 0
    for axis in reversed(range(2, len(output_shape))):
        size_in, size_out = current[axis], output_shape[axis]
        if size_in == size_out:
            continue
        scale_opt = scales[axis - 2] if axis - 2 < len(scales) else None
        step = pixel_scale(size_in, size_out, align_corners, scale_opt)
        taps = antialias_taps(size_in, size_out, interp_size, step)
        others = numel(current) // size_in
        ops += others * (2 * taps - size_out)
        current[axis] = size_out
    return Count(ops, 0)


def interpolate_count(
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    mode: str,
    align_corners: bool | None = None,
    scales: Sequence[float | None] = (),
    antialias: bool = False,
) -> Count:
    """Resampling ``input_shape`` (B, C, *S_in) to ``output_shape`` (B, C, *S_out).

    nearest / nearest-exact: 0. linear, bilinear, trilinear, bicubic:
    numel(output)·(2k − 1)·(1 + … + k^(d−1)); for the linear modes d counts only the axes
    whose size changes (PyTorch copies along the others, ignoring their scale factor).
    area: B·C·Π_axes (S_in + S_out − gcd).
    Antialiased: see :func:`antialias_count`. Empty tensors: 0.
    """
    if numel(output_shape) == 0 or numel(input_shape) == 0 or mode in FREE_MODES:
        return Count(0, 0)
    dims = len(output_shape) - 2
    if antialias and mode in AA_INTERP_SIZE:
        return antialias_count(
            input_shape, output_shape, AA_INTERP_SIZE[mode], bool(align_corners), scales
        )
    if mode in TAPS:
        if TAPS[mode] == 2:  # PyTorch leaves an axis of unchanged size alone (identity)
            dims = sum(1 for a in range(2, 2 + dims) if input_shape[a] != output_shape[a])
        return Count(numel(output_shape) * interpolation_ops(TAPS[mode], dims), 0)
    if mode == "area":
        windows = math.prod(
            area_window_sum(input_shape[axis], output_shape[axis]) for axis in range(2, 2 + dims)
        )
        return Count(numel(output_shape[:2]) * windows, 0)
    raise ValueError(f"no formula for interpolation mode {mode!r}")


def _scales(scale_factor: Any, dims: int, recompute: bool | None) -> tuple[float | None, ...]:
    """Per-axis scale factors as the kernels receive them (None once recomputed)."""
    if scale_factor is None or recompute:
        return (None,) * dims
    if isinstance(scale_factor, (tuple, list)):
        return tuple(float(s) for s in scale_factor)
    return (float(scale_factor),) * dims


@register(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def upsample_module(module: nn.Upsample, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Upsample`` (and its aliases): see :func:`interpolate_count`."""
    shape = tuple(inputs[0].shape)
    return interpolate_count(shape, tuple(output.shape), module.mode, module.align_corners)


@register_operator(F.interpolate, F.upsample)
def interpolate_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.interpolate(input, size, scale_factor, mode, align_corners, recompute, antialias)``."""
    shape = tuple(args[0].shape)
    mode = arg(args, kwargs, 3, "mode", "nearest")
    align_corners = arg(args, kwargs, 4, "align_corners")
    antialias = bool(arg(args, kwargs, 6, "antialias", False))
    recompute = arg(args, kwargs, 5, "recompute_scale_factor")
    scales = _scales(arg(args, kwargs, 2, "scale_factor"), len(shape) - 2, recompute)
    return interpolate_count(shape, tuple(output.shape), mode, align_corners, scales, antialias)


def _fixed_mode(mode: str) -> OperatorFormula:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
        return interpolate_count(tuple(args[0].shape), tuple(output.shape), mode)

    formula.__qualname__ = formula.__name__ = f"upsample_{mode.replace('-', '_')}_operator"
    formula.__doc__ = f"A {mode} resampling kernel: see interpolate_count."
    return formula


register_operator(F.upsample_nearest)(_fixed_mode("nearest"))
register_operator(F.upsample_bilinear)(_fixed_mode("bilinear"))

_nn: Any = torch._C._nn
_KERNELS: dict[str, tuple[str, ...]] = {
    "nearest": ("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d"),
    "nearest-exact": (
        "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d",
    ),
    "linear": ("upsample_linear1d",),
    "bilinear": ("upsample_bilinear2d",),
    "trilinear": ("upsample_trilinear3d",),
    "bicubic": ("upsample_bicubic2d",),
}  # fmt: skip
for _mode, _names in _KERNELS.items():
    _kernels = [getattr(_nn, name) for name in _names if hasattr(_nn, name)]
    if _kernels:
        register_operator(*_kernels)(_fixed_mode(_mode))


def _aa_kernel(mode: str) -> OperatorFormula:
    """``_upsample_<mode>2d_aa(input, output_size, align_corners, scale_factors)``."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
        shape = tuple(args[0].shape)
        align_corners = bool(arg(args, kwargs, 2, "align_corners", False))
        scales = _scales(arg(args, kwargs, 3, "scale_factors"), len(shape) - 2, None)
        return interpolate_count(shape, tuple(output.shape), mode, align_corners, scales, True)

    formula.__qualname__ = formula.__name__ = f"upsample_{mode}_aa_operator"
    formula.__doc__ = (
        f"Antialiased {mode} resampling, one axis per pass: see :func:`interpolate_count`."
    )
    return formula


for _mode in AA_INTERP_SIZE:
    _kernel = getattr(_nn, f"_upsample_{_mode}2d_aa", None)
    if _kernel is not None:
        register_operator(_kernel)(_aa_kernel(_mode))

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
GRID_TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}
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
    sampling = 0 if mode == "nearest" else interpolation_ops(GRID_TAPS[mode], dims)
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
