"""Budgets: totals and per-module globs, readable failures, argument validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import flopcount

B, IN, OUT = 2, 8, 4
LINEAR_OPS = B * OUT * 2 * IN
LINEAR_MACS = B * OUT * IN


def model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(IN, OUT), nn.ReLU())


def report() -> flopcount.Report:
    return flopcount.count(model(), torch.randn(B, IN))


def test_within_budget_passes() -> None:
    r = report()
    r.check(max_ops=LINEAR_OPS + B * OUT, max_macs=LINEAR_MACS, modules={"0": LINEAR_OPS})


def test_over_budget_lists_every_offender_with_overshoot() -> None:
    r = report()
    with pytest.raises(flopcount.BudgetExceeded) as info:
        r.check(max_ops=LINEAR_OPS, max_macs=LINEAR_MACS // 2, modules={"*": LINEAR_OPS // 2})
    error = info.value
    assert isinstance(error, AssertionError)
    whats = [what for what, _, _ in error.offenders]
    assert whats == ["total ops", "total MACs", "ops of (root) (Sequential)", "ops of '0' (Linear)"]
    message = str(error)
    total = LINEAR_OPS + B * OUT
    assert f"{total:,}" in message
    assert f"+{100 * (total - LINEAR_OPS) / LINEAR_OPS:.1f}%" in message
    assert "+100.0%" in message  # MACs at twice their budget


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_ops": -1},
        {"max_ops": math.nan},
        {"max_macs": "1e9"},
        {"max_ops": True},
        {"modules": {3: 10}},
        {"modules": ["0"]},
        {"modules": {"0": None}},
        {"modules": {"nothing.matches": 10}},
    ],
)
def test_invalid_budget_arguments_raise_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        report().check(**kwargs)  # type: ignore[arg-type]


def test_budget_context_manager_checks_at_exit() -> None:
    m = model()
    with flopcount.budget(m, max_ops=LINEAR_OPS + B * OUT) as r:
        m(torch.randn(B, IN))
    assert r.total == LINEAR_OPS + B * OUT
    with pytest.raises(flopcount.BudgetExceeded, match="total ops"):
        with flopcount.budget(m, max_ops=LINEAR_OPS):
            m(torch.randn(B, IN))


def test_budget_does_not_mask_the_forward_exception() -> None:
    m = model()
    with pytest.raises(RuntimeError, match="shape"):
        with flopcount.budget(m, max_ops=0):
            m(torch.randn(B, IN + 1))


def test_budget_validates_arguments_before_running() -> None:
    with pytest.raises(ValueError, match="max_ops"):
        with flopcount.budget(model(), max_ops=-5):
            pytest.fail("the block must not run")


def test_offender_table_prints_small_numbers_once_and_names_real_modules() -> None:
    r = report()
    with pytest.raises(flopcount.BudgetExceeded) as info:
        r.check(max_macs=10)
    macs_line = next(line for line in str(info.value).splitlines() if "total MACs" in line)
    assert f"{r.macs:,}" in macs_line and f"({r.macs})" not in macs_line  # no "72 (72)"
    assert "10 " in macs_line + " " and "(10)" not in macs_line
    with pytest.raises(ValueError, match="names look like '0', '1'"):
        r.check(modules={"encoder.*": 1})
