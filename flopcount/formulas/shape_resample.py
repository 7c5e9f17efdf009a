"""Resampling: ``nn.Upsample`` and its aliases, ``F.interpolate`` and the kernels it calls.

Only arithmetic on tensor values counts. Source coordinates, tap indices and interpolation
weights depend on sizes alone (index math) and are free; so nearest modes cost 0.

A 1-D interpolation with k taps is k multiplies and k − 1 adds (2k − 1 ops): 3 for linear
(k = 2), 7 for cubic convolution (k = 4). Multi-axis modes interpolate repeatedly, per
output element: the k taps of the outermost axis are each an interpolation over the
remaining axes, so one output element costs (2k − 1)·(1 + k + … + k^(d−1)) ops over d
axes: linear 3, bilinear 9, trilinear 21, bicubic 35. ``area`` is adaptive average
pooling. Antialiased modes resample one axis at a time (PyTorch's CPU kernel and PIL's
two-pass scheme), each pass costing its taps per output of the pass.
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
    return formula


for _mode in AA_INTERP_SIZE:
    _kernel = getattr(_nn, f"_upsample_{_mode}2d_aa", None)
    if _kernel is not None:
        register_operator(_kernel)(_aa_kernel(_mode))
