"""Data movement (``flopcount.formulas.data_movement``): padding and shuffles cost nothing.

Every reference computes with torch and counts with Tally, and its output is checked
against the module or function under test.
"""

# Pinned cases name dimensions as the specification does (B, C, H, W...).
# ruff: noqa: N806

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from flopcount import Count
from tests.tally import Tally, close, module_count, operator_count

SEED = 1234
DT = torch.float64
ZERO = Count(0, 0)


# ------------------------------------------------------------------ padding, shuffles
def pad_index(i: int, n: int, mode: str) -> int:
    if mode == "reflect":
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    return i % n  # circular


def ref_pad(x: Tensor, pads: list[int], mode: str, value: float = 0.0) -> Tensor:
    """Padding as gathers and concatenations: data movement, nothing counted."""
    out = x
    for k in range(len(pads) // 2):
        axis, (lo, hi) = x.ndim - 1 - k, pads[2 * k : 2 * k + 2]
        n = out.shape[axis]
        if mode == "constant":
            side = list(out.shape)
            parts = []
            for width, piece in ((lo, None), (None, out), (hi, None)):
                if piece is not None:
                    parts.append(piece)
                elif width:
                    side[axis] = width
                    parts.append(out.new_full(side, value))
            out = torch.cat(parts, axis)
        else:
            index = torch.tensor([pad_index(i, n, mode) for i in range(-lo, n + hi)])
            out = out.index_select(axis, index)
    return out


PADS = {
    "constant": (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d),
    "zeros": (nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d),
    "reflect": (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d),
    "replicate": (nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d),
    "circular": (nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d),
}


@given(
    kind=st.sampled_from(list(PADS)),
    dims=st.integers(1, 3),
    sizes=st.lists(st.integers(2, 4), min_size=3, max_size=3),
    pads=st.lists(st.integers(0, 1), min_size=6, max_size=6),
)
def test_padding_moves_data_only(kind: str, dims: int, sizes: list[int], pads: list[int]) -> None:
    x = torch.randn(2, 2, *sizes[:dims], dtype=DT)
    pads = pads[: 2 * dims]
    if kind == "constant":
        module: nn.Module = PADS[kind][dims - 1](pads, 1.5)
        expected, mode = ref_pad(x, pads, "constant", 1.5), "constant"
    elif kind == "zeros":
        module, mode = PADS[kind][dims - 1](pads), "constant"
        expected = ref_pad(x, pads, "constant")
    else:
        module, expected, mode = PADS[kind][dims - 1](pads), ref_pad(x, pads, kind), kind
    close(module(x), expected)
    assert module_count(module, x) == Tally().count == ZERO
    assert operator_count(F.pad, x, pads, mode) == ZERO
    assert module_count(module, x.to("meta")) == ZERO


def test_shuffles_move_data_only() -> None:
    B, C, H, W, r, g = 2, 8, 3, 5, 2, 4
    x = torch.randn(B, C, H, W)
    shuffled = x.reshape(B, C // (r * r), r, r, H, W).permute(0, 1, 4, 2, 5, 3)
    close(nn.PixelShuffle(r)(x), shuffled.reshape(B, C // (r * r), H * r, W * r))
    y = torch.randn(B, C // (r * r), H * r, W * r)
    unshuffled = y.reshape(B, C // (r * r), H, r, W, r).permute(0, 1, 3, 5, 2, 4)
    close(nn.PixelUnshuffle(r)(y), unshuffled.reshape(B, C, H, W))
    channels = x.reshape(B, g, C // g, H, W).transpose(1, 2).reshape(B, C, H, W)
    close(nn.ChannelShuffle(g)(x), channels)
    modules = ((nn.PixelShuffle(r), x), (nn.PixelUnshuffle(r), y), (nn.ChannelShuffle(g), x))
    for module, z in modules:
        assert module_count(module, z) == ZERO
        assert module_count(module, z.to("meta")) == ZERO
    functions = ((F.pixel_shuffle, x, r), (F.pixel_unshuffle, y, r), (F.channel_shuffle, x, g))
    for fn, z, factor in functions:
        assert operator_count(fn, z, factor) == ZERO
    assert module_count(nn.Flatten(), x) == module_count(nn.Unflatten(1, (2, 4)), x) == ZERO
