"""Resampling: nn.Upsample and F.interpolate against brute-force references; F.grid_sample
and F.affine_grid against Tally references.

The interpolation references find each output's source taps and weights with plain Python
(index math, not counted) and then interpolate with counted Tally multiplies and adds, one
axis nested inside the other exactly as the textbook's repeated 1-D interpolation.
"""

# Pinned cases name dimensions as the specification does (B, C, H, W...).
# ruff: noqa: N806

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from flopcount import Count
from tests.tally import Tally, module_count, operator_count

DT = torch.float64
Taps = list[list[tuple[int, float]]]  # per output index: (source index, weight) pairs


def close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-7)


def step(n_in: int, n_out: int, align: bool, factor: float | None) -> float:
    if align:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / factor if factor else n_in / n_out


def keys(s: float, a: float) -> float:
    s = abs(s)
    if s <= 1:
        return ((a + 2) * s - (a + 3)) * s * s + 1
    return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a if s < 2 else 0.0


def axis_taps(mode: str, n_in: int, n_out: int, align: bool, factor: float | None) -> Taps:
    h = step(n_in, n_out, align, factor)
    taps: Taps = []
    for i in range(n_out):
        src = h * i if align else h * (i + 0.5) - 0.5
        if mode == "cubic":
            base = math.floor(src)
            frac = src - base
            ws = [keys(frac + 1, -0.75), keys(frac, -0.75), keys(1 - frac, -0.75)]
            ws.append(keys(2 - frac, -0.75))
            taps.append([(min(max(base - 1 + k, 0), n_in - 1), ws[k]) for k in range(4)])
        elif mode == "linear" and n_in == n_out:  # PyTorch copies an unchanged axis
            taps.append([(i, 1.0)])
        elif mode == "linear":
            src = max(src, 0.0)
            low = int(src)
            lam = src - low
            taps.append([(low, 1 - lam), (low + (1 if low < n_in - 1 else 0), lam)])
        else:  # nearest, nearest-exact: one tap of weight 1
            src = h * i if mode == "nearest" else h * (i + 0.5)
            taps.append([(min(math.floor(src), n_in - 1), 1.0)])
    return taps


def nested(t: Tally, x: Tensor, taps: list[Taps], axis: int = 2) -> Tensor:
    """Interpolate axis ``axis``; each of its taps is an interpolation of the later axes."""
    if axis == x.ndim:
        return x
    per_axis = taps[axis - 2]
    if len(per_axis[0]) == 1:  # nearest: a gather
        index = torch.tensor([tap[0][0] for tap in per_axis])
        return nested(t, x.index_select(axis, index), taps, axis + 1)
    shape = [1] * x.ndim
    shape[axis] = len(per_axis)
    total = None
    for k in range(len(per_axis[0])):
        index = torch.tensor([tap[k][0] for tap in per_axis])
        weight = torch.tensor([tap[k][1] for tap in per_axis], dtype=x.dtype).view(shape)
        term = t.mul(nested(t, x.index_select(axis, index), taps, axis + 1), weight)
        total = term if total is None else t.add(total, term)
    assert total is not None
    return total


def ref_area(t: Tally, x: Tensor, out: list[int]) -> Tensor:
    """Adaptive average pooling: counted sums of each window, then one divide."""
    spans = [
        [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]
        for n, m in zip(x.shape[2:], out, strict=True)
    ]
    result = torch.empty(*x.shape[:2], *out, dtype=x.dtype)
    for position in torch.cartesian_prod(*[torch.arange(m) for m in out]).view(-1, len(out)):
        window = x
        for axis, i in enumerate(position.tolist()):
            low, high = spans[axis][i]
            window = window.narrow(axis + 2, low, high - low)
        flat = window.reshape(*x.shape[:2], -1)
        result[(..., *position.tolist())] = t.div(t.sum(flat, -1), flat.shape[-1])
    return result


