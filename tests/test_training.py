"""Training steps: backward, checkpoint recomputation and the optimizer, per module and phase.

Backward MACs are derived here from named dimensions (each Linear's input gradient
dY·W and weight gradient dYᵀ·X are one product each) and checked against torch's own
dispatch counter, whose MACs (its flops ÷ 2) are exact for products and convolutions.
The prices of single backward operators are pinned in tests/formulas/test_gradients.py.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, set_checkpoint_early_stop
from torch.utils.flop_counter import FlopCounterMode

import flopcount
from flopcount import Count

B, IN, HID, OUT = 4, 8, 16, 3


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, OUT))


def train_step(model: nn.Module, x: torch.Tensor, **options: bool) -> flopcount.Report:
    with flopcount.profile(model, **options) as report:
        model(x).sum().backward()
    return report


def torch_backward_macs(model: nn.Module, x: torch.Tensor) -> int:
    """torch's dispatch counter: (forward + backward flops − forward flops) ÷ 2."""
    with FlopCounterMode(display=False) as forward_only, torch.no_grad():
        model(x)
    with FlopCounterMode(display=False) as both:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return (both.get_total_flops() - forward_only.get_total_flops()) // 2


@pytest.mark.parametrize("operators", [True, False])
def test_dense_backward_is_twice_forward_less_first_input_gradient(operators: bool) -> None:
    model = mlp()
    report = train_step(model, torch.randn(B, IN), operators=operators)
    forward = report.phases["forward"]
    backward = report.phases["backward"]
    assert forward.macs == B * IN * HID + B * HID * OUT
    # the input needs no gradient: the first Linear computes only its weight gradient
    assert backward.macs == 2 * forward.macs - B * IN * HID
    assert report.total == forward.ops + backward.ops
    assert report.macs == forward.macs + backward.macs
    rows = report.modules
    assert rows["0"].phases["backward"].macs == B * IN * HID  # dW = dYᵀ·X
    assert rows["2"].phases["backward"].macs == 2 * B * HID * OUT  # dX = dY·W and dW
    assert rows["1"].phases["backward"].macs == 0
    assert rows["1"].phases["backward"].ops == B * HID  # ReLU: one compare per element
    assert rows[""].phases["backward"] == backward
    assert rows["2"].ops == rows["2"].phases["forward"].ops + rows["2"].phases["backward"].ops
    assert report.unsupported == {}


def test_frozen_parameters_and_inputs_needing_gradients() -> None:
    model = mlp()
    model[0].requires_grad_(False)
    frozen = train_step(model, torch.randn(B, IN))
    assert frozen.modules["0"].phases["backward"] == Count(0, 0)  # nothing needs its grads
    # the last Linear is now the first whose input needs no gradient: dW only
    assert frozen.phases["backward"].macs == B * HID * OUT
    x = torch.randn(B, IN, requires_grad=True)
    needs_input = train_step(model, x)
    assert needs_input.modules["0"].phases["backward"].macs == B * HID * IN  # dX only


def test_lora_adapter_on_a_frozen_base_counts_what_runs() -> None:
    rank = 2

    class LoRALinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = nn.Linear(IN, HID).requires_grad_(False)
            self.down = nn.Linear(IN, rank, bias=False)
            self.up = nn.Linear(rank, HID, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.up(self.down(x))

    model = LoRALinear()
    report = train_step(model, torch.randn(B, IN))
    rows = report.modules
    assert rows["base"].phases["backward"].macs == 0
    assert rows["up"].phases["backward"].macs == 2 * B * rank * HID  # dX and dW
    assert rows["down"].phases["backward"].macs == B * IN * rank  # dW only
    assert report.phases["backward"].macs == torch_backward_macs(model, torch.randn(B, IN))


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )


@pytest.mark.parametrize("frozen", [False, True])
def test_backward_macs_equal_torch_counter_on_a_cnn(frozen: bool) -> None:
    torch.manual_seed(0)
    model = small_cnn()
    if frozen:  # everything but the last layer
        model[:-1].requires_grad_(False)
    x = torch.randn(2, 3, 12, 12)
    expected = torch_backward_macs(model, x)
    report = train_step(model, x, operators=True)
    assert report.phases["backward"].macs == expected
    assert report.unsupported == {}


