"""Operator counting on hand-built blocks that follow the code paths of real model zoos.

Each block is what torchvision or transformers write in their forwards (attention through
``F.scaled_dot_product_attention`` or spelled out with ``@``/``torch.matmul``/``F.softmax``,
depthwise-separable convolutions, squeeze-excitation, Swin's shifted window attention, a
ViT encoder block around ``nn.MultiheadAttention``), built here with torch alone so that CI
needs neither torchvision nor transformers. Every expected count is arithmetic of the
named dimensions, derived from the conventions of ``docs/formulas`` (a dot product of K
terms: 2K − 1 ops, 2K with a bias, K MACs; softmax along N over M rows: M·(4N − 1);
sigmoid: 4 ops; ReLU: 1 op; elementwise add or multiply: 1 op per output element).
``benchmarks/validate_torchvision.py`` and ``benchmarks/validate_transformers.py`` run the
real models.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import flopcount
from flopcount import Count

B, N, D, H = 2, 6, 16, 4  # batch, tokens, width, heads
DH = D // H  # head width
SIGMOID = 4  # 1 / (1 + exp(−x)): negate, exp, add, divide

DEVICES = ["cpu", "meta"]


def linear(rows: int, fan_in: int, fan_out: int, bias: bool = True) -> Count:
    """``rows`` inputs through an (fan_in → fan_out) Linear or 1×1 convolution."""
    per_output = 2 * fan_in if bias else 2 * fan_in - 1
    return Count(rows * fan_out * per_output, rows * fan_out * fan_in)


def inclusive(stats: flopcount.ModuleStats) -> Count:
    """A row's ops and MACs, descendants included."""
    return Count(stats.ops, stats.macs)


def own(stats: flopcount.ModuleStats) -> Count:
    """A row's own ops and MACs: the torch functions its forward calls directly."""
    return Count(stats.self_ops, stats.self_macs)


def totals(report: flopcount.Report) -> Count:
    return Count(report.total, report.macs)


def attention_core(heads: int, queries: int, keys: int, width: int) -> Count:
    """softmax(Q Kᵀ · scale) V for ``heads`` = batch × heads independent heads."""
    scores = heads * queries * keys
    qk = Count(scores * (2 * width - 1), scores * width)
    scale = Count(scores, 0)
    softmax = Count(heads * queries * (4 * keys - 1), 0)
    av = Count(heads * queries * width * (2 * keys - 1), heads * queries * width * keys)
    return qk + scale + softmax + av


# -- attention -------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head self-attention with a residual, via SDPA or spelled out."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, H, DH).permute(2, 0, 3, 1, 4).unbind(0)
        if self.kind == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            scores = q @ k.transpose(-2, -1) * DH**-0.5
            if bias is not None:
                scores = scores + bias
            weights = F.softmax(scores, dim=-1)
            out = torch.matmul(weights, v) if self.kind == "matmul" else weights @ v
        out = out.transpose(1, 2).reshape(b, n, d)
        return x + self.proj(out)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["sdpa", "matmul", "operator"])
def test_attention_counts_every_path_the_same(kind: str, device: str) -> None:
    model = nn.Sequential(Attention(kind)).to(device)
    report = flopcount.count(model, torch.randn(B, N, D, device=device), strict=True)
    functional = attention_core(B * H, N, N, DH) + Count(B * N * D, 0)  # + residual
    projections = linear(B * N, D, 3 * D) + linear(B * N, D, D)
    block = report.modules["0"]
    assert own(block) == functional
    assert report.modules["0.qkv"].macs == B * N * D * 3 * D
    assert report.modules["0.proj"].ops == B * N * D * 2 * D
    assert totals(report) == functional + projections
    assert report.macs == 4 * B * N * D * D + 2 * B * H * N * N * DH  # projections + QKᵀ + AV
    assert report.unsupported == {}


@pytest.mark.parametrize("kind", ["sdpa", "operator"])
def test_additive_attention_bias_costs_one_add_per_score(kind: str) -> None:
    bias = torch.randn(1, H, N, N)
    plain = flopcount.count(Attention(kind), torch.randn(B, N, D), strict=True)
    biased = flopcount.count(Attention(kind), torch.randn(B, N, D), bias, strict=True)
    assert biased.total - plain.total == B * H * N * N
    assert biased.macs == plain.macs