def ref_interpolate(
    t: Tally, x: Tensor, out: list[int], mode: str, align: bool, factors: list[float | None]
) -> Tensor:
    if mode == "area":
        return ref_area(t, x, out)
    kind = {"bicubic": "cubic", "nearest": "nearest", "nearest-exact": "nearest-exact"}
    kernel = kind.get(mode, "linear")
    if kernel == "nearest" and x.ndim == 4:
        # PyTorch 2.13 copies an unchanged axis of a 2-D "nearest" resize (not 1-D, 3-D, exact)
        factors = [None if n == m else f for n, m, f in zip(x.shape[2:], out, factors, strict=True)]
    taps = [
        axis_taps(kernel, n, m, align, f) for n, m, f in zip(x.shape[2:], out, factors, strict=True)
    ]
    return nested(t, x, taps)


FREE = ["nearest", "nearest-exact", "area"]
MODES = {1: ["linear", *FREE], 2: ["bilinear", "bicubic", *FREE], 3: ["trilinear", *FREE]}
LINEAR = ("linear", "bilinear", "trilinear", "bicubic")


@given(
    data=st.data(),
    dims=st.integers(1, 3),
    sizes=st.lists(st.integers(2, 4), min_size=5, max_size=5),
    by_factor=st.booleans(),
    align=st.booleans(),
)
def test_interpolate_matches_reference(
    data: st.DataObject, dims: int, sizes: list[int], by_factor: bool, align: bool
) -> None:
    mode = data.draw(st.sampled_from(MODES[dims]))
    x = torch.randn(sizes[0], sizes[1], *sizes[2 : 2 + dims], dtype=DT)
    align_corners = align if mode in LINEAR else None
    if by_factor:  # non-integer factors: the kernels step by 1/factor, not by in/out
        factor = data.draw(st.sampled_from([0.5, 0.75, 1.3, 1.7, 2.0, 2.5]))
        factors: list[float | None] = [None if align_corners else factor] * dims
        module = nn.Upsample(scale_factor=factor, mode=mode, align_corners=align_corners)
        kwargs: dict[str, object] = {"scale_factor": factor}
    else:
        size = data.draw(st.lists(st.integers(1, 6), min_size=dims, max_size=dims))
        factors = [None] * dims
        module = nn.Upsample(size=tuple(size), mode=mode, align_corners=align_corners)
        kwargs = {"size": tuple(size)}
    expected_out = module(x)
    t = Tally()
    out = list(expected_out.shape[2:])
    close(ref_interpolate(t, x, out, mode, bool(align_corners), factors), expected_out)
    assert module_count(module, x) == t.count
    got = operator_count(F.interpolate, x, mode=mode, align_corners=align_corners, **kwargs)
    assert got == t.count
    assert module_count(module, x.to("meta")) == t.count


