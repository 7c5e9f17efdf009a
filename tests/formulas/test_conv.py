"""Conv, ConvTranspose, Fold and Unfold formulas against op-by-op Tally references."""

# ruff: noqa: N806  (pinned cases name shape symbols N, C, H, W, K... in upper case)

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from flopcount import Count
from tests.tally import Tally, module_count, operator_count

# padding='same' with an even kernel: PyTorch warns that it pads a copy (data movement).
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
CONV_F = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T_F = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def tup(value: Any, dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(value)


def grid(sizes: Any) -> Any:
    return itertools.product(*(range(size) for size in sizes))


# -- references ------------------------------------------------------------------------
def ref_conv(
    t: Tally,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Pad (uncounted data movement), then one counted product per (input channel, tap) for
    every output element, accumulated by counted adds; one MAC per product."""
    dims = weight.dim() - 2
    unbatched = x.dim() == dims + 1
    if unbatched:
        x = x.unsqueeze(0)
    kernel, strides, dilations = weight.shape[2:], tup(stride, dims), tup(dilation, dims)
    if padding == "valid":
        pads = [(0, 0)] * dims
    elif padding == "same":
        totals = [d * (k - 1) for d, k in zip(dilations, kernel, strict=True)]
        pads = [(total // 2, total - total // 2) for total in totals]
    else:
        pads = [(p, p) for p in tup(padding, dims)]
    pad_arg = [side for pair in reversed(pads) for side in pair]
    mode = "constant" if padding_mode == "zeros" else padding_mode
    xp = F.pad(x, pad_arg, mode=mode)
    n, cin = xp.shape[:2]
    cg, og = cin // groups, weight.shape[0] // groups
    out_sizes = [
        (size - d * (k - 1) - 1) // s + 1
        for size, k, s, d in zip(xp.shape[2:], kernel, strides, dilations, strict=True)
    ]
    xg = xp.reshape(n, groups, 1, cg, *xp.shape[2:])
    wg = weight.reshape(groups, og, cg, *kernel)
    acc: torch.Tensor | None = None
    for ci in range(cg):
        for tap in grid(kernel):
            window = tuple(
                slice(j * d, j * d + s * (o - 1) + 1, s)
                for j, d, s, o in zip(tap, dilations, strides, out_sizes, strict=True)
            )
            xs = xg[(slice(None), slice(None), slice(None), ci, *window)]
            ws = wg[(slice(None), slice(None), ci, *tap)].reshape(1, groups, og, *[1] * dims)
            term = t.mul(xs, ws)
            t.macs += term.numel()
            acc = term if acc is None else t.add(acc, term)
    assert acc is not None
    out = acc.reshape(n, groups * og, *out_sizes)
    if bias is not None:
        out = t.add(out, bias.reshape(1, -1, *[1] * dims))
    return out.squeeze(0) if unbatched else out


def ref_conv_transpose(
    t: Tally,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> torch.Tensor:
    """Brute-force scatter: for every input position, kernel tap and input channel, one
    counted product per output channel, written into the full (uncropped) buffer; a target
    already holding a value gets a counted add. Then crop by ``padding`` and add the bias."""
    dims = weight.dim() - 2
    unbatched = x.dim() == dims + 1
    if unbatched:
        x = x.unsqueeze(0)
    strides, dilations = tup(stride, dims), tup(dilation, dims)
    paddings, extra = tup(padding, dims), tup(output_padding, dims)
    n, cin = x.shape[:2]
    kernel, cg, og = weight.shape[2:], cin // groups, weight.shape[1]
    full = [
        (i - 1) * s + d * (k - 1) + 1
        for i, k, s, d in zip(x.shape[2:], kernel, strides, dilations, strict=True)
    ]
    buf = torch.zeros(
        n, og * groups, *[f + e for f, e in zip(full, extra, strict=True)], dtype=x.dtype
    )
    written: set[tuple[int, ...]] = set()
    for g in range(groups):
        for pos in grid(x.shape[2:]):
            for tap in grid(kernel):
                target = tuple(
                    i * s + j * d for i, j, s, d in zip(pos, tap, strides, dilations, strict=True)
                )
                where = (slice(None), slice(g * og, (g + 1) * og), *target)
                for c in range(g * cg, (g + 1) * cg):
                    product = t.mul(
                        x[(slice(None), c, *pos)].reshape(n, 1), weight[(c, slice(None), *tap)]
                    )
                    t.macs += product.numel()
                    if (g, *target) in written:
                        buf[where] = t.add(buf[where], product)
                    else:
                        buf[where] = product
                        written.add((g, *target))
    out_sizes = [f - 2 * p + e for f, p, e in zip(full, paddings, extra, strict=True)]
    out = buf[(Ellipsis, *(slice(p, p + o) for p, o in zip(paddings, out_sizes, strict=True)))]
    if bias is not None:
        out = t.add(out, bias.reshape(1, -1, *[1] * dims))
    return out.squeeze(0) if unbatched else out


def ref_fold(
    t: Tally,
    x: torch.Tensor,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> torch.Tensor:
    """Scatter every block value into the padded image (counted add when the target already
    holds one), then crop the padding."""
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    out_sizes, kernel = tup(output_size, 2), tup(kernel_size, 2)
    dilations, paddings, strides = tup(dilation, 2), tup(padding, 2), tup(stride, 2)
    blocks = [
        (o + 2 * p - d * (k - 1) - 1) // s + 1
        for o, p, d, k, s in zip(out_sizes, paddings, dilations, kernel, strides, strict=True)
    ]
    n, c = x.shape[0], x.shape[1] // math.prod(kernel)
    cols = x.reshape(n, c, *kernel, *blocks)
    buf = torch.zeros(
        n, c, *[o + 2 * p for o, p in zip(out_sizes, paddings, strict=True)], dtype=x.dtype
    )
    written: set[tuple[int, ...]] = set()
    for block in grid(blocks):
        for tap in grid(kernel):
            target = tuple(
                b * s + j * d for b, j, s, d in zip(block, tap, strides, dilations, strict=True)
            )
            where = (slice(None), slice(None), *target)
            value = cols[(slice(None), slice(None), *tap, *block)]
            if target in written:
                buf[where] = t.add(buf[where], value)
            else:
                buf[where] = value
                written.add(target)
    out = buf[(Ellipsis, *(slice(p, p + o) for p, o in zip(paddings, out_sizes, strict=True)))]
    return out.squeeze(0) if unbatched else out


def tally_of(reference: Any, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, Count]:
    t = Tally()
    out = reference(t, *args, **kwargs)
    return out, t.count


# -- hypothesis --------------------------------------------------------------------------
@st.composite
def conv_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    style = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    stride = (1,) * dims if style == "same" else tuple(draw(st.integers(1, 2)) for _ in range(dims))
    sizes = tuple(
        d * (k - 1) + 1 + draw(st.integers(0, 2)) for k, d in zip(kernel, dilation, strict=True)
    )
    padding: Any = style
    if style == "int":
        padding = draw(st.integers(0, min(2, *[s - 1 for s in sizes])))
    elif style == "tuple":
        padding = tuple(draw(st.integers(0, min(2, s - 1))) for s in sizes)
    return {
        "dims": dims,
        "groups": groups,
        "cin": groups * draw(st.integers(1, 2)),
        "cout": groups * draw(st.integers(1, 2)),
        "kernel": kernel[0] if len(set(kernel)) == 1 and draw(st.booleans()) else kernel,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
        "sizes": sizes,
        "bias": draw(st.booleans()),
        "batch": draw(st.sampled_from([None, 1, 2])),
        "padding_mode": draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    }


@given(conv_cases())
def test_conv_matches_tally(case: dict[str, Any]) -> None:
    module = CONV[case["dims"]](
        case["cin"],
        case["cout"],
        case["kernel"],
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        groups=case["groups"],
        bias=case["bias"],
        padding_mode=case["padding_mode"],
    ).double()
    lead = (case["cin"],) if case["batch"] is None else (case["batch"], case["cin"])
    x = torch.randn(*lead, *case["sizes"], dtype=torch.float64)
    out, expected = tally_of(
        ref_conv,
        x,
        module.weight,
        module.bias,
        case["stride"],
        case["padding"],
        case["dilation"],
        case["groups"],
        case["padding_mode"],
    )
    torch.testing.assert_close(out, module(x))
    assert module_count(module, x) == expected
    if case["padding_mode"] == "zeros":
        assert (
            operator_count(
                CONV_F[case["dims"]],
                x,
                module.weight,
                module.bias,
                stride=case["stride"],
                padding=case["padding"],
                dilation=case["dilation"],
                groups=case["groups"],
            )
            == expected
        )


@st.composite
def conv_transpose_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    top = 3 if dims < 3 else 2
    kernel = tuple(draw(st.integers(1, top)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    sizes = tuple(draw(st.integers(1, top)) for _ in range(dims))
    full = [
        (i - 1) * s + d * (k - 1) + 1
        for i, k, s, d in zip(sizes, kernel, stride, dilation, strict=True)
    ]
    padding = tuple(draw(st.integers(0, min(2, (f - 1) // 2))) for f in full)
    output_padding = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    groups = draw(st.integers(1, 2))
    return {
        "dims": dims,
        "groups": groups,
        "cin": groups * draw(st.integers(1, 2)),
        "cout": groups * draw(st.integers(1, 2)),
        "kernel": kernel,
        "stride": stride,
        "dilation": dilation,
        "padding": padding,
        "output_padding": output_padding,
        "sizes": sizes,
        "bias": draw(st.booleans()),
        "batch": draw(st.sampled_from([None, 1, 2])),
    }


@given(conv_transpose_cases())
def test_conv_transpose_matches_tally(case: dict[str, Any]) -> None:
    module = CONV_T[case["dims"]](
        case["cin"],
        case["cout"],
        case["kernel"],
        stride=case["stride"],
        padding=case["padding"],
        output_padding=case["output_padding"],
        groups=case["groups"],
        bias=case["bias"],
        dilation=case["dilation"],
    ).double()
    lead = (case["cin"],) if case["batch"] is None else (case["batch"], case["cin"])
    x = torch.randn(*lead, *case["sizes"], dtype=torch.float64)
    args = (
        module.weight,
        module.bias,
        case["stride"],
        case["padding"],
        case["output_padding"],
        case["groups"],
        case["dilation"],
    )
    out, expected = tally_of(ref_conv_transpose, x, *args)
    torch.testing.assert_close(out, module(x))
    assert module_count(module, x) == expected
    assert operator_count(CONV_T_F[case["dims"]], x, *args) == expected


@st.composite
def fold_cases(draw: Any) -> dict[str, Any]:
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    return {
        "kernel": kernel,
        "dilation": dilation,
        "padding": padding,
        "stride": stride,
        "output": output,
        "channels": draw(st.integers(1, 2)),
        "batch": draw(st.sampled_from([None, 2])),
    }


@given(fold_cases())
def test_fold_matches_tally(case: dict[str, Any]) -> None:
    kw = {
        "kernel_size": case["kernel"],
        "dilation": case["dilation"],
        "padding": case["padding"],
        "stride": case["stride"],
    }
    blocks = math.prod(
        (o + 2 * p - d * (k - 1) - 1) // s + 1
        for o, p, d, k, s in zip(
            case["output"],
            case["padding"],
            case["dilation"],
            case["kernel"],
            case["stride"],
            strict=True,
        )
    )
    lead = () if case["batch"] is None else (case["batch"],)
    x = torch.randn(
        *lead, case["channels"] * math.prod(case["kernel"]), blocks, dtype=torch.float64
    )
    module = nn.Fold(case["output"], **kw)
    out, expected = tally_of(ref_fold, x, case["output"], **kw)
    torch.testing.assert_close(out, module(x))
    assert module_count(module, x) == expected
    assert operator_count(F.fold, x, case["output"], **kw) == expected
    # Unfold is the inverse data movement: no arithmetic at all.
    image = torch.randn(*lead, case["channels"], *case["output"], dtype=torch.float64)
    assert module_count(nn.Unfold(**kw), image) == Count(0)
    assert operator_count(F.unfold, image, **kw) == Count(0)


# -- pinned cases (named dimensions) ----------------------------------------------------------
def test_conv2d_pinned() -> None:
    N, Cin, Cout, H, W, K = 2, 4, 6, 5, 7, 3
    x = torch.randn(N, Cin, H, W)
    with_bias = nn.Conv2d(Cin, Cout, K, padding=1)
    no_bias = nn.Conv2d(Cin, Cout, K, padding=1, bias=False)
    macs = N * Cout * H * W * Cin * K * K
    assert module_count(with_bias, x) == Count(N * Cout * H * W * (2 * Cin * K * K), macs)
    assert module_count(no_bias, x) == Count(N * Cout * H * W * (2 * Cin * K * K - 1), macs)


def test_conv1d_and_conv3d_pinned() -> None:
    N, Cin, Cout, L, K, S, P = 3, 2, 5, 11, 4, 2, 1
    Lout = (L + 2 * P - K) // S + 1
    conv1 = nn.Conv1d(Cin, Cout, K, stride=S, padding=P)
    assert module_count(conv1, torch.randn(N, Cin, L)) == Count(
        N * Cout * Lout * 2 * Cin * K, N * Cout * Lout * Cin * K
    )
    D, H, W, KD = 4, 5, 6, 2
    conv3 = nn.Conv3d(Cin, Cout, (KD, K, K), bias=False)
    outs = (D - KD + 1) * (H - K + 1) * (W - K + 1)
    assert module_count(conv3, torch.randn(N, Cin, D, H, W)) == Count(
        N * Cout * outs * (2 * Cin * KD * K * K - 1), N * Cout * outs * Cin * KD * K * K
    )


def test_int_and_tuple_kernel_size_agree() -> None:
    N, Cin, Cout, H, W, K = 2, 3, 4, 6, 7, 3
    x = torch.randn(N, Cin, H, W)
    as_int = module_count(nn.Conv2d(Cin, Cout, K), x)
    assert as_int == module_count(nn.Conv2d(Cin, Cout, (K, K)), x)
    assert as_int == Count(
        N * Cout * (H - K + 1) * (W - K + 1) * 2 * Cin * K * K,
        N * Cout * (H - K + 1) * (W - K + 1) * Cin * K * K,
    )
    KH, KW = 2, 3
    assert module_count(nn.Conv2d(Cin, Cout, (KH, KW), bias=False), x) == Count(
        N * Cout * (H - KH + 1) * (W - KW + 1) * (2 * Cin * KH * KW - 1),
        N * Cout * (H - KH + 1) * (W - KW + 1) * Cin * KH * KW,
    )
    t = torch.randn(N, Cout, H, W)
    assert module_count(nn.ConvTranspose2d(Cout, Cin, K, stride=2), t) == module_count(
        nn.ConvTranspose2d(Cout, Cin, (K, K), stride=(2, 2)), t
    )


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
def test_same_padding_even_kernel_and_dilation(padding_mode: str) -> None:
    N, Cin, Cout, H, W, KH, KW, DH, DW = 2, 3, 4, 7, 9, 4, 2, 2, 3
    conv = nn.Conv2d(
        Cin, Cout, (KH, KW), padding="same", dilation=(DH, DW), padding_mode=padding_mode
    ).double()
    x = torch.randn(N, Cin, H, W, dtype=torch.float64)
    out, expected = tally_of(
        ref_conv, x, conv.weight, conv.bias, 1, "same", (DH, DW), 1, padding_mode
    )
    torch.testing.assert_close(out, conv(x))
    assert conv(x).shape == (N, Cout, H, W)
    pinned = Count(N * Cout * H * W * 2 * Cin * KH * KW, N * Cout * H * W * Cin * KH * KW)
    assert module_count(conv, x) == expected == pinned
    if padding_mode == "zeros":
        assert operator_count(F.conv2d, x, conv.weight, conv.bias, 1, "same", (DH, DW)) == pinned


def test_groups_and_depthwise() -> None:
    N, H, W, K, G = 2, 6, 5, 3, 3
    Cin, Cout = 2 * G, 3 * G
    x = torch.randn(N, Cin, H, W, dtype=torch.float64)
    grouped = nn.Conv2d(Cin, Cout, K, padding=1, groups=G).double()
    out, expected = tally_of(ref_conv, x, grouped.weight, grouped.bias, 1, 1, 1, G)
    torch.testing.assert_close(out, grouped(x))
    assert (
        module_count(grouped, x)
        == expected
        == Count(N * Cout * H * W * 2 * (Cin // G) * K * K, N * Cout * H * W * (Cin // G) * K * K)
    )
    C = Cin
    depthwise = nn.Conv2d(C, C, K, padding=1, groups=C, bias=False)
    assert module_count(depthwise, x.float()) == Count(
        N * C * H * W * (2 * K * K - 1), N * C * H * W * K * K
    )
    # a grouped transposed conv: each input channel feeds Cout/G outputs per tap
    up = nn.ConvTranspose2d(Cin, Cout, 2, stride=2, groups=G, bias=False).double()
    out, expected = tally_of(ref_conv_transpose, x, up.weight, None, 2, 0, 0, G)
    torch.testing.assert_close(out, up(x))
    macs = N * Cin * H * W * (Cout // G) * 2 * 2
    # stride = kernel: no overlaps; each full-buffer element sums Cin/G contributions
    assert module_count(up, x) == expected == Count(2 * macs - N * Cout * (2 * H) * (2 * W), macs)


def test_unbatched_inputs() -> None:
    Cin, Cout, H, W, K = 3, 4, 6, 5, 3
    x = torch.randn(Cin, H, W, dtype=torch.float64)
    conv = nn.Conv2d(Cin, Cout, K).double()
    out, expected = tally_of(ref_conv, x, conv.weight, conv.bias)
    torch.testing.assert_close(out, conv(x))
    pinned = Count(
        Cout * (H - K + 1) * (W - K + 1) * 2 * Cin * K * K,
        Cout * (H - K + 1) * (W - K + 1) * Cin * K * K,
    )
    assert module_count(conv, x) == expected == pinned == module_count(conv, x.unsqueeze(0))
    up = nn.ConvTranspose2d(Cin, Cout, K, stride=2, padding=1).double()
    out, expected = tally_of(ref_conv_transpose, x, up.weight, up.bias, 2, 1)
    torch.testing.assert_close(out, up(x))
    assert module_count(up, x) == expected == module_count(up, x.unsqueeze(0))
    assert operator_count(F.conv_transpose2d, x, up.weight, up.bias, 2, 1) == expected
    fold = nn.Fold((4, 5), 2)
    cols = torch.randn(Cin * 4, 3 * 4, dtype=torch.float64)
    assert (
        module_count(fold, cols)
        == module_count(fold, cols.unsqueeze(0))
        == Count(Cin * (4 * 3 * 4 - 4 * 5))
    )


def test_conv_transpose_accumulation_with_stride_and_padding() -> None:
    # 1-d, kernel 3 > stride 2: every position of the full buffer (length 2L + 1) is hit;
    # padding crops it to 2L − 1 but the cropped sums are still computed.
    N, Cin, Cout, L, K, S, P = 2, 3, 4, 5, 3, 2, 1
    up = nn.ConvTranspose1d(Cin, Cout, K, stride=S, padding=P).double()
    x = torch.randn(N, Cin, L, dtype=torch.float64)
    full, Lout = (L - 1) * S + K, (L - 1) * S + K - 2 * P
    macs = N * Cin * L * Cout * K
    out, expected = tally_of(ref_conv_transpose, x, up.weight, up.bias, S, P)
    torch.testing.assert_close(out, up(x))
    assert (
        module_count(up, x)
        == expected
        == Count(macs + (macs - N * Cout * full) + N * Cout * Lout, macs)
    )
    # padding only changes the bias adds (the full buffer is the same)
    unpadded = nn.ConvTranspose1d(Cin, Cout, K, stride=S, bias=False)
    padded = nn.ConvTranspose1d(Cin, Cout, K, stride=S, padding=P, bias=False)
    assert module_count(unpadded, x.float()) == module_count(padded, x.float())
    # 2-d, the usual 4x4 / stride 2 / padding 1 upsampler, with output_padding
    H, W = 3, 4
    up2 = nn.ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1, output_padding=1).double()
    x2 = torch.randn(N, Cin, H, W, dtype=torch.float64)
    out, expected = tally_of(ref_conv_transpose, x2, up2.weight, up2.bias, 2, 1, 1)
    torch.testing.assert_close(out, up2(x2))
    macs = N * Cin * H * W * Cout * 4 * 4
    reached = N * Cout * (2 * H + 2) * (2 * W + 2)
    assert (
        module_count(up2, x2)
        == expected
        == Count(2 * macs - reached + N * Cout * (2 * H + 1) * (2 * W + 1), macs)
    )
    # forward(x, output_size=...) picks the output padding at call time: same count
    no_extra = nn.ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1).double()
    no_extra.load_state_dict(up2.state_dict())
    sized = (2 * H + 1, 2 * W + 1)
    torch.testing.assert_close(no_extra(x2, output_size=sized), up2(x2))
    assert module_count(no_extra, x2, output_size=sized) == expected


def test_conv_transpose_holes() -> None:
    # stride 3 > kernel 2: no overlap, Cin − 1 adds per reached element, unreached gaps
    N, Cin, Cout, L, K, S = 2, 3, 2, 4, 2, 3
    x = torch.randn(N, Cin, L, dtype=torch.float64)
    up = nn.ConvTranspose1d(Cin, Cout, K, stride=S, bias=False).double()
    out, expected = tally_of(ref_conv_transpose, x, up.weight, None, S)
    torch.testing.assert_close(out, up(x))
    macs = N * Cin * L * Cout * K
    assert module_count(up, x) == expected == Count(macs + N * Cout * L * K * (Cin - 1), macs)
    # dilation 3, stride 1, L = 2: positions i + 3j hit {0, 1, 3, 4}, position 2 is a gap
    L, D = 2, 3
    x = torch.randn(N, Cin, L, dtype=torch.float64)
    up = nn.ConvTranspose1d(Cin, Cout, K, dilation=D, bias=False).double()
    out, expected = tally_of(ref_conv_transpose, x, up.weight, None, 1, 0, 0, 1, D)
    torch.testing.assert_close(out, up(x))
    macs = N * Cin * L * Cout * K
    assert module_count(up, x) == expected == Count(2 * macs - N * Cout * 4, macs)


def test_fold_pinned() -> None:
    N, C, H, W, K = 2, 3, 5, 6, 2
    overlapping = nn.Fold((H, W), K)  # stride 1: (H − 1)(W − 1) blocks cover all H·W
    cols = torch.randn(N, C * K * K, (H - 1) * (W - 1))
    assert module_count(overlapping, cols) == Count(N * C * (K * K * (H - 1) * (W - 1) - H * W))
    tiling = nn.Fold((4, 6), K, stride=K)  # non-overlapping blocks: nothing to add
    assert module_count(tiling, torch.randn(N, C * K * K, 2 * 3)) == Count(0)


def test_zero_size_batch() -> None:
    x = torch.randn(0, 3, 6, 6)
    conv = nn.Conv2d(3, 4, 3)
    assert module_count(conv, x) == Count(0)
    assert operator_count(F.conv2d, x, conv.weight, conv.bias) == Count(0)
    assert module_count(nn.ConvTranspose2d(3, 4, 3, stride=2), x) == Count(0)
    assert module_count(nn.Conv1d(3, 4, 3, padding="same"), torch.randn(0, 3, 5)) == Count(0)
    assert module_count(nn.Fold((4, 4), 2), torch.randn(0, 12, 9)) == Count(0)


def test_lazy_variants_inherit() -> None:
    x = torch.randn(2, 3, 6, 6)
    lazy, eager = nn.LazyConv2d(4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
    assert (
        module_count(lazy, x)
        == module_count(eager, x)
        == Count(2 * 4 * 6 * 6 * 2 * 3 * 9, 2 * 4 * 6 * 6 * 3 * 9)
    )
    lazy_t = nn.LazyConvTranspose1d(4, 3, stride=2)
    eager_t = nn.ConvTranspose1d(3, 4, 3, stride=2)
    assert module_count(lazy_t, x[..., 0]) == module_count(eager_t, x[..., 0])


def test_torch_namespace_and_convolution() -> None:
    x = torch.randn(2, 4, 5, 5)
    conv = nn.Conv2d(4, 6, 3, stride=2, groups=2)
    expected = module_count(conv, x)
    assert operator_count(torch.conv2d, x, conv.weight, conv.bias, 2, 0, 1, 2) == expected
    assert (
        operator_count(
            torch.convolution, x, conv.weight, conv.bias, [2, 2], [0, 0], [1, 1], False, [0, 0], 2
        )
        == expected
    )
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, dilation=2, groups=2)
    expected = module_count(up, x)
    assert operator_count(torch.conv_transpose2d, x, up.weight, up.bias, 2, 0, 0, 2, 2) == expected
    assert (
        operator_count(
            torch.convolution, x, up.weight, up.bias, [2, 2], [0, 0], [2, 2], True, [0, 0], 2
        )
        == expected
    )


def _conv_ref(t: Tally, m: Any, x: torch.Tensor) -> torch.Tensor:
    return ref_conv(
        t, x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups, m.padding_mode
    )


def _conv_t_ref(t: Tally, m: Any, x: torch.Tensor) -> torch.Tensor:
    return ref_conv_transpose(
        t, x, m.weight, m.bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation
    )


def _fold_ref(t: Tally, m: Any, x: torch.Tensor) -> torch.Tensor:
    return ref_fold(t, x, m.output_size, m.kernel_size, m.dilation, m.padding, m.stride)


@pytest.mark.parametrize(
    "make, shape, reference",
    [
        (lambda: nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2), (2, 4, 7, 6), _conv_ref),
        (
            lambda: nn.Conv1d(3, 3, 4, padding="same", dilation=2, padding_mode="reflect"),
            (3, 9),
            _conv_ref,
        ),
        (lambda: nn.Conv3d(2, 4, 2, bias=False), (1, 2, 3, 4, 3), _conv_ref),
        (
            lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
            (2, 4, 3, 3),
            _conv_t_ref,
        ),
        (
            lambda: nn.ConvTranspose3d(2, 2, 2, stride=(1, 2, 3), dilation=2),
            (1, 2, 2, 2, 2),
            _conv_t_ref,
        ),
        (lambda: nn.Fold((5, 4), (2, 3), padding=1, stride=2), (2, 12, 6), _fold_ref),
    ],
)
def test_meta_device(make: Any, shape: tuple[int, ...], reference: Any) -> None:
    module = make().double()
    x = torch.randn(*shape, dtype=torch.float64)
    out, expected = tally_of(reference, module, x)
    torch.testing.assert_close(out, module(x))
    assert module_count(module.to("meta"), x.to("meta")) == expected
