"""Shape family, grid sampling: F.grid_sample and F.affine_grid against Tally references."""

# Pinned cases name dimensions as the specification does (B, C, H, W...).
# ruff: noqa: N806

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from flopcount import Count
from tests.tally import Tally, operator_count

DT = torch.float64
A = -0.75  # PyTorch's cubic convolution coefficient


def close(actual: Tensor, expected: Tensor) -> None:
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
    close(expected, F.grid_sample(x, grid, mode, padding, align))
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
    close(expected, F.affine_grid(theta, size, align_corners=align))
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
    close(ref_grid_sample(t, x, grid, "bilinear", "reflection", True),
          F.grid_sample(x, grid, "bilinear", "reflection", True))  # fmt: skip
    row_axis, column_axis = 2 + 2 + 3, 2 + (7 + 2) + 3
    expected = N * Ho * Wo * (row_axis + column_axis) + N * C * Ho * Wo * 3 * (1 + 2)
    assert operator_count(F.grid_sample, x, grid, "bilinear", "reflection", True) == t.count
    assert t.count == Count(expected, 0)
