"""Guarantee 1: the model leaves every profile exactly as it came, on every path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopcount
from tests.reliability.snapshot import Snapshot


class Fault(RuntimeError):
    pass


class Trap(nn.Module):
    """Raises ``error`` when armed; otherwise the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.error is not None:
            raise self.error
        return x


def deep_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 8),
        nn.BatchNorm1d(8),
        nn.Sequential(Trap(), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), Trap())),
        Trap(),
    )


TRAPS = ["2.0", "2.2.1", "3"]


def arm(model: nn.Module, where: str, error: BaseException) -> None:
    trap = model.get_submodule(where)
    assert isinstance(trap, Trap)
    trap.error = error


@pytest.mark.parametrize("operators", [True, False])
@pytest.mark.parametrize("where", TRAPS)
@pytest.mark.parametrize("error", [Fault("boom"), KeyboardInterrupt(), ValueError("bad")])
def test_exception_at_any_depth(where: str, error: BaseException, operators: bool) -> None:
    model = deep_model().train()
    fired: list[str] = []
    model[0].register_forward_hook(lambda *a: fired.append("user post"))
    model[0].register_forward_pre_hook(lambda *a: fired.append("user pre"))
    arm(model, where, error)
    before = Snapshot.of(model)
    with pytest.raises(type(error)) as info:
        with flopcount.profile(model, operators=operators):
            model(torch.randn(4, 8))
    assert info.value is error
    # the running BatchNorm statistics moved because the forward really ran: compare
    # everything else, then the buffers against a plain run of the same input
    after = Snapshot.of(model)
    after.buffers = before.buffers
    before.assert_same(after)
    arm(model, where, None)  # type: ignore[arg-type]
    model(torch.randn(4, 8))
    assert fired == ["user pre", "user post"] * 2


@pytest.mark.parametrize("operators", [True, False])
def test_exception_inside_a_formula(operators: bool) -> None:
    registry = flopcount.default_registry().copy()

    def broken(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        raise ZeroDivisionError("formula bug")

    registry.register(nn.ReLU, replace=True)(broken)
    model = deep_model().eval()
    before = Snapshot.of(model)
    with pytest.raises(flopcount.FormulaError) as info:
        flopcount.count(model, torch.randn(4, 8), operators=operators, registry=registry)
    message = str(info.value)
    assert "'2.1' (ReLU)" in message and "[(4, 8)]" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    before.assert_same(Snapshot.of(model))


@pytest.mark.filterwarnings("ignore::flopcount.UnsupportedWarning")  # Trap has no formula
@pytest.mark.parametrize("operators", [True, False])
def test_success_path_leaves_everything(operators: bool) -> None:
    model = deep_model().eval()
    for p in model[0].parameters():
        p.requires_grad_(False)
    before = Snapshot.of(model)
    flopcount.count(model, torch.randn(4, 8), operators=operators)
    flopcount.count(model, torch.randn(4, 8), operators=operators, dry_run=True)
    before.assert_same(Snapshot.of(model))


def test_exception_from_the_with_block_itself_not_the_model() -> None:
    model = deep_model().eval()
    before = Snapshot.of(model)
    with pytest.raises(Fault):
        with flopcount.profile(model):
            model(torch.randn(4, 8))
            raise Fault("after the forward")
    before.assert_same(Snapshot.of(model))
