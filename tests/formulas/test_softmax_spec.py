"""Softmax exactly as the specification states: M·(4N − 1) ops along ``dim``."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from tests.tally import Tally, module_count, operator_count


def reference_softmax(tally: Tally, x: torch.Tensor, dim: int) -> torch.Tensor:
    """The specification's algorithm, one counted primitive at a time.

    Per row: N exps and N − 1 adds for the denominator, then N exps and N divides.
    """
    if x.ndim == 0:
        x = x.reshape(1)
        return reference_softmax(tally, x, 0).reshape(())
    dim = dim % x.ndim
    if x.numel() == 0:
        return x.clone()
    denominator = tally.sum(tally.exp(x), dim).unsqueeze(dim)
    return tally.div(tally.exp(x), denominator)


shapes = st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4)


@given(shape=shapes, data=st.data())
def test_softmax_module_matches_op_by_op_reference(shape: list[int], data: st.DataObject) -> None:
    ndim = len(shape)
    dim = data.draw(st.integers(min_value=-ndim, max_value=ndim - 1), label="dim")
    x = torch.randn(shape)
    tally = Tally()
    expected = reference_softmax(tally, x, dim)
    module = nn.Softmax(dim=dim)
    torch.testing.assert_close(expected, module(x))
    assert module_count(module, x) == tally.count


@given(shape=shapes, data=st.data())
def test_softmax_functional_forms_share_the_formula(shape: list[int], data: st.DataObject) -> None:
    dim = data.draw(st.integers(min_value=-len(shape), max_value=len(shape) - 1), label="dim")
    x = torch.randn(shape)
    tally = Tally()
    reference_softmax(tally, x, dim)
    assert operator_count(torch.nn.functional.softmax, x, dim) == tally.count
    assert operator_count(torch.softmax, x, dim) == tally.count
    assert operator_count(torch.Tensor.softmax, x, dim) == tally.count


@pytest.mark.parametrize(
    ("dim", "n", "m"),
    [(0, 2, 3 * 4), (1, 3, 2 * 4), (2, 4, 2 * 3), (-1, 4, 2 * 3), (-3, 2, 3 * 4)],
)
def test_softmax_on_2x3x4_pinned(dim: int, n: int, m: int) -> None:
    x = torch.randn(2, 3, 4)
    assert module_count(nn.Softmax(dim=dim), x).ops == m * (4 * n - 1)


@pytest.mark.parametrize(
    ("shape", "implicit_dim"),
    [((5,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)],
)
def test_softmax_dim_none_resolves_like_pytorch(shape: tuple[int, ...], implicit_dim: int) -> None:
    x = torch.randn(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch's implicit-dim deprecation
        implicit = nn.Softmax(dim=None)
        torch.testing.assert_close(implicit(x), torch.softmax(x, implicit_dim))
        count = module_count(implicit, x)
    assert count == module_count(nn.Softmax(dim=implicit_dim), x)


def test_softmax_zero_dim_input() -> None:
    x = torch.tensor(1.5)
    tally = Tally()
    torch.testing.assert_close(reference_softmax(tally, x, 0), nn.Softmax(dim=0)(x))
    # one element: N = 1, M = 1 -> 4·1 − 1
    assert module_count(nn.Softmax(dim=0), x).ops == 4 * 1 - 1 == tally.ops
    assert module_count(nn.Softmax(dim=-1), x).ops == 4 * 1 - 1


@pytest.mark.parametrize(("shape", "dim"), [((0, 4), 1), ((3, 0), 1), ((0,), 0), ((2, 0, 3), 0)])
def test_softmax_zero_size_input_counts_zero(shape: tuple[int, ...], dim: int) -> None:
    assert module_count(nn.Softmax(dim=dim), torch.randn(shape)).ops == 0


def test_softmax_on_meta_device_matches_cpu() -> None:
    x = torch.randn(3, 5, 7)
    assert module_count(nn.Softmax(dim=1), x.to("meta")) == module_count(nn.Softmax(dim=1), x)
