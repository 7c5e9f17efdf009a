"""Softmin, LogSoftmax, Softmax2d and AdaptiveLogSoftmaxWithLoss in the Softmax convention.

References follow the specification's algorithm (no max subtracted, a row sum of N terms
is N − 1 counted adds) one counted primitive at a time.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

import flopcount
from tests.tally import Tally, module_count, operator_count


def rows_of(x: Tensor, dim: int | None) -> tuple[Tensor, int]:
    """A 0-d input as one row of one element, and ``dim`` resolved as PyTorch does."""
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
    if x.ndim == 0:
        return x.reshape(1), 0
    return x, dim % x.ndim


def reference_softmax(t: Tally, x: Tensor, dim: int | None) -> Tensor:
    y, d = rows_of(x, dim)
    if y.numel() == 0:
        return x.clone()
    return t.div(t.exp(y), t.sum(t.exp(y), d).unsqueeze(d)).reshape(x.shape)


def reference_softmin(t: Tally, x: Tensor, dim: int | None) -> Tensor:
    return reference_softmax(t, t.unary(torch.neg, x), dim)


def reference_log_softmax(t: Tally, x: Tensor, dim: int | None) -> Tensor:
    y, d = rows_of(x, dim)
    if y.numel() == 0:
        return x.clone()
    log_sum = t.log(t.sum(t.exp(y), d).unsqueeze(d))
    return t.sub(y, log_sum).reshape(x.shape)


shapes = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4)


@given(shape=shapes, data=st.data())
def test_softmin_and_log_softmax_match_reference(shape: list[int], data: st.DataObject) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = torch.randn(shape, dtype=torch.float64)
    softmin, log_softmax = Tally(), Tally()
    torch.testing.assert_close(reference_softmin(softmin, x, dim), nn.Softmin(dim)(x))
    torch.testing.assert_close(reference_log_softmax(log_softmax, x, dim), nn.LogSoftmax(dim)(x))
    assert module_count(nn.Softmin(dim), x) == softmin.count
    assert operator_count(F.softmin, x, dim) == softmin.count
    assert module_count(nn.LogSoftmax(dim), x) == log_softmax.count
    for fn in (F.log_softmax, torch.log_softmax, Tensor.log_softmax, torch.special.log_softmax):
        assert operator_count(fn, x, dim) == log_softmax.count, fn


@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=4))
def test_softmax2d_is_softmax_over_channels(shape: list[int]) -> None:
    x = torch.randn(shape, dtype=torch.float64)
    tally = Tally()
    torch.testing.assert_close(reference_softmax(tally, x, -3), nn.Softmax2d()(x))
    assert module_count(nn.Softmax2d(), x) == tally.count
    assert operator_count(torch.special.softmax, x, -3) == tally.count


def test_pinned_in_named_dimensions() -> None:
    batch, channels, height, width = 2, 3, 4, 5
    x = torch.randn(batch, channels, height, width)
    rows = batch * height * width  # M when reducing over the channels, N = channels
    assert module_count(nn.Softmax2d(), x).ops == rows * (4 * channels - 1)
    # softmin: one negation per element, then softmax: M·(N + 4N − 1)
    assert module_count(nn.Softmin(1), x).ops == rows * (5 * channels - 1)
    # log-softmax per row: N exps, N − 1 adds, 1 log, N subtracts
    assert module_count(nn.LogSoftmax(1), x).ops == rows * (
        channels + (channels - 1) + 1 + channels
    )
    rows_last = batch * channels * height
    assert module_count(nn.LogSoftmax(-1), x).ops == rows_last * 3 * width


IMPLICIT = [((5,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1), ((), 0)]


@pytest.mark.parametrize(("shape", "implicit_dim"), IMPLICIT)
def test_dim_none_resolves_like_pytorch(shape: tuple[int, ...], implicit_dim: int) -> None:
    x = torch.randn(shape)
    explicit = {"softmin": nn.Softmin(implicit_dim), "log_softmax": nn.LogSoftmax(implicit_dim)}
    implicit = {"softmin": nn.Softmin(None), "log_softmax": nn.LogSoftmax(None)}
    functional = {"softmin": F.softmin, "log_softmax": F.log_softmax}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch's implicit-dim deprecation
        for name in explicit:
            torch.testing.assert_close(implicit[name](x), explicit[name](x))
            expected = module_count(explicit[name], x)
            assert module_count(implicit[name], x) == expected, name
            assert operator_count(functional[name], x) == expected, name
        assert operator_count(F.softmax, x) == module_count(nn.Softmax(implicit_dim), x)
        if len(shape) >= 2:  # another dim gives another count, so the dim really is resolved
            other = -1 if implicit_dim == 0 else 0
            assert module_count(nn.Softmin(other), x) != module_count(nn.Softmin(None), x)


@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_input_is_one_row_of_one(dim: int) -> None:
    x = torch.tensor(0.7, dtype=torch.float64)
    softmin, log_softmax = Tally(), Tally()
    torch.testing.assert_close(reference_softmin(softmin, x, dim), nn.Softmin(dim)(x))
    torch.testing.assert_close(reference_log_softmax(log_softmax, x, dim), nn.LogSoftmax(dim)(x))
    assert module_count(nn.Softmin(dim), x).ops == 5 * 1 - 1 == softmin.ops
    assert module_count(nn.LogSoftmax(dim), x).ops == 3 * 1 == log_softmax.ops


@pytest.mark.parametrize(("shape", "dim"), [((0, 4), 1), ((3, 0), -1), ((0,), 0), ((2, 0, 3), 0)])
def test_zero_size_input_costs_zero(shape: tuple[int, ...], dim: int) -> None:
    x = torch.randn(shape)
    zero = flopcount.Count(0, 0)
    assert module_count(nn.Softmin(dim), x) == zero
    assert module_count(nn.LogSoftmax(dim), x) == zero
    assert operator_count(F.log_softmax, x, dim) == zero
    assert module_count(nn.Softmax2d(), torch.randn(2, 0, 3, 3)) == zero


@pytest.mark.parametrize("module", [nn.Softmin(1), nn.LogSoftmax(-1), nn.Softmax2d()], ids=repr)
def test_meta_device_matches_cpu(module: nn.Module) -> None:
    x = torch.randn(2, 3, 4, 5)
    cpu = module_count(module, x)
    assert cpu.ops > 0
    assert module_count(module, x.to("meta")) == cpu


# -- AdaptiveLogSoftmaxWithLoss ------------------------------------------------------------
def linear(t: Tally, x: Tensor, layer: nn.Linear) -> Tensor:
    weight = layer.weight.detach()
    if weight.shape[1] == 0:  # an empty hidden layer: zeros, no arithmetic
        out = x.new_zeros(x.shape[0], weight.shape[0])
    else:
        out = t.matmul(x, weight.T)
    return out if layer.bias is None else t.add(out, layer.bias.detach())


def reference_adaptive(
    t: Tally, module: nn.AdaptiveLogSoftmaxWithLoss, x: Tensor, target: Tensor
) -> tuple[Tensor, Tensor]:
    """Dense: every row through every cluster; routing by target values is free indexing."""
    rows, targets = (x, target) if target.ndim else (x[None], target[None])
    head = reference_log_softmax(t, linear(t, rows, module.head), 1)
    shortlist = module.shortlist_size
    head_index, local = targets.clone(), rows.new_zeros(rows.shape[0])
    for i, (low, high) in enumerate(itertools.pairwise(module.cutoffs)):
        first, second = module.tail[i]  # type: ignore[misc]
        logprob = reference_log_softmax(t, linear(t, linear(t, rows, first), second), 1)
        inside = (targets >= low) & (targets < high)
        relative = (targets - low).clamp(0, high - low - 1)
        local = torch.where(inside, logprob.gather(1, relative[:, None])[:, 0], local)
        head_index = torch.where(inside, shortlist + i, head_index)
    out = t.add(local, head.gather(1, head_index[:, None])[:, 0])
    loss = t.div(t.sum(t.unary(torch.neg, out), 0), out.shape[0])
    return (out if target.ndim else out[0]), loss


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@given(
    batch=st.integers(1, 4),
    features=st.integers(1, 6),
    n_classes=st.integers(2, 8),
    div_value=st.sampled_from([1.0, 2.0, 4.0]),
    head_bias=st.booleans(),
    data=st.data(),
)
def test_adaptive_log_softmax_matches_dense_reference(
    batch: int,
    features: int,
    n_classes: int,
    div_value: float,
    head_bias: bool,
    data: st.DataObject,
) -> None:
    cutoffs = data.draw(
        st.lists(st.integers(1, n_classes - 1), min_size=1, unique=True).map(sorted), label="cut"
    )
    module = nn.AdaptiveLogSoftmaxWithLoss(features, n_classes, cutoffs, div_value, head_bias)
    module = module.double()
    x = torch.randn(batch, features, dtype=torch.float64)
    target = torch.tensor(
        data.draw(
            st.lists(st.integers(0, n_classes - 1), min_size=batch, max_size=batch), label="target"
        )
    )
    tally = Tally()
    out, loss = reference_adaptive(tally, module, x, target)
    result = module(x, target)
    torch.testing.assert_close(out, result.output)
    torch.testing.assert_close(loss, result.loss)
    assert module_count(module, x, target) == tally.count


def test_adaptive_log_softmax_pinned() -> None:
    batch, d, n_classes, cutoffs, div = 4, 8, 10, [3, 6], 2.0
    module = nn.AdaptiveLogSoftmaxWithLoss(d, n_classes, cutoffs, div_value=div)
    h = cutoffs[0] + len(cutoffs)  # shortlist + one entry per cluster
    hidden = [int(d // div**1), int(d // div**2)]
    out = [cutoffs[1] - cutoffs[0], n_classes - cutoffs[1]]
    ops = batch * h * (2 * d - 1) + 3 * batch * h  # head Linear (no bias), log-softmax
    macs = batch * h * d
    for hsz, osz in zip(hidden, out, strict=True):
        ops += batch * hsz * (2 * d - 1) + batch * osz * (2 * hsz - 1) + 3 * batch * osz
        macs += batch * hsz * d + batch * osz * hsz
    ops += batch + (batch + (batch - 1) + 1)  # combine; loss: negate, sum, divide
    x, target = torch.randn(batch, d), torch.tensor([0, 4, 7, 9])
    assert module_count(module, x, target) == flopcount.Count(ops, macs)


def test_adaptive_log_softmax_ignores_target_values_and_is_unbatched_as_one_row() -> None:
    module = nn.AdaptiveLogSoftmaxWithLoss(6, 9, [2, 5], div_value=2.0, head_bias=True)
    x = torch.randn(3, 6)
    all_shortlist = module_count(module, x, torch.tensor([0, 1, 0]))
    all_last_cluster = module_count(module, x, torch.tensor([8, 7, 5]))
    assert all_shortlist == all_last_cluster
    one = module_count(module, x[0], torch.tensor(6))
    tally = Tally()
    out, _ = reference_adaptive(tally, module, x[0].double(), torch.tensor(6))
    torch.testing.assert_close(out.float(), module(x[0], torch.tensor(6)).output)
    assert one == tally.count
    # no double counting of the head/tail Linears or log_softmax with operators on
    report = flopcount.count(Wrapper(module), x, torch.tensor([0, 3, 8]), strict=True)
    assert (report.total, report.macs) == tuple(all_shortlist)


class Wrapper(nn.Module):
    """A block without a formula around the module, so operator counting is active."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor, target: Tensor) -> object:
        return self.inner(x, target)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_adaptive_log_softmax_formula_runs_on_meta() -> None:
    module = nn.AdaptiveLogSoftmaxWithLoss(6, 9, [2, 5])
    x, target = torch.randn(3, 6), torch.tensor([0, 4, 8])
    formula = flopcount.default_registry().lookup(nn.AdaptiveLogSoftmaxWithLoss)
    assert formula is not None
    meta = module.to("meta")  # the forward itself cannot run on meta (it calls nonzero)
    on_meta = formula(meta, (x.to("meta"), target.to("meta")), None)
    assert on_meta == module_count(module, x, target)
    assert module_count(module, x[:0], target[:0]) == flopcount.Count(0, 0)
