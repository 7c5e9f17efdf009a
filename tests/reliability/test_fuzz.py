"""Guarantee 6: random models from registered module types, checked for the invariants.

Each example builds a random tree of modules that keep a (B, C, L) shape, in train or
eval mode, profiles it with and without operator counting, and checks: no exception
besides the model's own, every row adds up to its children plus its own work, the root
is the total, and the model is exactly as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import flopcount
from tests.reliability.snapshot import Snapshot

Factory = Callable[[int, int], nn.Module]


class Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * 0.5


class SelfAttention(nn.Module):
    """Hand-written attention over L with explicit matmuls, or through SDPA."""

    def __init__(self, length: int, fused: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(length, 3 * length)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v)
        weights = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
        return torch.matmul(weights, v)


class MHA(nn.Module):
    def __init__(self, length: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(length, 1, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


LEAVES: list[Factory] = [
    lambda c, length: nn.Linear(length, length),
    lambda c, length: nn.Linear(length, length, bias=False),
    lambda c, length: nn.Conv1d(c, c, 3, padding="same"),
    lambda c, length: nn.Conv1d(c, c, 1, groups=c),
    lambda c, length: nn.BatchNorm1d(c),
    lambda c, length: nn.InstanceNorm1d(c, affine=True),
    lambda c, length: nn.GroupNorm(1, c),
    lambda c, length: nn.LayerNorm(length),
    lambda c, length: nn.RMSNorm(length),
    lambda c, length: nn.ReLU(),
    lambda c, length: nn.GELU(approximate="tanh"),
    lambda c, length: nn.SiLU(),
    lambda c, length: nn.Tanh(),
    lambda c, length: nn.Hardswish(),
    lambda c, length: nn.ELU(),
    lambda c, length: nn.Softmax(dim=-1),
    lambda c, length: nn.LogSoftmax(dim=1),
    lambda c, length: nn.Dropout(0.25),
    lambda c, length: nn.Identity(),
    lambda c, length: nn.AvgPool1d(3, stride=1, padding=1),
    lambda c, length: nn.MaxPool1d(3, stride=1, padding=1),
    lambda c, length: SelfAttention(length, fused=False),
    lambda c, length: SelfAttention(length, fused=True),
    lambda c, length: MHA(length),
]


def build(tree: object, channels: int, length: int) -> nn.Module:
    if isinstance(tree, int):
        return LEAVES[tree](channels, length)
    kind, children = tree  # type: ignore[misc]
    modules = [build(child, channels, length) for child in children]
    body = nn.Sequential(*modules)
    return Residual(body) if kind == "residual" else body


trees = st.recursive(
    st.integers(min_value=0, max_value=len(LEAVES) - 1),
    lambda inner: st.tuples(
        st.sampled_from(["sequential", "residual"]), st.lists(inner, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


def check_rows_add_up(report: flopcount.Report) -> None:
    rows = report.modules
    for row in rows.values():
        assert row.ops == row.self_ops + sum(rows[child].ops for child in row.children), row.name
        assert row.macs == row.self_macs + sum(rows[child].macs for child in row.children), row.name
        assert row.ops >= 0 and row.macs >= 0
    assert rows[""].ops == report.total and rows[""].macs == report.macs


@settings(max_examples=40)
@given(
    tree=trees,
    batch=st.integers(min_value=1, max_value=3),
    channels=st.integers(min_value=1, max_value=4),
    length=st.sampled_from([4, 6, 8]),
    training=st.booleans(),
)
def test_random_models_keep_every_invariant(
    tree: object, batch: int, channels: int, length: int, training: bool
) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(build(tree, channels, length)).train(training)
    x = torch.randn(batch, channels, length)
    before = Snapshot.of(model)
    reports = []
    for operators in (True, False):
        with warnings.catch_warnings():  # hooks only: blocks with own code are named, not counted
            warnings.simplefilter("ignore", flopcount.UnsupportedWarning)
            reports.append(
                flopcount.count(model, x, operators=operators, strict=operators, dry_run=True)
            )
        after = Snapshot.of(model)
        before.assert_same(after)
    for report in reports:
        check_rows_add_up(report)
    with_operators, hooks_only = reports
    # operator counting only ever adds the functional work that hooks cannot see
    assert with_operators.total >= hooks_only.total
    assert with_operators.macs >= hooks_only.macs