# -- convolution blocks ----------------------------------------------------------------
C, COUT, HW = 8, 12, 10  # channels in, channels out, spatial side


class DepthwiseSeparable(nn.Module):
    """MobileNet's block: 3×3 depthwise conv, ReLU, 1×1 pointwise conv, ReLU, residual."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(C, C, 3, stride, padding=1, groups=C, bias=False)
        self.pointwise = nn.Conv2d(C, COUT, 1)
        self.shortcut = nn.Conv2d(C, COUT, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.depthwise(x))
        y = F.relu(self.pointwise(y))
        return y + self.shortcut(x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_separable_block(stride: int, device: str) -> None:
    model = DepthwiseSeparable(stride).to(device)
    report = flopcount.count(model, torch.randn(B, C, HW, HW, device=device), strict=True)
    side = (HW + 2 - 3) // stride + 1  # output side
    pixels = B * side * side
    depthwise = Count(pixels * C * (2 * 9 - 1), pixels * C * 9)  # one 3×3 window per channel
    pointwise = linear(pixels, C, COUT)
    shortcut = linear(pixels, C, COUT, bias=False)
    functional = Count(pixels * C + pixels * COUT + pixels * COUT, 0)  # ReLU, ReLU, add
    assert inclusive(report.modules["depthwise"]) == depthwise
    assert inclusive(report.modules["pointwise"]) == pointwise
    assert own(report.modules[""]) == functional
    assert totals(report) == depthwise + pointwise + shortcut + functional
    assert report.unsupported == {}


S = 3  # squeezed channels


class SqueezeExcitation(nn.Module):
    """torchvision's SE: global average, 1×1 convs (or linears), ReLU, sigmoid, scale."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.fc1: nn.Module = nn.Conv2d(C, S, 1)
            self.fc2: nn.Module = nn.Conv2d(S, C, 1)
        else:
            self.fc1, self.fc2 = nn.Linear(C, S), nn.Linear(S, C)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "conv":
            s = F.adaptive_avg_pool2d(x, 1)
        else:
            s = x.mean((2, 3))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        if self.kind == "linear":
            s = s[:, :, None, None]
        return x * s


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_squeeze_excitation(kind: str, device: str) -> None:
    model = SqueezeExcitation(kind).to(device)
    report = flopcount.count(model, torch.randn(B, C, HW, HW, device=device), strict=True)
    planes = B * C
    squeeze = Count(planes * (HW * HW - 1) + planes, 0)  # adds, then one divide per plane
    excite = linear(B, C, S) + linear(B, S, C)
    functional = squeeze + Count(B * S + SIGMOID * B * C + B * C * HW * HW, 0)  # ReLU, σ, scale
    root = report.modules[""]
    assert own(root) == functional
    assert report.modules["fc1"].macs == B * S * C
    assert totals(report) == functional + excite
    assert report.unsupported == {}


# -- Swin window attention -------------------------------------------------------------
W, SHIFT, SIDE = 3, 1, 6  # window side, cyclic shift, feature-map side