def test_interpolate_pinned() -> None:
    B, C, L, H, W, D = 2, 3, 5, 4, 6, 3
    lerp, cubic = 2 + 1, 4 + 3  # k multiplies + (k − 1) adds per 1-D interpolation
    x1, x2, x3 = torch.randn(B, C, L), torch.randn(B, C, H, W), torch.randn(B, C, D, H, W)
    up = nn.Upsample(scale_factor=2, mode="linear")
    assert module_count(up, x1) == Count(B * C * (2 * L) * lerp, 0)
    # bilinear: two row lerps, then one lerp between the rows, for each output element
    bilinear = nn.Upsample(scale_factor=2, mode="bilinear")
    assert module_count(bilinear, x2) == Count(B * C * (2 * H) * (2 * W) * lerp * (1 + 2), 0)
    trilinear = nn.Upsample(size=(D + 1, H + 1, W - 1), mode="trilinear")
    per_out = lerp * (1 + 2 + 4)
    assert module_count(trilinear, x3) == Count(B * C * (D + 1) * (H + 1) * (W - 1) * per_out, 0)
    # an axis whose size does not change is copied, whatever its scale factor
    rows_kept = nn.Upsample(scale_factor=(1.2, 2.0), mode="bilinear")
    assert module_count(rows_kept, x2) == Count(B * C * H * (2 * W) * lerp, 0)
    same = nn.Upsample(scale_factor=1.1, mode="trilinear")
    assert module_count(same, torch.randn(B, C, 2, 2, 2)) == Count(0, 0)
    bicubic = nn.Upsample(scale_factor=2, mode="bicubic")
    assert module_count(bicubic, x2) == Count(B * C * (2 * H) * (2 * W) * cubic * (1 + 4), 0)
    for alias in (nn.UpsamplingNearest2d(scale_factor=2), nn.Upsample(scale_factor=3)):
        assert module_count(alias, x2) == Count(0, 0)
    assert module_count(nn.UpsamplingBilinear2d(scale_factor=2), x2) == module_count(bilinear, x2)
    # area halving H and W: each output averages 2·2 inputs, 3 adds and 1 divide
    area = F.interpolate
    assert operator_count(area, x2, size=(H // 2, W // 2), mode="area") == Count(
        B * C * (H // 2) * (W // 2) * (2 * 2), 0
    )
    # the deprecated wrappers route to the same formula
    assert operator_count(F.upsample_bilinear, x2, scale_factor=2) == module_count(bilinear, x2)
    assert operator_count(F.upsample, x2, scale_factor=2, mode="bicubic") == module_count(
        bicubic, x2
    )
    assert operator_count(F.upsample_nearest, x2, scale_factor=2) == Count(0, 0)


def test_non_integer_scale_factor_and_align_corners() -> None:
    B, C, L = 2, 3, 5
    out = math.floor(L * 1.7)  # 8: the output size is floored, the step is 1 / 1.7
    x = torch.randn(B, C, L, dtype=DT)
    counts = set()
    for align in (False, True):
        module = nn.Upsample(scale_factor=1.7, mode="linear", align_corners=align)
        y = module(x)
        assert y.shape[-1] == out
        t = Tally()
        close(ref_interpolate(t, x, [out], "linear", align, [None if align else 1.7]), y)
        assert module_count(module, x) == t.count == Count(B * C * out * 3, 0)
        counts.add(module_count(module, x))
    assert len(counts) == 1  # align_corners moves the taps, not their number
    recomputed = F.interpolate(x, scale_factor=1.7, mode="linear", recompute_scale_factor=True)
    assert not torch.allclose(recomputed, F.interpolate(x, scale_factor=1.7, mode="linear"))
    kwargs = {"scale_factor": 1.7, "mode": "linear", "recompute_scale_factor": True}
    assert operator_count(F.interpolate, x, **kwargs) == Count(B * C * out * 3, 0)


# ----------------------------------------------------------------------- antialias
def aa_taps(mode: str, n_in: int, n_out: int, align: bool) -> Taps:
    """PIL-style filter taps: triangle (bilinear) or Keys a = −0.5 (bicubic), normalised."""
    h = step(n_in, n_out, align, None)
    width = 1.0 if mode == "bilinear" else 2.0
    support = width * max(h, 1.0)
    taps: Taps = []
    for i in range(n_out):
        center = h * (i + 0.5)
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), n_in)
        scale = 1.0 / max(h, 1.0)
        if mode == "bilinear":
            ws = [max(0.0, 1 - abs((j - center + 0.5) * scale)) for j in range(low, high)]
        else:
            ws = [keys((j - center + 0.5) * scale, -0.5) for j in range(low, high)]
        total = sum(ws)
        taps.append([(j, w / total) for j, w in zip(range(low, high), ws, strict=True)])
    return taps


def resample_axis(t: Tally, x: Tensor, axis: int, taps: Taps) -> Tensor:
    """One separable pass: output i of the axis is a weighted sum of its own taps."""
    outputs = []
    for tap in taps:
        total = None
        for j, w in tap:
            term = t.mul(x.select(axis, j), w)
            total = term if total is None else t.add(total, term)
        assert total is not None
        outputs.append(total)
    return torch.stack(outputs, axis)


