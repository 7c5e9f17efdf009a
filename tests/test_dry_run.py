"""Counting without computing: fake tensors give the real run's counts and touch nothing."""

from __future__ import annotations

import torch
from torch import nn

import flopcount


class Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(type(x).__name__)
        return x


def model() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(16, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        Recorder(),
        nn.Linear(32, 4),
        nn.Softmax(-1),
    )


def test_dry_run_counts_like_a_real_run_without_real_tensors() -> None:
    m = model().train()
    x = torch.randn(8, 16)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    dry = flopcount.count(m, x, dry_run=True)
    assert m[3].seen == ["FakeTensor"]
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    real = flopcount.count(m, x)
    assert m[3].seen == ["FakeTensor", "Tensor"]
    assert (dry.total, dry.macs) == (real.total, real.macs)
    assert {n: r.ops for n, r in dry.modules.items()} == {n: r.ops for n, r in real.modules.items()}
    assert dry.total > 0


def test_dry_run_keeps_parameters_and_hooks() -> None:
    m = model().eval()
    params = [p for p in m.parameters()]
    flopcount.count(m, torch.randn(2, 16), dry_run=True)
    assert [p for p in m.parameters()] == params
    assert all(type(p) is nn.Parameter for p in m.parameters())
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in m.modules())