def test_attention_backward_macs_equal_torch_counter_plus_what_it_misses_on_cpu() -> None:
    batch, tokens, width, heads, hidden = 2, 5, 16, 2, 32
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(width, heads, hidden, dropout=0.0, batch_first=True)
    x = torch.randn(batch, tokens, width)
    # torch's counter before 2.15 prices the CPU attention kernel's backward at zero; the
    # kernel recomputes QKᵀ and computes dV, dP, dQ, dK: five products of B·H·T·T·(width / H)
    from torch.utils.flop_counter import flop_registry

    cpu_kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
    missed = cpu_kernel.default not in flop_registry and cpu_kernel not in flop_registry
    attention = 5 * batch * heads * tokens * tokens * (width // heads) if missed else 0
    report = train_step(model, x)
    assert report.phases["backward"].macs == torch_backward_macs(model, x) + attention
    assert report.unsupported == {}


class Segmented(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, HID))
        self.head = nn.Linear(HID, OUT)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none":
            h = self.block(x)
        else:
            h = checkpoint(self.block, x, use_reentrant=self.mode == "reentrant")
        return self.head(h)


@pytest.mark.parametrize("mode", ["reentrant", "non-reentrant"])
def test_checkpointing_recomputes_into_its_own_phase(mode: str) -> None:
    torch.manual_seed(0)
    plain = Segmented("none")
    x = torch.randn(B, IN, requires_grad=True)
    reference = train_step(plain, x)
    model = Segmented(mode)
    model.load_state_dict(plain.state_dict())
    with warnings.catch_warnings(), set_checkpoint_early_stop(False):
        # torch 2.6's reentrant checkpoint runs tensor arithmetic of its own the first time
        # it is used in a process (lazy imports): a real call inside the forward, once
        model(x).sum().backward()
        model.zero_grad(set_to_none=True)  # else accumulating into .grad adds one op each
        report = train_step(model, x)
    assert report.phases["forward"] == reference.phases["forward"]
    assert report.phases["recompute"] == report.modules["block"].phases["forward"]
    assert report.modules["head"].phases["recompute"] == Count(0, 0)
    assert report.phases["backward"] == reference.phases["backward"]
    assert report.modules["block"].calls == 1


def test_optimizer_step_per_parameter_element() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with flopcount.profile(model) as report:
        model(torch.randn(B, IN)).sum().backward()
        optimizer.step()
    parameters = IN * HID + HID + HID * OUT + OUT
    update = 2  # p ← p − lr·g: one multiply, one subtract per element
    assert report.phases["optimizer"] == Count(update * parameters, 0)
    assert report.modules["0"].phases["optimizer"].ops == update * (IN * HID + HID)
    adam = torch.optim.Adam(model.parameters())
    with flopcount.profile(model) as report:
        model(torch.randn(B, IN)).sum().backward()
        adam.step()
    assert report.phases["optimizer"].ops == 13 * parameters  # docs/formulas.md: Adam


def test_nothing_after_the_block_is_counted_and_the_stacks_are_restored() -> None:
    model = mlp()
    depth = torch._C._len_torch_dispatch_stack()
    with flopcount.profile(model) as report:
        loss = model(torch.randn(B, IN)).sum()
    loss.backward()  # after the block: not counted, no mode left to see it
    assert "backward" not in report.phases
    assert torch._C._len_torch_dispatch_stack() == depth
    assert model[0].weight.grad is not None


def test_backward_that_raises_leaves_no_mode_behind() -> None:
    model = mlp()
    depth = torch._C._len_torch_dispatch_stack()

    def fail(grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("hook failed")

    handle = model[2].weight.register_hook(fail)
    with pytest.raises(RuntimeError, match="hook failed"), flopcount.profile(model):
        model(torch.randn(B, IN)).sum().backward()
    handle.remove()
    assert torch._C._len_torch_dispatch_stack() == depth
    assert "backward" in train_step(model, torch.randn(B, IN)).phases


def test_inference_under_no_grad_has_only_a_forward_phase() -> None:
    model = mlp()
    with torch.no_grad(), flopcount.profile(model) as report:
        model(torch.randn(B, IN))
    assert list(report.phases) == ["forward"]
    assert report.modules["0"].phases == {"forward": report.modules["0"].phases["forward"]}


def test_budget_on_one_phase() -> None:
    model = mlp()
    report = train_step(model, torch.randn(B, IN))
    backward = report.phases["backward"]
    report.check(max_macs=backward.macs, phase="backward")
    with pytest.raises(flopcount.BudgetExceeded, match="backward MACs"):
        report.check(max_macs=backward.macs - 1, phase="backward")
    with pytest.raises(ValueError, match="phase must be one of"):
        report.check(max_ops=1, phase="sideways")