@given(
    mode=st.sampled_from(["bilinear", "bicubic"]),
    sizes=st.lists(st.integers(1, 8), min_size=4, max_size=4),
    align=st.booleans(),
)
def test_antialias_matches_reference(mode: str, sizes: list[int], align: bool) -> None:
    # width >= 2: PyTorch 2.13's CPU kernel returns wrong values for a width-1 image whose
    # width is unchanged (it reads as if every row were the first); counts are unaffected
    h, w, oh, ow = sizes[0], sizes[1] + 1, sizes[2], sizes[3] + 1
    x = torch.randn(2, 2, h, w, dtype=DT)
    y = F.interpolate(x, size=(oh, ow), mode=mode, align_corners=align, antialias=True)
    t = Tally()
    ref = x
    for axis, n_out in ((3, ow), (2, oh)):  # the last axis first; unchanged axes skipped
        if ref.shape[axis] != n_out:
            ref = resample_axis(t, ref, axis, aa_taps(mode, ref.shape[axis], n_out, align))
    close(ref, y)
    kwargs = {"size": (oh, ow), "mode": mode, "align_corners": align, "antialias": True}
    assert operator_count(F.interpolate, x, **kwargs) == t.count
    assert operator_count(F.interpolate, x.to("meta"), **kwargs) == t.count


