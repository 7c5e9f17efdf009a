"""Shape family: dropout, padding, shuffles, resampling, grid sampling.

Every reference computes with torch and counts with Tally, and its output is checked
against the module or function under test, so the counts are trusted only as far as the
reference reproduces PyTorch's result.
"""

# Pinned cases name dimensions as the specification does (B, C, H, W...).
# ruff: noqa: N806

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from flopcount import Count
from tests.tally import Tally, module_count, operator_count

SEED = 1234
DT = torch.float64
ZERO = Count(0, 0)


def close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------- dropout
ALPHA = 1.7580993408473766


def ref_dropout(
    t: Tally, x: Tensor, p: float, training: bool, feature: bool, alpha: bool
) -> Tensor:
    """PyTorch's dropout with the same random draw (call after torch.manual_seed(SEED))."""
    if not training or p == 0 or x.numel() == 0:
        return x
    if p == 1:
        return t.mul(x, torch.zeros((), dtype=x.dtype))
    shape = (*x.shape[:2], *[1] * (x.ndim - 2)) if feature else x.shape
    mask = x.new_empty(shape).bernoulli_(1 - p)  # drawing the mask: not arithmetic on x
    if not alpha:
        return t.mul(x, mask / (1 - p))
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    shift = (mask - 1) * (ALPHA * a) + ALPHA * a * p  # derived from the mask alone
    return t.add(t.mul(x, mask * a), shift)


DROPOUTS = {  # module type: (feature, alpha, input rank)
    nn.Dropout: (False, False, 3), nn.Dropout1d: (True, False, 3),
    nn.Dropout2d: (True, False, 4), nn.Dropout3d: (True, False, 5),
    nn.AlphaDropout: (False, True, 3), nn.FeatureAlphaDropout: (True, True, 4),
}  # fmt: skip
FUNCTIONS = {
    nn.Dropout: (F.dropout, torch.dropout), nn.Dropout1d: (F.dropout1d, torch.feature_dropout),
    nn.Dropout2d: (F.dropout2d, torch.feature_dropout),
    nn.Dropout3d: (F.dropout3d, torch.feature_dropout),
    nn.AlphaDropout: (F.alpha_dropout, torch.alpha_dropout),
    nn.FeatureAlphaDropout: (F.feature_alpha_dropout, torch.feature_alpha_dropout),
}  # fmt: skip


@given(
    kind=st.sampled_from(list(DROPOUTS)),
    p=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    training=st.booleans(),
    sizes=st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_dropout_matches_reference(kind: type, p: float, training: bool, sizes: list[int]) -> None:
    feature, alpha, rank = DROPOUTS[kind]
    x = torch.randn(sizes[:rank], dtype=DT)
    module = kind(p).train(training)
    t = Tally()
    torch.manual_seed(SEED)
    expected = ref_dropout(t, x, p, training, feature, alpha)
    torch.manual_seed(SEED)
    close(module(x), expected)
    assert module_count(module, x) == t.count
    functional, kernel = FUNCTIONS[kind]
    assert operator_count(functional, x, p, training) == t.count
    assert operator_count(kernel, x, p, training) == t.count
    assert module_count(module, x.to("meta")) == t.count


def test_dropout_pinned_train_vs_eval() -> None:
    B, C, H, W = 2, 3, 4, 5
    x = torch.randn(B, C, H, W)
    module = nn.Dropout2d(0.3)
    assert module_count(module.train(), x) == Count(B * C * H * W, 0)
    assert module_count(module.eval(), x) == ZERO
    assert module_count(nn.Dropout(0.0).train(), x) == ZERO
    alpha = nn.AlphaDropout(0.3).train()
    assert module_count(alpha, x) == Count(2 * B * C * H * W, 0)  # mask multiply + shift add
    assert module_count(nn.AlphaDropout(1.0).train(), x) == Count(B * C * H * W, 0)
    # the functional defaults differ: dropout trains by default, alpha dropout does not
    assert operator_count(F.dropout, x) == Count(B * C * H * W, 0)
    assert operator_count(F.alpha_dropout, x) == ZERO
    assert operator_count(F.feature_alpha_dropout, x, 0.5) == ZERO
    assert operator_count(F.dropout, x, training=False) == ZERO
    assert operator_count(torch.dropout_, x.clone(), 0.5, True) == Count(B * C * H * W, 0)


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
