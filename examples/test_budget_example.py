"""Hold a model to an operation budget in its tests: ``pytest examples/test_budget_example.py``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopcount


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 10), nn.Softmax(dim=-1))


@pytest.mark.flop_budget(max_ops=2.5e6, max_macs=1.3e6, modules={"0": 2.2e6})
def test_classifier_stays_within_budget(flop_counter) -> None:  # type: ignore[no-untyped-def]
    model = make_model()
    with flop_counter(model):
        model(torch.randn(64, 64))


def test_budget_as_a_context_manager() -> None:
    model = make_model()
    with flopcount.budget(model, max_macs=1.3e6):
        model(torch.randn(64, 64))


def test_exceeding_the_budget_reads_like_an_assertion() -> None:
    model = make_model()
    with pytest.raises(AssertionError, match="total MACs"):
        with flopcount.budget(model, max_macs=1e3):
            model(torch.randn(64, 64))
