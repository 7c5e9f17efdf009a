"""Pricing a plain function's torch calls (``price_calls``), alone and inside a profile."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import flopcount
from flopcount import Count
from flopcount._operators import price_calls
from flopcount._registry import active_registry

M, N = 3, 4  # rows, row length
EXP = 1  # per element, as every library primitive
MUL = 1  # per output element


def test_every_call_is_priced_into_one_count() -> None:
    total, missing = price_calls(
        flopcount.default_registry(), lambda x: torch.exp(x) * 2, torch.randn(M, N)
    )
    assert total == Count(M * N * EXP + M * N * MUL)
    assert missing == []


def test_functions_without_a_formula_are_named_publicly() -> None:
    total, missing = price_calls(
        flopcount.default_registry(), lambda x: torch.fft.rfft(torch.exp(x)), torch.randn(M, N)
    )
    assert total == Count(M * N * EXP)
    assert missing == ["torch.fft.rfft"]


def test_the_given_registry_prices_the_calls() -> None:
    total, missing = price_calls(
        flopcount.Registry(), lambda x: torch.exp(x) * 2, torch.randn(M, N)
    )
    assert total == Count(0)
    assert missing == ["torch.exp", "torch.Tensor.mul"]


def test_a_functions_insides_are_not_counted_again() -> None:
    # F.softmax calls Tensor.softmax inside: priced once, by the softmax formula
    total, missing = price_calls(
        flopcount.default_registry(), lambda x: F.softmax(x, dim=-1), torch.randn(M, N)
    )
    assert total == Count(M * (4 * N - 1))
    assert missing == []


class Gated(nn.Module):
    """``exp(x) * 2``, priced by its registered formula through ``price_calls``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x) * 2


def gated_ops(module: Gated, inputs: tuple[Any, ...], output: Any) -> Count:
    total, missing = price_calls(active_registry(), module.forward, *inputs)
    assert not missing
    return total


@pytest.mark.parametrize("operators", [True, False])
def test_inside_a_formula_no_outer_mode_sees_the_calls(operators: bool) -> None:
    registry = flopcount.default_registry().copy()
    registry.register(Gated)(gated_ops)
    model = nn.Sequential(Gated())
    report = flopcount.count(model, torch.randn(M, N), operators=operators, registry=registry)
    assert report.total == M * N * EXP + M * N * MUL
    assert report.modules["0"].self_ops == report.total
    assert report.unsupported == {}
    assert torch.overrides._get_current_function_mode_stack() == []
