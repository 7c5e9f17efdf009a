"""Pooling formulas against op-by-op Tally references (one counted op per compare, add,
divide, power and root; windows gathered element by element)."""

# ruff: noqa: N806  (pinned cases name shape symbols N, C, H, W, K... in upper case)

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from flopcount import Count
from tests.tally import Tally, module_count, operator_count

MAX = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
LP = {1: nn.LPPool1d, 2: nn.LPPool2d, 3: nn.LPPool3d}
ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
ADAPTIVE_AVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
MAX_F = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
MAX_T = {1: torch.max_pool1d, 2: torch.max_pool2d, 3: torch.max_pool3d}
AVG_F = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
LP_F = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}
ADAPTIVE_MAX_F = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
ADAPTIVE_AVG_F = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}

Spans = list[list[list[int]]]  # per dimension, per output index: the input indices read


def tup(value: Any, dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(value)


def sliding_spans(
    sizes: Sequence[int],
    outs: Sequence[int],
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any = 1,
) -> Spans:
    """Brute force: window o reads o·s − p + j·d for j < k, keeping those inside the input."""
    dims = len(sizes)
    kernel = tup(kernel, dims)
    stride = kernel if stride is None else tup(stride, dims)
    padding, dilation = tup(padding, dims), tup(dilation, dims)
    return [
        [[pos for j in range(k) if 0 <= (pos := o * s - p + j * d) < size] for o in range(out)]
        for size, out, k, s, p, d in zip(
            sizes, outs, kernel, stride, padding, dilation, strict=True
        )
    ]


def reduce_windows(
    x: torch.Tensor,
    spans: Spans,
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    empty: float | None = None,
) -> torch.Tensor:
    """Every output: its window's elements, one at a time, folded with the counted ``step``;
    a window with no element inside the input is ``empty`` (max pools: −∞), no arithmetic."""
    dims = len(spans)
    outs = []
    for o in itertools.product(*(range(len(s)) for s in spans)):
        window = list(itertools.product(*(spans[d][o[d]] for d in range(dims))))
        if not window:
            assert empty is not None, "empty window"
            outs.append(torch.full(x.shape[:-dims], empty, dtype=x.dtype))
            continue
        acc = x[(Ellipsis, *window[0])]
        for index in window[1:]:
            acc = step(acc, x[(Ellipsis, *index)])
        outs.append(acc)
    return torch.stack(outs, -1).reshape(*x.shape[:-dims], *(len(s) for s in spans))


def ref_avg_divisor(
    sizes: Sequence[int],
    outs: Sequence[int],
    kernel: Any,
    stride: Any,
    padding: Any,
    count_include_pad: bool,
    divisor_override: int | None,
) -> torch.Tensor:
    """PyTorch's divisor per output: window clipped to the padded input (count_include_pad)
    or to the input; this is the divide's operand, computed without arithmetic on values."""
    dims = len(sizes)
    kernel = tup(kernel, dims)
    stride = kernel if stride is None else tup(stride, dims)
    padding = tup(padding, dims)
    per_dim = []
    for size, out, k, s, p in zip(sizes, outs, kernel, stride, padding, strict=True):
        sizes_d = []
        for o in range(out):
            start = o * s - p
            end = min(start + k, size + p)
            padded = end - start
            inside = min(end, size) - max(start, 0)
            sizes_d.append(padded if count_include_pad else inside)
        per_dim.append(sizes_d)
    divisor = [divisor_override or math.prod(combo) for combo in itertools.product(*per_dim)]
    return torch.tensor(divisor, dtype=torch.float64).reshape(*outs)


def counted(reference: Callable[..., torch.Tensor], *args: Any) -> tuple[torch.Tensor, Count]:
    t = Tally()
    return reference(t, *args), t.count


def first(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def planes(draw: Any, channels: int) -> tuple[int, ...]:
    batch = draw(st.sampled_from([None, 1, 2]))
    return (channels,) if batch is None else (batch, channels)


# -- max pool ------------------------------------------------------------------------------
@st.composite
def max_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    stride = draw(st.none() | st.tuples(*[st.integers(1, 3)] * dims))
    sizes = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    same = len(set(kernel)) == 1 and draw(st.booleans())
    return {
        "dims": dims,
        "kernel": kernel[0] if same else kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "sizes": sizes,
        "ceil_mode": draw(st.booleans()),
        "return_indices": draw(st.booleans()),
        "lead": planes(draw, draw(st.integers(1, 2))),
    }


@given(max_cases())
def test_max_pool_matches_tally(case: dict[str, Any]) -> None:
    dims = case["dims"]
    hyper = (case["kernel"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    module = MAX[dims](
        *hyper[:4], ceil_mode=case["ceil_mode"], return_indices=case["return_indices"]
    )
    x = torch.randn(*case["lead"], *case["sizes"], dtype=torch.float64)
    out = first(module(x))
    t = Tally()
    spans = sliding_spans(case["sizes"], out.shape[-dims:], *hyper[:4])
    torch.testing.assert_close(reduce_windows(x, spans, t.maximum, -math.inf), out)
    assert module_count(module, x) == t.count
    assert operator_count(MAX_F[dims], x, *hyper, case["return_indices"]) == t.count
    stride = [] if case["stride"] is None else case["stride"]
    assert operator_count(MAX_T[dims], x, case["kernel"], stride, *hyper[2:]) == t.count


# -- average pool ----------------------------------------------------------------------------
@st.composite
def avg_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    stride = draw(st.none() | st.tuples(*[st.integers(1, 3)] * dims))
    sizes = tuple(k + draw(st.integers(0, 3)) for k in kernel)  # avg_pool3d needs size ≥ k
    override = None if dims == 1 else draw(st.none() | st.integers(1, 5))
    return {
        "dims": dims,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "sizes": sizes,
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()),
        "divisor_override": override,
        "lead": planes(draw, draw(st.integers(1, 2))),
    }


@given(avg_cases())
def test_avg_pool_matches_tally(case: dict[str, Any]) -> None:
    dims = case["dims"]
    hyper = (
        case["kernel"],
        case["stride"],
        case["padding"],
        case["ceil_mode"],
        case["count_include_pad"],
    )
    extra = () if dims == 1 else (case["divisor_override"],)
    module = AVG[dims](*hyper, *extra)
    x = torch.randn(*case["lead"], *case["sizes"], dtype=torch.float64)
    out = module(x)
    outs = out.shape[-dims:]
    t = Tally()
    sums = reduce_windows(x, sliding_spans(case["sizes"], outs, *hyper[:3]), t.add)
    divisor = ref_avg_divisor(
        case["sizes"], outs, *hyper[:3], case["count_include_pad"], case["divisor_override"]
    )
    torch.testing.assert_close(t.div(sums, divisor), out)
    assert module_count(module, x) == t.count
    assert operator_count(AVG_F[dims], x, *hyper, *extra) == t.count


# -- LP pool ------------------------------------------------------------------------------------
def ref_lp_pool(
    t: Tally, x: torch.Tensor, norm_type: float, kernel: Any, stride: Any, outs: Sequence[int]
) -> torch.Tensor:
    """x^p per input element, windowed sums, one root per output. PyTorch computes the sum
    as avg_pool·∏k, which rescales ceil_mode's clipped windows by ∏k / (elements read);
    that rescaling is applied uncounted so the output can be compared."""
    dims = len(outs)
    spans = sliding_spans(x.shape[-dims:], outs, kernel, stride, 0)
    if math.isinf(norm_type):
        magnitudes = t.unary(torch.abs, x)
        step = t.maximum if norm_type > 0 else t.minimum
        return reduce_windows(magnitudes, spans, step)
    powers = t.pow(x, norm_type)
    sums = reduce_windows(powers, spans, t.add)
    read = torch.tensor(
        [math.prod(len(s) for s in combo) for combo in itertools.product(*spans)],
        dtype=x.dtype,
    ).reshape(*outs)
    sums = sums * (math.prod(tup(kernel, dims)) / read)
    return t.pow(sums, 1.0 / norm_type)


@st.composite
def lp_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = draw(st.none() | st.tuples(*[st.integers(1, 3)] * dims))
    sizes = tuple(k + draw(st.integers(0, 3)) for k in kernel)
    return {
        "dims": dims,
        "kernel": kernel[0] if dims == 1 else kernel,  # lp_pool1d: int only
        "stride": stride,
        "sizes": sizes,
        "norm_type": draw(st.sampled_from([1, 2, 3, 1.5, math.inf, -math.inf])),
        "ceil_mode": draw(st.booleans()),
        "lead": planes(draw, draw(st.integers(1, 2))),
    }


LP_POOL_INF_IS_MAX = torch.equal(
    F.lp_pool1d(torch.tensor([[[0.5, -2.0]]]), math.inf, 2), torch.tensor([[[2.0]]])
)
"""Newer torch computes an infinite-norm LPPool as the max of |x| (the math flopcount prices);
torch 2.6 raises to the power ∞ and averages, which is not that norm. Probed, not assumed."""


@given(lp_cases())
def test_lp_pool_matches_tally(case: dict[str, Any]) -> None:
    dims = case["dims"]
    hyper = (case["norm_type"], case["kernel"], case["stride"], case["ceil_mode"])
    module = LP[dims](*hyper)
    x = torch.rand(*case["lead"], *case["sizes"], dtype=torch.float64) + 0.5
    out = module(x)
    expected_out, expected = counted(
        ref_lp_pool, x, case["norm_type"], case["kernel"], case["stride"], out.shape[-dims:]
    )
    if LP_POOL_INF_IS_MAX or not math.isinf(case["norm_type"]):
        torch.testing.assert_close(expected_out, out)
    assert module_count(module, x) == expected
    assert operator_count(LP_F[dims], x, *hyper) == expected


# -- adaptive pools --------------------------------------------------------------------------
def adaptive_spans(sizes: Sequence[int], outs: Sequence[int]) -> Spans:
    """PyTorch's rule: window i spans [floor(i·I/O), ceil((i+1)·I/O))."""
    return [
        [
            list(range(math.floor(i * size / out), math.ceil((i + 1) * size / out)))
            for i in range(out)
        ]
        for size, out in zip(sizes, outs, strict=True)
    ]


@st.composite
def adaptive_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 7 if dims < 3 else 5)) for _ in range(dims))
    outs = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    keep = [dims > 1 and draw(st.booleans()) for _ in range(dims)]  # None: keep input size
    output_size = tuple(None if k else o for k, o in zip(keep, outs, strict=True))
    return {
        "dims": dims,
        "sizes": sizes,
        "output_size": output_size[0] if dims == 1 else output_size,
        "outs": tuple(s if k else o for s, k, o in zip(sizes, keep, outs, strict=True)),
        "return_indices": draw(st.booleans()),
        "lead": planes(draw, draw(st.integers(1, 2))),
    }


