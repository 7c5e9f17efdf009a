"""Cross-channel and p-norm normalisation: LocalResponseNorm, CrossMapLRN2d, F.normalize.

``macs`` is always zero. A real power ``t ** β`` is priced by its textbook definition
``exp(β·log t)``: 3 ops (log, multiply, exp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg, normalize_dim, numel

POW_OPS = 3
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
    1 multiply by α/n, 1 add of k, 3 for the power and 1 divide:
    ``B·prod(*)·(Σ_c t_c + 6C)``.
    """
    total = numel(shape)
    if total == 0:
        return Count(0)
    channels = shape[1]
    positions = total // channels
    return Count(positions * (lrn_window_terms(channels, size) + 6 * channels))


def cross_map_lrn2d_count(shape: Sequence[int], size: int) -> Count:
    """``nn.CrossMapLRN2d`` priced by the running-window algorithm it executes.

    With ``p = int((size − 1)/2 + 1)``, per spatial position: C squares; the first
    channel's window sums ``min(p, C)`` squares (``min(p, C) − 1`` adds); each later channel
    c = 1..C−1 adds the square entering the window (when ``c ≤ C − p``) and subtracts the
    one leaving it (when ``c > p``); then per element a multiply by α/n, an add of k, the
    power ``scale ** −β`` (3) and a multiply by the input: 6 ops.
    """
    total = numel(shape)
    if total == 0:
        return Count(0)
    channels = shape[1]
    positions = total // channels
    pre_pad = int((size - 1) / 2 + 1)
    first = min(pre_pad, channels) - 1
    entering = max(0, channels - pre_pad)
    leaving = max(0, channels - 1 - pre_pad)
    return Count(positions * (7 * channels + first + entering + leaving))


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


def p_norm_ops(length: int, p: float) -> int:
    """Ops of ``‖v‖_p`` of a vector of ``length`` elements.

    p = 2: N squares, N − 1 adds, 1 sqrt (2N). p = 1: N abs, N − 1 adds (2N − 1).
    p = ±inf: N abs, N − 1 max/min compares (2N − 1). p = 0 (count of non-zeros): N
    compares, N − 1 adds (2N − 1). Any other p: N abs, N powers (3 each), N − 1 adds and
    the root ``s ** (1/p)`` (3): 5N + 2.
    """
    if length <= 0:
        return 0
    if p == 2:
        return 2 * length
    if p in (1, 0) or math.isinf(p):
        return 2 * length - 1
    return length + POW_OPS * length + (length - 1) + POW_OPS


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