class WindowAttention(nn.Module):
    """Swin's shifted window attention: roll, window partition, attention with a learned
    relative position bias and the shift mask, window merge, roll back, residual."""

    index: Tensor
    mask: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.table = nn.Parameter(torch.randn((2 * W - 1) ** 2, H))
        coords = torch.stack(torch.meshgrid(torch.arange(W), torch.arange(W), indexing="ij"))
        rel = (coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]).permute(1, 2, 0)
        index = (rel[..., 0] + W - 1) * (2 * W - 1) + rel[..., 1] + W - 1
        self.register_buffer("index", index.flatten(), persistent=False)
        windows = (SIDE // W) ** 2
        self.register_buffer("mask", torch.zeros(windows, W * W, W * W), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        b, side, _, c = x.shape
        n, grid = W * W, side // W
        y = torch.roll(x, shifts=(-SHIFT, -SHIFT), dims=(1, 2))
        y = y.view(b, grid, W, grid, W, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, n, c)
        q, k, v = self.qkv(y).reshape(-1, n, 3, H, c // H).permute(2, 0, 3, 1, 4)
        q = q * (c // H) ** -0.5
        attn = q @ k.transpose(-2, -1)
        bias = self.table[self.index].view(n, n, -1).permute(2, 0, 1).contiguous()
        attn = attn + bias.unsqueeze(0)
        attn = attn.view(b, grid * grid, H, n, n) + self.mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, H, n, n).softmax(dim=-1)
        out = self.proj((attn @ v).transpose(1, 2).reshape(-1, n, c))
        out = out.view(b, grid, grid, W, W, c).permute(0, 1, 3, 2, 4, 5).reshape(b, side, side, c)
        return x + torch.roll(out, shifts=(SHIFT, SHIFT), dims=(1, 2))


@pytest.mark.parametrize("device", DEVICES)
def test_swin_window_attention(device: str) -> None:
    model = nn.Sequential(WindowAttention()).to(device)
    report = flopcount.count(model, torch.randn(B, SIDE, SIDE, D, device=device), strict=True)
    windows, n = B * (SIDE // W) ** 2, W * W
    heads = windows * H
    scores = heads * n * n
    functional = (
        Count(heads * n * DH, 0)  # q · scale
        + Count(scores * (2 * DH - 1), scores * DH)  # Q Kᵀ
        + Count(2 * scores, 0)  # + relative position bias, + shift mask
        + Count(heads * n * (4 * n - 1), 0)  # softmax over the window
        + Count(heads * n * DH * (2 * n - 1), heads * n * DH * n)  # A V
        + Count(B * SIDE * SIDE * D, 0)  # residual
    )
    tokens = windows * n
    projections = linear(tokens, D, 3 * D) + linear(tokens, D, D)
    block = report.modules["0"]
    assert own(block) == functional
    assert totals(report) == functional + projections
    assert report.unsupported == {}


# -- formula'd modules: children are counted once --------------------------------------
class EncoderBlock(nn.Module):
    """torchvision's ViT encoder block without norms: MHA + residual, MLP + residual."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(D, H, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x: Tensor) -> Tensor:
        torch._assert(x.dim() == 3, f"expected (batch, tokens, width), got {x.shape}")
        y, _ = self.attention(x, x, x, need_weights=False)
        x = x + y
        return x + self.mlp(x)


def test_linear_inside_multihead_attention_is_counted_once() -> None:
    model = EncoderBlock()
    report = flopcount.count(model, torch.randn(B, N, D), strict=True)
    attention = linear(B * N, D, 3 * D) + attention_core(B * H, N, N, DH) + linear(B * N, D, D)
    assert inclusive(report.modules["attention"]) == attention
    assert report.modules["attention.out_proj"].calls == 0  # inside MHA's formula
    gelu = 5 * B * N * 4 * D  # x · 0.5 · (1 + erf(x / √2))
    mlp = linear(B * N, D, 4 * D) + Count(gelu, 0) + linear(B * N, 4 * D, D)
    residuals = Count(2 * B * N * D, 0)
    assert own(report.modules[""]) == residuals
    assert totals(report) == attention + mlp + residuals


def test_linear_inside_a_registered_block_is_counted_once() -> None:
    registry = flopcount.default_registry().copy()
    per_element = 7

    @registry.register(SqueezeExcitation)
    def squeeze_excitation(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Count:
        return Count(per_element * out.numel(), math.prod(out.shape[:2]))

    model = nn.Sequential(SqueezeExcitation("linear"), nn.Linear(HW, D))
    x = torch.randn(B, C, HW, HW)
    for operators in (True, False):
        report = flopcount.count(model, x, registry=registry, operators=operators, strict=True)
        block = Count(per_element * B * C * HW * HW, B * C)
        assert inclusive(report.modules["0"]) == block
        assert report.modules["0.fc1"].calls == report.modules["0.fc2"].calls == 0
        assert inclusive(report.modules["1"]) == linear(B * C * HW, HW, D)
        assert totals(report) == block + linear(B * C * HW, HW, D)


def test_torch_assert_is_free_not_unsupported() -> None:
    class Checked(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            torch._assert(x.shape[-1] == D, "width")
            return x

    report = flopcount.count(Checked(), torch.randn(B, D), strict=True)
    assert totals(report) == Count(0, 0)
    assert report.unsupported == {}