@given(adaptive_cases())
def test_adaptive_pools_match_tally(case: dict[str, Any]) -> None:
    dims, size = case["dims"], case["output_size"]
    x = torch.randn(*case["lead"], *case["sizes"], dtype=torch.float64)
    spans = adaptive_spans(case["sizes"], case["outs"])

    pool = ADAPTIVE_MAX[dims](size, return_indices=case["return_indices"])
    t = Tally()
    torch.testing.assert_close(reduce_windows(x, spans, t.maximum), first(pool(x)))
    assert module_count(pool, x) == t.count
    assert operator_count(ADAPTIVE_MAX_F[dims], x, size, case["return_indices"]) == t.count

    avg = ADAPTIVE_AVG[dims](size)
    t = Tally()
    sizes = [math.prod(len(s) for s in c) for c in itertools.product(*spans)]
    divisor = torch.tensor(sizes, dtype=torch.float64).reshape(case["outs"])
    torch.testing.assert_close(t.div(reduce_windows(x, spans, t.add), divisor), avg(x))
    assert module_count(avg, x) == t.count
    assert operator_count(ADAPTIVE_AVG_F[dims], x, size) == t.count


# -- fractional max pool ------------------------------------------------------------------------
def fractional_starts(sample: float, size: int, out: int, kernel: int) -> list[int]:
    """PyTorch's pseudo-random window starts for one dimension and one plane."""
    if out == 1:
        return [size - kernel]
    alpha = (size - kernel) / (out - 1)
    starts = [int((i + sample) * alpha) - int(sample * alpha) for i in range(out - 1)]
    return [*starts, size - kernel]


