"""Counting without computing: fake tensors give the real run's counts and touch nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopcount

SEEN: list[str] = []  # what Recorder saw: outside the model, which a dry run restores


class Recorder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN.append(type(x).__name__)
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
    SEEN.clear()
    dry = flopcount.count(m, x, dry_run=True)
    assert SEEN == ["FakeTensor"]
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    real = flopcount.count(m, x)
    assert SEEN == ["FakeTensor", "Tensor"]
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


class RescalesOnFirstEval(nn.Module):
    """Like RWKV: the first eval forward rescales weights in place and sets a flag."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.rescaled = False
        self.calls: list[int] = []
        self.options = {"mode": "a"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and not self.rescaled:
            with torch.no_grad():
                self.fc.weight.div_(2)
            self.rescaled = True
        self.calls.append(1)
        self.options["mode"] = "b"
        self.cache = x
        return self.fc(x)


def test_dry_run_leaves_python_attributes_exactly_as_they_were() -> None:
    m = RescalesOnFirstEval().eval()
    weight = m.fc.weight.detach().clone()
    calls, options = m.calls, m.options
    flopcount.count(m, torch.randn(2, 4), dry_run=True)
    assert m.rescaled is False and not hasattr(m, "cache")
    assert m.calls is calls and m.calls == [] and m.options is options and options == {"mode": "a"}
    assert torch.equal(m.fc.weight, weight)
    m(torch.randn(2, 4))  # the real first eval forward still rescales, once
    assert m.rescaled is True and torch.equal(m.fc.weight, weight / 2)


class Positives(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0].sum()  # the output's shape depends on x's values


def test_a_data_dependent_shape_stops_a_dry_run_in_one_line_naming_module_and_operation() -> None:
    m = nn.Sequential(nn.Linear(4, 4), Positives())
    with pytest.raises(flopcount.DryRunError) as info:
        flopcount.count(m, torch.randn(3, 4), dry_run=True)
    message = str(info.value)
    assert "\n" not in message
    assert "1 (Positives)" in message and "aten.nonzero" in message
    assert "without dry_run=True" in message
    assert info.value.__cause__ is not None  # torch's own exception, chained
    assert flopcount.count(m, torch.randn(3, 4)).macs == 3 * 4 * 4  # fine without dry_run


def test_repeated_dry_runs_follow_a_model_whose_parameters_changed() -> None:
    """Dry runs keep the fakes of unchanged parameters; a replaced one is converted again."""
    m = nn.Sequential(nn.Linear(4, 8))
    x = torch.randn(3, 4)
    assert flopcount.count(m, x, dry_run=True).macs == 3 * 4 * 8
    assert flopcount.count(m, x, dry_run=True).macs == 3 * 4 * 8
    m[0] = nn.Linear(4, 16)
    assert flopcount.count(m, x, dry_run=True).macs == 3 * 4 * 16
    m[0].weight = nn.Parameter(torch.randn(2, 4))
    m[0].bias = None
    assert flopcount.count(m, x, dry_run=True).macs == 3 * 4 * 2
    assert flopcount.count(m, x).macs == 3 * 4 * 2


class Experts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offs = torch.tensor([3, 6], dtype=torch.int32)
        return torch._grouped_mm(x, self.w, offs=offs)  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(torch, "_grouped_mm"), reason="no torch._grouped_mm")
def test_an_operation_whose_fake_kernel_refuses_stops_in_one_line() -> None:
    """torch's fake grouped_mm wants bfloat16 (the CUDA kernel's dtype); the CPU runs float32."""
    m, x = Experts(), torch.randn(6, 8)
    assert flopcount.count(m, x).macs == 6 * 8 * 8  # the real run works
    try:
        dry = flopcount.count(m, x, dry_run=True)
    except flopcount.DryRunError as error:
        message = str(error)
        assert "\n" not in message and "(root) (Experts)" in message
        assert "aten._grouped_mm" in message and "without dry_run=True" in message
    else:  # a torch whose fake kernel accepts float32 counts it
        assert dry.macs == 6 * 8 * 8


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("the model's own error")


def test_the_models_own_error_is_not_wrapped() -> None:
    with pytest.raises(ValueError, match="the model's own error"):
        flopcount.count(Broken(), torch.randn(2), dry_run=True)