def test_antialias_pinned() -> None:
    B, C, H, W = 2, 3, 5, 8
    x = torch.randn(B, C, H, W)
    # W 8 → 4 bilinear: scale 2, support 2, centres 1, 3, 5, 7 read 3, 4, 4, 3 inputs
    taps = [3, 4, 4, 3]
    expected = B * C * H * sum(2 * k - 1 for k in taps)  # H unchanged: no vertical pass
    kwargs = {"size": (H, W // 2), "mode": "bilinear", "antialias": True}
    assert operator_count(F.interpolate, x, **kwargs) == Count(expected, 0)
    assert operator_count(F.interpolate, x, size=(H, W), mode="bicubic", antialias=True) == Count(
        0, 0
    )


def test_upsample_kernels_called_directly() -> None:
    B, C, H, W = 1, 2, 3, 4
    x = torch.randn(B, C, H, W)
    got = operator_count(torch._C._nn.upsample_bilinear2d, x, (2 * H, 2 * W), False, None)
    assert got == Count(B * C * (2 * H) * (2 * W) * 3 * (1 + 2), 0)
    assert operator_count(torch._C._nn.upsample_nearest2d, x, (2 * H, 2 * W)) == Count(0, 0)


# -- grid sampling ----------------------------------------------------------------------
A = -0.75  # PyTorch's cubic convolution coefficient


def grid_close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-7, atol=1e-9)


def reflect_free(pos: Tensor, low: float, span: float) -> Tensor:
    """Reflection of integer tap indices (index math, not counted)."""
    if span == 0:
        return torch.zeros_like(pos)
    return low + span - ((pos - low).abs().fmod(2 * span) - span).abs()


def coordinate(t: Tally, g: Tensor, size: int, mode: str, padding: str, align: bool) -> Tensor:
    """Continuous source position along one axis, counted."""
    half = (size - 1) / 2
    pos = t.add(t.mul(g, half if align else size / 2), half)  # affine unnormalize
    if mode == "bicubic" or padding == "zeros":
        return pos
    if padding == "reflection":
        low, span = (0.0, size - 1.0) if align else (-0.5, float(size))
        if span == 0:
            pos = torch.zeros_like(pos)
        else:
            folded = t.binary(torch.fmod, t.unary(torch.abs, t.sub(pos, low)), 2 * span)
            bent = t.unary(torch.abs, t.sub(folded, span))
            pos = t.add(t.sub(span, bent), low)
    return t.minimum(t.maximum(pos, 0.0), size - 1.0)


def keys1(t: Tally, s: Tensor) -> Tensor:
    return t.add(t.mul(t.mul(t.sub(t.mul(s, A + 2), A + 3), s), s), 1.0)


def keys2(t: Tally, s: Tensor) -> Tensor:
    return t.sub(t.mul(t.add(t.mul(t.sub(t.mul(s, A), 5 * A), s), 8 * A), s), 4 * A)


def taps_of(t: Tally, pos: Tensor, mode: str) -> list[tuple[Tensor, Tensor | None]]:
    """(integer index, weight) per tap along one axis; weights counted."""
    if mode == "nearest":
        return [(t.unary(torch.round, pos).long(), None)]
    base = t.unary(torch.floor, pos)
    frac = t.sub(pos, base)
    if mode == "bilinear":
        return [(base.long(), t.sub(1.0, frac)), (base.long() + 1, frac)]
    args = (t.add(frac, 1.0), t.sub(1.0, frac), t.sub(2.0, frac))
    weights = (keys2(t, args[0]), keys1(t, frac), keys1(t, args[1]), keys2(t, args[2]))
    return [(base.long() - 1 + k, weights[k]) for k in range(4)]


def ref_grid_sample(
    t: Tally, x: Tensor, grid: Tensor, mode: str, padding: str, align: bool
) -> Tensor:
    sizes = x.shape[2:]
    d = len(sizes)
    axes = [
        taps_of(t, coordinate(t, grid[..., d - 1 - a], sizes[a], mode, padding, align), mode)
        for a in range(d)
    ]
    xs = x.movedim(1, -1)  # (N, *S, C)
    batch = torch.arange(x.shape[0]).view(-1, *[1] * (grid.ndim - 2))

    def gather(indices: list[Tensor]) -> Tensor:
        valid = torch.ones_like(indices[0], dtype=torch.bool)
        fixed = []
        for a, index in enumerate(indices):
            n = sizes[a]
            if mode == "bicubic" and padding == "border":
                index = index.clamp(0, n - 1)
            elif mode == "bicubic" and padding == "reflection":
                low, span = (0.0, n - 1.0) if align else (-0.5, float(n))
                index = reflect_free(index.double(), low, span).clamp(0, n - 1).long()
            valid &= (index >= 0) & (index < n)
            fixed.append(index.clamp(0, n - 1))
        values = xs[(batch, *fixed)]  # (N, *out, C)
        return torch.where(valid.unsqueeze(-1), values, 0.0).movedim(-1, 1)

    def nested(a: int, chosen: list[Tensor]) -> Tensor:
        if a == d:
            return gather(chosen)
        total = None
        for index, weight in axes[a]:
            value = nested(a + 1, [*chosen, index])
            term = value if weight is None else t.mul(value, weight.unsqueeze(1))
            total = term if total is None else t.add(total, term)
        assert total is not None
        return total

    return nested(0, [])


@given(
    mode=st.sampled_from(["bilinear", "nearest", "bicubic"]),
    padding=st.sampled_from(["zeros", "border", "reflection"]),
    align=st.booleans(),
    volumetric=st.booleans(),
    sizes=st.lists(st.integers(1, 4), min_size=8, max_size=8),
)
def test_grid_sample_matches_reference(
    mode: str, padding: str, align: bool, volumetric: bool, sizes: list[int]
) -> None:
    d = 3 if volumetric and mode != "bicubic" else 2
    n, c, spatial, out = sizes[0], sizes[1], sizes[2 : 2 + d], sizes[5 : 5 + d]
    x = torch.randn(n, c, *spatial, dtype=DT)
    grid = torch.rand(n, *out, d, dtype=DT) * 2.4 - 1.2  # some points fall outside
    t = Tally()
    expected = ref_grid_sample(t, x, grid, mode, padding, align)
    grid_close(expected, F.grid_sample(x, grid, mode, padding, align))
    assert operator_count(F.grid_sample, x, grid, mode, padding, align) == t.count
    codes = (
        ["bilinear", "nearest", "bicubic"].index(mode),
        ["zeros", "border", "reflection"].index(padding),
    )
    assert operator_count(torch.grid_sampler, x, grid, *codes, align) == t.count
    meta = operator_count(F.grid_sample, x.to("meta"), grid.to("meta"), mode, padding, align)
    assert meta == t.count


def test_grid_sample_pinned() -> None:
    N, C, H, W, Ho, Wo = 2, 3, 5, 6, 4, 7
    x, grid = torch.randn(N, C, H, W), torch.rand(N, Ho, Wo, 2) * 2 - 1
    locations = N * Ho * Wo
    unnormalize, clamp, weights = 2, 2, 3  # per axis: a·g + b; max, min; floor, t, 1 − t
    expected = locations * 2 * (unnormalize + weights) + N * C * Ho * Wo * 3 * (1 + 2)
    got = operator_count(F.grid_sample, x, grid, "bilinear", "zeros", False)
    assert got == Count(expected, 0)
    border = locations * 2 * (unnormalize + clamp + weights) + N * C * Ho * Wo * 3 * (1 + 2)
    got = operator_count(F.grid_sample, x, grid, "bilinear", "border", True)
    assert got == Count(border, 0)
    nearest = locations * 2 * (unnormalize + 1)  # round; a gather per channel
    assert operator_count(F.grid_sample, x, grid, "nearest", "zeros", True) == Count(nearest, 0)


@given(
    volumetric=st.booleans(),
    align=st.booleans(),
    sizes=st.lists(st.integers(1, 4), min_size=5, max_size=5),
)
def test_affine_grid_matches_reference(volumetric: bool, align: bool, sizes: list[int]) -> None:
    d = 3 if volumetric else 2
    n, spatial = sizes[0], sizes[1 : 1 + d]
    theta = torch.randn(n, d, d + 1, dtype=DT)
    axes = []
    for steps in reversed(spatial):  # x runs along the last axis
        line = torch.linspace(-1, 1, steps, dtype=DT) if steps > 1 else torch.zeros(1, dtype=DT)
        axes.append(line if align or steps <= 1 else line * (steps - 1) / steps)
    mesh = torch.meshgrid(*reversed(axes), indexing="ij")  # in (D,) H, W order
    base = torch.stack([*reversed(mesh), torch.ones_like(mesh[0])], -1).reshape(1, -1, d + 1)
    t = Tally()
    expected = t.matmul(base, theta.transpose(1, 2)).reshape(n, *spatial, d)
    size = [n, 2, *spatial]
    grid_close(expected, F.affine_grid(theta, size, align_corners=align))
    assert operator_count(F.affine_grid, theta, size, align_corners=align) == t.count
    meta = operator_count(F.affine_grid, theta.to("meta"), size, align_corners=align)
    assert meta == t.count


def test_affine_grid_pinned() -> None:
    N, H, W = 2, 3, 4
    theta = torch.randn(N, 2, 3)
    K = 3  # (x, y, 1) · a row of theta
    expected = Count(N * H * W * 2 * (2 * K - 1), N * H * W * 2 * K)
    assert operator_count(F.affine_grid, theta, [N, 1, H, W], align_corners=False) == expected


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_empty(mode: str) -> None:
    x, grid = torch.randn(2, 3, 4, 4), torch.zeros(2, 0, 5, 2)
    assert operator_count(F.grid_sample, x, grid, mode, "zeros", False) == Count(0, 0)


def test_grid_sample_reflection_of_a_single_row() -> None:
    # align_corners with a size-1 axis: the reflection span is empty, the position is the
    # constant 0 and only the clamp remains on that axis
    N, C, H, W, Ho, Wo = 1, 2, 1, 3, 2, 3
    x, grid = torch.randn(N, C, H, W, dtype=DT), torch.rand(N, Ho, Wo, 2, dtype=DT) * 3 - 1.5
    t = Tally()
    grid_close(ref_grid_sample(t, x, grid, "bilinear", "reflection", True),
          F.grid_sample(x, grid, "bilinear", "reflection", True))  # fmt: skip
    row_axis, column_axis = 2 + 2 + 3, 2 + (7 + 2) + 3
    expected = N * Ho * Wo * (row_axis + column_axis) + N * C * Ho * Wo * 3 * (1 + 2)
    assert operator_count(F.grid_sample, x, grid, "bilinear", "reflection", True) == t.count
    assert t.count == Count(expected, 0)