def ref_fractional(
    t: Tally,
    x: torch.Tensor,
    kernel: tuple[int, ...],
    outs: tuple[int, ...],
    samples: torch.Tensor,
) -> torch.Tensor:
    dims = len(kernel)
    batched = x.dim() == dims + 2
    xb, sb = (x, samples) if batched else (x.unsqueeze(0), samples)
    result = torch.empty(*xb.shape[:2], *outs, dtype=x.dtype)
    for n, c in itertools.product(range(xb.shape[0]), range(xb.shape[1])):
        draws = sb[n, c].tolist()
        if dims == 2:  # PyTorch's 2-d kernel takes the width's sample first
            draws = draws[::-1]
        spans = [
            [list(range(start, start + k)) for start in fractional_starts(u, size, out, k)]
            for u, size, out, k in zip(draws, xb.shape[2:], outs, kernel, strict=True)
        ]
        result[n, c] = reduce_windows(xb[n, c], spans, t.maximum)
    return result if batched else result.squeeze(0)


@st.composite
def fractional_cases(draw: Any) -> dict[str, Any]:
    dims = draw(st.integers(2, 3))
    kernel = tuple(draw(st.integers(1, 3 if dims == 2 else 2)) for _ in range(dims))
    sizes = tuple(k + 1 + draw(st.integers(0, 2)) for k in kernel)
    # PyTorch requires out + k − 1 < size
    outs = tuple(draw(st.integers(1, s - k)) for s, k in zip(sizes, kernel, strict=True))
    lead = planes(draw, draw(st.integers(1, 2)))
    return {
        "dims": dims,
        "kernel": kernel,
        "sizes": sizes,
        "outs": outs,
        "lead": lead,
        "return_indices": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


@given(fractional_cases())
def test_fractional_max_pool_matches_tally(case: dict[str, Any]) -> None:
    dims, kernel, outs = case["dims"], case["kernel"], case["outs"]
    generator = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(*case["lead"], *case["sizes"], dtype=torch.float64, generator=generator)
    n = case["lead"][0] if len(case["lead"]) == 2 else 1
    samples = torch.rand(n, case["lead"][-1], dims, dtype=torch.float64, generator=generator)
    cls = nn.FractionalMaxPool2d if dims == 2 else nn.FractionalMaxPool3d
    module = cls(
        kernel, output_size=outs, return_indices=case["return_indices"], _random_samples=samples
    )
    out, expected = counted(ref_fractional, x, kernel, outs, samples)
    torch.testing.assert_close(out, first(module(x)))
    assert module_count(module, x) == expected
    function = F.fractional_max_pool2d if dims == 2 else F.fractional_max_pool3d
    assert (
        operator_count(
            function,
            x,
            kernel,
            output_size=outs,
            return_indices=case["return_indices"],
            _random_samples=samples,
        )
        == expected
    )


# -- pinned cases (named dimensions) -------------------------------------------------------------
def test_max_pool_pinned() -> None:
    N, C, H, W, K = 2, 3, 8, 6, 2
    x = torch.randn(N, C, H, W)
    assert module_count(nn.MaxPool2d(K), x) == Count(N * C * (H // K) * (W // K) * (K * K - 1))
    # ResNet stem: k 3, stride 2, padding 1 on 8x8: the first window of each row and column
    # holds 2 in-bounds elements, the other Out − 1 hold 3 (padding is never compared).
    S8, Out, K3 = 8, 4, 3
    stem = nn.MaxPool2d(K3, stride=2, padding=1)
    read = 2 + K3 * (Out - 1)
    assert module_count(stem, torch.randn(N, C, S8, S8)) == Count(N * C * (read * read - Out * Out))
    # ceil_mode: L 7, K 2 → 4 windows, the last one clipped to 1 element (no compare)
    L = 7
    clipped = nn.MaxPool1d(K, ceil_mode=True)
    assert module_count(clipped, torch.randn(N, C, L)) == Count(N * C * (L // K) * (K - 1))
    # dilation: each of the L − D·(K3 − 1) windows reads K3 elements
    L, D = 9, 2
    dilated = nn.MaxPool1d(K3, stride=1, dilation=D, return_indices=True)
    assert module_count(dilated, torch.randn(N, C, L)) == Count(
        N * C * (L - D * (K3 - 1)) * (K3 - 1)
    )


def test_avg_and_lp_pool_pinned() -> None:
    N, C, H, W, K = 2, 3, 8, 6, 2
    x = torch.rand(N, C, H, W) + 0.5
    Oh, Ow = H // K, W // K
    adds_and_divide = N * C * Oh * Ow * ((K * K - 1) + 1)
    assert module_count(nn.AvgPool2d(K), x) == Count(adds_and_divide)
    assert module_count(nn.AvgPool2d((K, K), divisor_override=3), x) == Count(adds_and_divide)
    # padding 1, stride 1, kernel 3 on H: first and last windows read 2 elements
    K3 = 3
    read_h, read_w = 2 + K3 * (H - 2) + 2, 2 + K3 * (W - 2) + 2
    for include in (True, False):
        padded = nn.AvgPool2d(K3, stride=1, padding=1, count_include_pad=include)
        assert module_count(padded, x) == Count(N * C * (read_h * read_w - H * W + H * W))
    lp = nn.LPPool2d(2, K)
    assert module_count(lp, x) == Count(
        N * C * H * W + N * C * Oh * Ow * (K * K - 1) + N * C * Oh * Ow
    )
    lp_inf = nn.LPPool1d(math.inf, K)
    assert module_count(lp_inf, x[..., 0]) == Count(N * C * H + N * C * (H // K) * (K - 1))


def test_adaptive_pools_pinned() -> None:
    N, C, H, W, K = 2, 3, 8, 6, 2
    x = torch.randn(N, C, H, W)
    assert module_count(nn.AdaptiveAvgPool2d(1), x) == Count(N * C * ((H * W - 1) + 1))
    assert module_count(nn.AdaptiveMaxPool2d(1), x) == Count(N * C * (H * W - 1))
    # an adaptive average pool costs what its equivalent average pool costs
    equivalent = nn.AdaptiveAvgPool2d((H // K, W // K))
    assert module_count(equivalent, x) == module_count(nn.AvgPool2d(K), x) == Count(N * C * H * W)
    # L 5 → 3: windows [0, 2), [1, 4), [3, 5) of 2, 3, 2 elements (overlapping)
    L, Out = 5, 3
    spans = [2, 3, 2]
    assert module_count(nn.AdaptiveMaxPool1d(Out), torch.randn(N, C, L)) == Count(
        N * C * sum(s - 1 for s in spans)
    )
    assert module_count(nn.AdaptiveAvgPool1d(Out), torch.randn(N, C, L)) == Count(
        N * C * (sum(s - 1 for s in spans) + Out)
    )
    # upsampling (Out > In): every window holds one element, no compares
    assert module_count(nn.AdaptiveMaxPool1d(2 * L), torch.randn(N, C, L)) == Count(0)


def test_fractional_and_unpool_pinned() -> None:
    N, C, H, W, K, Oh, Ow = 2, 3, 9, 8, 2, 4, 5
    x = torch.randn(N, C, H, W)
    pool = nn.FractionalMaxPool2d(K, output_size=(Oh, Ow), return_indices=True)
    assert module_count(pool, x) == Count(N * C * Oh * Ow * (K * K - 1))
    K3 = (2, 3, 1)
    pool3 = nn.FractionalMaxPool3d(K3, output_ratio=0.5)
    assert module_count(pool3, torch.randn(N, C, 4, 6, 4)) == Count(
        N * C * 2 * 3 * 2 * (K3[0] * K3[1] * K3[2] - 1)
    )
    values, indices = F.max_pool2d(x, K, return_indices=True)
    assert module_count(nn.MaxUnpool2d(K), values, indices) == Count(0)
    assert operator_count(F.max_unpool2d, values, indices, K) == Count(0)
    v1, i1 = F.max_pool1d(x[..., 0], K, return_indices=True)
    assert module_count(nn.MaxUnpool1d(K), v1, i1) == Count(0)


def test_int_and_tuple_kernel_size_agree() -> None:
    N, C, H, W, K = 2, 3, 7, 6, 3
    x = torch.randn(N, C, H, W)
    for as_int, as_tuple in [
        (nn.MaxPool2d(K, 2, 1), nn.MaxPool2d((K, K), (2, 2), (1, 1))),
        (nn.AvgPool2d(K, 2, 1), nn.AvgPool2d((K, K), (2, 2), (1, 1))),
        (nn.LPPool2d(2, K, 2), nn.LPPool2d(2, (K, K), (2, 2))),
    ]:
        assert module_count(as_int, x) == module_count(as_tuple, x)
    assert (
        operator_count(F.max_pool2d, x, K)
        == operator_count(F.max_pool2d, x, (K, K))
        == Count(N * C * (H // K) * (W // K) * (K * K - 1))
    )


def test_zero_size_batch() -> None:
    x = torch.randn(0, 3, 6, 6)
    for module in [
        nn.MaxPool2d(2),
        nn.AvgPool2d(3, padding=1),
        nn.LPPool2d(2, 2),
        nn.AdaptiveAvgPool2d(2),
        nn.AdaptiveMaxPool2d(4, return_indices=True),
    ]:
        assert module_count(module, x) == Count(0)
    assert operator_count(F.max_pool2d, x, 2) == Count(0)


def _max_ref(t: Tally, m: Any, x: torch.Tensor, out: torch.Tensor, dims: int) -> torch.Tensor:
    spans = sliding_spans(
        x.shape[-dims:], out.shape[-dims:], m.kernel_size, m.stride, m.padding, m.dilation
    )
    return reduce_windows(x, spans, t.maximum)


def _adaptive_avg_ref(
    t: Tally, m: Any, x: torch.Tensor, out: torch.Tensor, dims: int
) -> torch.Tensor:
    spans = adaptive_spans(x.shape[-dims:], out.shape[-dims:])
    sizes = [math.prod(len(s) for s in c) for c in itertools.product(*spans)]
    divisor = torch.tensor(sizes, dtype=x.dtype).reshape(out.shape[-dims:])
    return t.div(reduce_windows(x, spans, t.add), divisor)


def _lp_ref(t: Tally, m: Any, x: torch.Tensor, out: torch.Tensor, dims: int) -> torch.Tensor:
    return ref_lp_pool(t, x, m.norm_type, m.kernel_size, m.stride, out.shape[-dims:])


@pytest.mark.parametrize(
    "module, shape, reference",
    [
        (
            nn.MaxPool3d(2, stride=1, padding=1, dilation=2, return_indices=True),
            (1, 2, 4, 5, 4),
            _max_ref,
        ),
        (nn.MaxPool1d(3, 2, ceil_mode=True), (3, 8), _max_ref),
        (nn.AdaptiveAvgPool2d((3, None)), (2, 2, 7, 5), _adaptive_avg_ref),
        (nn.LPPool3d(2, 2, ceil_mode=True), (1, 2, 3, 4, 5), _lp_ref),
    ],
)
def test_meta_device(module: nn.Module, shape: tuple[int, ...], reference: Any) -> None:
    dims = len(shape) - 2 if len(shape) > 2 else 1
    x = torch.rand(*shape, dtype=torch.float64) + 0.5
    out = first(module(x))
    t = Tally()
    torch.testing.assert_close(reference(t, module, x, out, dims), out)
    assert module_count(module.to("meta"), x.to("meta")) == t.count
