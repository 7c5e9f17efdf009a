"""Profiling the same model again (every training or decode step): the engine keeps the
model's node tree and each module's memo of counts, and nothing it keeps may go stale.

Every test profiles a model, changes one thing a count depends on, profiles again, and
checks the second count against the arithmetic of the changed model.
"""

from __future__ import annotations

import weakref

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import flopcount
from flopcount import Count

B, C_IN, C_OUT, H, W, K = 2, 3, 4, 8, 8, 3
ROWS, N = 5, 6


def conv_ops(out_h: int, out_w: int, bias: bool = True) -> int:
    """B·C_OUT·out_h·out_w dot products of C_IN·K·K terms (2·C_IN·K·K − 1 ops, + 1 bias)."""
    return B * C_OUT * out_h * out_w * (2 * C_IN * K * K - (0 if bias else 1))


def softmax_ops(rows: int, length: int) -> int:
    return rows * (4 * length - 1)  # the specification: M·(4N − 1)


def profiled(model: nn.Module, x: torch.Tensor, **options: bool) -> flopcount.Report:
    with flopcount.profile(model, **options) as report:
        model(x)
    return report


@pytest.mark.parametrize("operators", [True, False])
def test_conv_stride_and_bias_change_between_profiles(operators: bool) -> None:
    model = nn.Sequential(nn.Conv2d(C_IN, C_OUT, K, padding=1), nn.ReLU())
    x = torch.randn(B, C_IN, H, W)
    first = profiled(model, x, operators=operators)
    assert first.modules["0"].ops == conv_ops(H, W)
    model[0].stride = (2, 2)
    second = profiled(model, x, operators=operators)
    assert second.modules["0"].ops == conv_ops(H // 2, W // 2)
    model[0].bias = None  # same shapes in and out; one add fewer per output
    third = profiled(model, x, operators=operators)
    assert third.modules["0"].ops == conv_ops(H // 2, W // 2, bias=False)
    assert first.modules["0"].ops == conv_ops(H, W)  # an earlier report keeps its counts


def test_hyper_parameter_with_unchanged_shapes_is_seen() -> None:
    # softmax's output has its input's shape whatever dim is: only the memo's check of the
    # module's attributes can tell the two calls apart
    model = nn.Sequential(nn.Softmax(dim=-1))
    x = torch.randn(ROWS, N)
    assert profiled(model, x).total == softmax_ops(ROWS, N)
    model[0].dim = 0
    assert profiled(model, x).total == softmax_ops(N, ROWS)


def test_registry_change_between_profiles() -> None:
    registry = flopcount.default_registry().copy()
    model = nn.Sequential(nn.Conv2d(C_IN, C_OUT, K, padding=1))
    x = torch.randn(B, C_IN, H, W)
    assert profiled(model, x, registry=registry).total == conv_ops(H, W)

    @registry.register(nn.Conv2d, replace=True)
    def one_op_per_output(
        module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor
    ) -> Count:
        return Count(output.numel())

    assert profiled(model, x, registry=registry).total == B * C_OUT * H * W
    assert profiled(model, x).total == conv_ops(H, W)  # the default registry is untouched


def test_structure_change_renames_rows() -> None:
    model = nn.Sequential(nn.Linear(N, N), nn.ReLU())
    x = torch.randn(ROWS, N)
    profiled(model, x)
    model[1] = nn.Softmax(dim=-1)
    model.add_module("extra", nn.Linear(N, 2))
    report = profiled(model, x)
    assert list(report.modules) == ["", "0", "1", "extra"]
    assert report.modules["1"].type == "Softmax"
    assert report.modules["1"].ops == softmax_ops(ROWS, N)
    assert report.modules["extra"].macs == ROWS * N * 2


def test_train_and_eval_switch_is_seen() -> None:
    model = nn.Sequential(nn.BatchNorm1d(N))
    x = torch.randn(ROWS, N)
    with torch.no_grad():
        training = profiled(model, x).total
        model.eval()
        evaluation = profiled(model, x).total
        model.train()
        again = profiled(model, x).total
    assert training != evaluation  # batch statistics cost more than stored ones
    assert again == training
    assert evaluation == flopcount.count(nn.Sequential(nn.BatchNorm1d(N)).eval(), x).total


class Gate(nn.Module):
    """A module whose only attribute besides torch's bookkeeping is ``training``; its count
    (registered below) reads the training flag and an optional ``repeats`` attribute."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def gate_ops(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> Count:
    per_element = getattr(module, "repeats", 1) if module.training else 0
    return Count(per_element * output.numel())


@pytest.fixture
def gate_registry() -> flopcount.Registry:
    registry = flopcount.default_registry().copy()
    registry.register(Gate)(gate_ops)
    return registry


def test_the_only_attribute_of_a_module_is_checked(gate_registry: flopcount.Registry) -> None:
    model = nn.Sequential(Gate())
    x = torch.randn(ROWS, N)
    assert profiled(model, x, registry=gate_registry).total == ROWS * N
    model.eval()
    assert profiled(model, x, registry=gate_registry).total == 0


def test_an_attribute_added_or_swapped_for_another_is_seen(
    gate_registry: flopcount.Registry,
) -> None:
    gate = Gate()
    model = nn.Sequential(gate)
    x = torch.randn(ROWS, N)
    assert profiled(model, x, registry=gate_registry).total == ROWS * N
    gate.repeats = 3  # a new attribute
    assert profiled(model, x, registry=gate_registry).total == 3 * ROWS * N
    del gate.repeats  # one attribute deleted and another added: as many as before
    gate.note = "unrelated"
    assert profiled(model, x, registry=gate_registry).total == ROWS * N
    gate.repeats = 2  # rebinding one of several attributes
    gate.note = "changed"
    assert profiled(model, x, registry=gate_registry).total == 2 * ROWS * N
    gate.repeats = 5
    assert profiled(model, x, registry=gate_registry).total == 5 * ROWS * N


def test_eval_inside_the_block_is_seen_at_the_first_call() -> None:
    """The whole fingerprint is compared when a profile starts; ``model.eval()`` right
    before the forward, inside the block, is caught at each module's first call."""
    model = nn.Sequential(nn.BatchNorm1d(N))
    x = torch.randn(ROWS, N)
    eval_ops = flopcount.count(nn.Sequential(nn.BatchNorm1d(N)).eval(), x).total
    with torch.no_grad():
        train_ops = profiled(model, x).total
        with flopcount.profile(model) as report:
            model.eval()
            model(x)
    assert train_ops != eval_ops
    assert report.total == eval_ops


def test_other_changes_inside_the_block_are_seen_from_the_next_profile() -> None:
    """Documented in docs/how-it-works.md: an attribute rebound inside the block, with the
    call's shapes unchanged, is seen when the next profile starts."""
    model = nn.Sequential(nn.Softmax(dim=-1))
    x = torch.randn(ROWS, N)
    for _ in range(2):  # the steady state: the memo answers
        assert profiled(model, x).total == softmax_ops(ROWS, N)
    with flopcount.profile(model) as report:
        model[0].dim = 0
        model(x)
    assert report.total == softmax_ops(ROWS, N)  # the memo of dim=-1 answered
    assert profiled(model, x).total == softmax_ops(N, ROWS)


def test_model_is_freed_after_profiles() -> None:
    model = nn.Sequential(nn.Linear(N, N), nn.ReLU())
    profiled(model, torch.randn(ROWS, N))
    profiled(model, torch.randn(ROWS, N))
    ref = weakref.ref(model)
    child = weakref.ref(model[0])
    del model  # freed by reference counting: the cached tree holds no cycle to its modules
    assert ref() is None
    assert child() is None


def test_nested_profiles_of_one_model() -> None:
    model = nn.Sequential(nn.Linear(N, N))
    x = torch.randn(ROWS, N)
    with flopcount.profile(model) as outer:
        model(x)
        with flopcount.profile(model) as inner:
            model(x)
    assert inner.total == ROWS * N * 2 * N
    assert outer.total == 2 * inner.total
    assert profiled(model, x).total == inner.total


class Mixer(nn.Module):
    """A formula-less block calling formula modules, with torch calls of its own."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(N, N)
        self.norm = nn.LayerNorm(N)
        self.fail = fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.fc(x))
        if self.fail:
            raise ValueError("boom")
        return F.softmax(h @ h.T, dim=-1)


def test_operator_mode_is_off_inside_formula_modules_and_back_after() -> None:
    from torch.overrides import TorchFunctionMode

    seen: list[object] = []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            seen.append(func)
            return func(*args, **(kwargs or {}))

    model = Mixer()
    x = torch.randn(ROWS, N)
    depth = torch._C._len_torch_function_stack()
    report = profiled(model, x)
    assert torch._C._len_torch_function_stack() == depth
    # the block's own q @ kᵀ and softmax are counted, the Linear once, by its formula
    assert report.modules[""].self_macs == ROWS * ROWS * N
    assert report.modules[""].self_ops == ROWS * ROWS * (2 * N - 1) + softmax_ops(ROWS, ROWS)
    assert report.modules["fc"].macs == ROWS * N * N
    # a user's mode entered inside the block sits above flopcount's: counts are unchanged
    with Watch(), flopcount.profile(model) as watched:
        model(x)
    assert watched.total == report.total
    assert F.linear in seen


def test_operator_mode_restored_when_a_formula_module_raises() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("boom")

    registry = flopcount.default_registry().copy()
    registry.register(Broken)(lambda module, inputs, output: Count(0))
    model = nn.Sequential(nn.Linear(N, N), Broken())
    depth = torch._C._len_torch_function_stack()
    with pytest.raises(ValueError, match="boom"), flopcount.profile(model, registry=registry):
        model(torch.randn(ROWS, N))
    assert torch._C._len_torch_function_stack() == depth
    assert profiled(Mixer(), torch.randn(ROWS, N)).total > 0
