"""Losses and distances: op-by-op Tally references checked against torch, then the formulas.

Each reference computes the loss with counted primitives (one op per output element per
primitive, reductions as loops) and its value is compared with torch's, so the reference
is right; the module formula and the functional formula must equal what it counted.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

import flopcount
from flopcount import Count
from tests.tally import Tally, module_count, operator_count

D64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny tensors: torch's thread pool only adds latency (log_sigmoid takes ~20 ms with it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


REDUCTIONS = st.sampled_from(["none", "mean", "sum"])
shapes = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3)


def randn(*shape: int) -> Tensor:
    return torch.randn(*shape, dtype=D64)


def rand(*shape: int, low: float = 0.05, high: float = 0.95) -> Tensor:
    return low + (high - low) * torch.rand(*shape, dtype=D64)


def reduce(t: Tally, loss: Tensor, reduction: str) -> Tensor:
    """'none' as is, 'sum' as a loop of adds, 'mean' the loop and one divide."""
    if reduction == "none":
        return loss
    flat = loss.reshape(-1)
    total = t.sum(flat, 0)
    return total if reduction == "sum" else t.div(total, flat.numel())


def check(
    module_type: type[nn.Module] | None,
    fn: Callable[..., Any] | None,
    inputs: tuple[Any, ...],
    kwargs: dict[str, Any],
    expected: Tensor,
    tally: Tally,
) -> None:
    """The reference equals torch; the module and the functional form count what it counted.

    Values are compared to 1e-6: torch guards tiny norms by adding an epsilon where some
    references clamp instead, which moves a result by ~1e-7 on near-zero vectors (the
    operation count is the same either way).
    """
    close = {"rtol": 1e-6, "atol": 1e-6}
    if module_type is not None:
        module = module_type(**kwargs)
        torch.testing.assert_close(expected, module(*inputs).to(expected.dtype), **close)
        assert module_count(module, *inputs) == tally.count
    if fn is not None:
        torch.testing.assert_close(expected, fn(*inputs, **kwargs).to(expected.dtype), **close)
        assert operator_count(fn, *inputs, **kwargs) == tally.count


def where(mask: Tensor, a: Tensor, b: Tensor | float) -> Tensor:
    """Selection: no arithmetic."""
    return torch.where(mask, a, torch.as_tensor(b, dtype=a.dtype))


def formula_on_meta(module: nn.Module, inputs: list[Any]) -> Count:
    """The registered formula called directly on meta tensors (for ops torch cannot run there)."""
    formula = flopcount.default_registry().lookup(type(module))
    assert formula is not None
    return flopcount.Count(*formula(module, tuple(inputs), torch.empty((), device="meta")))


# -- references: elementwise and likelihood losses ---------------------------------------
def ref_l1(t: Tally, x: Tensor, y: Tensor, reduction: str) -> Tensor:
    return reduce(t, t.unary(torch.abs, t.sub(x, y)), reduction)


def ref_mse(t: Tally, x: Tensor, y: Tensor, reduction: str) -> Tensor:
    d = t.sub(x, y)
    return reduce(t, t.mul(d, d), reduction)


def ref_smooth_l1(t: Tally, x: Tensor, y: Tensor, reduction: str, beta: float) -> Tensor:
    if beta == 0:
        return ref_l1(t, x, y, reduction)
    d = t.sub(x, y)
    a = t.unary(torch.abs, d)
    small = t.binary(torch.lt, a, beta)
    quadratic = t.div(t.mul(t.mul(0.5, d), d), beta)
    linear = t.sub(a, 0.5 * beta)
    return reduce(t, where(small, quadratic, linear), reduction)


def ref_huber(t: Tally, x: Tensor, y: Tensor, reduction: str, delta: float) -> Tensor:
    d = t.sub(x, y)
    a = t.unary(torch.abs, d)
    small = t.binary(torch.lt, a, delta)
    quadratic = t.mul(t.mul(0.5, d), d)
    linear = t.mul(delta, t.sub(a, 0.5 * delta))
    return reduce(t, where(small, quadratic, linear), reduction)


def ref_soft_margin(t: Tally, x: Tensor, y: Tensor, reduction: str) -> Tensor:
    loss = t.log(t.add(1.0, t.exp(t.unary(torch.neg, t.mul(y, x)))))
    return reduce(t, loss, reduction)


def ref_bce(t: Tally, x: Tensor, y: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
    log_x = t.maximum(t.log(x), -100.0)
    log_1mx = t.maximum(t.log(t.sub(1.0, x)), -100.0)
    loss = t.sub(t.mul(t.sub(y, 1.0), log_1mx), t.mul(y, log_x))
    if weight is not None:
        loss = t.mul(loss, weight)
    return reduce(t, loss, reduction)


def ref_bce_logits(
    t: Tally, x: Tensor, y: Tensor, weight: Tensor | None, pos_weight: Tensor | None, reduction: str
) -> Tensor:
    softplus = t.add(
        t.maximum(t.unary(torch.neg, x), 0.0),
        t.log(t.add(1.0, t.exp(t.unary(torch.neg, t.unary(torch.abs, x))))),
    )
    if pos_weight is not None:
        softplus = t.mul(t.add(1.0, t.mul(t.sub(pos_weight, 1.0), y)), softplus)
    loss = t.add(t.mul(t.sub(1.0, y), x), softplus)
    if weight is not None:
        loss = t.mul(loss, weight)
    return reduce(t, loss, reduction)


def ref_kl_div(t: Tally, x: Tensor, y: Tensor, reduction: str, log_target: bool) -> Tensor:
    if log_target:
        loss = t.mul(t.exp(y), t.sub(y, x))
    else:
        loss = t.mul(y, t.sub(t.log(y), x))
    if reduction == "batchmean":
        return t.div(reduce(t, loss, "sum"), x.shape[0])
    return reduce(t, loss, reduction)


def ref_poisson(
    t: Tally, x: Tensor, y: Tensor, log_input: bool, full: bool, eps: float, reduction: str
) -> Tensor:
    if log_input:
        loss = t.sub(t.exp(x), t.mul(y, x))
    else:
        loss = t.sub(x, t.mul(y, t.log(t.add(x, eps))))
    if full:
        stirling = t.add(t.sub(t.mul(y, t.log(y)), y), t.mul(0.5, t.log(t.mul(2 * math.pi, y))))
        loss = t.add(loss, where(t.binary(torch.gt, y, 1.0), stirling, 0.0))
    return reduce(t, loss, reduction)


def ref_gaussian(
    t: Tally, x: Tensor, y: Tensor, var: Tensor, full: bool, eps: float, reduction: str
) -> Tensor:
    if var.dim() == x.dim() - 1:
        var = var.unsqueeze(-1)
    v = t.maximum(var, eps)
    d = t.sub(x, y)
    loss = t.mul(0.5, t.add(t.log(v), t.div(t.mul(d, d), v)))
    if full:
        loss = t.add(loss, 0.5 * math.log(2 * math.pi))
    return reduce(t, loss, reduction)


def ref_margin_ranking(
    t: Tally, x1: Tensor, x2: Tensor, y: Tensor, margin: float, reduction: str
) -> Tensor:
    loss = t.maximum(t.add(t.mul(t.unary(torch.neg, y), t.sub(x1, x2)), margin), 0.0)
    return reduce(t, loss, reduction)


def ref_hinge(t: Tally, x: Tensor, y: Tensor, margin: float, reduction: str) -> Tensor:
    hinge = t.maximum(t.sub(margin, x), 0.0)
    return reduce(t, where(t.binary(torch.eq, y, 1.0), x, hinge), reduction)


# -- hypothesis: elementwise and likelihood losses ---------------------------------------
@given(shape=shapes, reduction=REDUCTIONS, which=st.sampled_from(["l1", "mse", "soft_margin"]))
def test_plain_elementwise_losses(shape: list[int], reduction: str, which: str) -> None:
    x, y = randn(*shape), randn(*shape)
    t = Tally()
    if which == "l1":
        check(nn.L1Loss, F.l1_loss, (x, y), {"reduction": reduction}, ref_l1(t, x, y, reduction), t)
    elif which == "mse":
        check(
            nn.MSELoss, F.mse_loss, (x, y), {"reduction": reduction}, ref_mse(t, x, y, reduction), t
        )
    else:
        y = torch.randint(0, 2, shape).to(D64) * 2 - 1
        expected = ref_soft_margin(t, x, y, reduction)
        check(nn.SoftMarginLoss, F.soft_margin_loss, (x, y), {"reduction": reduction}, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, beta=st.sampled_from([0.0, 0.3, 1.0, 2.5]))
def test_smooth_l1_both_branches(shape: list[int], reduction: str, beta: float) -> None:
    x, y = randn(*shape), randn(*shape)
    t = Tally()
    expected = ref_smooth_l1(t, x, y, reduction, beta)
    kw = {"reduction": reduction, "beta": beta}
    check(nn.SmoothL1Loss, F.smooth_l1_loss, (x, y), kw, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, delta=st.sampled_from([0.2, 1.0, 3.0]))
def test_huber_both_branches(shape: list[int], reduction: str, delta: float) -> None:
    x, y = randn(*shape), randn(*shape)
    t = Tally()
    expected = ref_huber(t, x, y, reduction, delta)
    check(nn.HuberLoss, F.huber_loss, (x, y), {"reduction": reduction, "delta": delta}, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, weighted=st.booleans())
def test_bce(shape: list[int], reduction: str, weighted: bool) -> None:
    x, y = rand(*shape), rand(*shape, low=0.0, high=1.0)
    weight = rand(*shape, low=0.5, high=2.0) if weighted else None
    t = Tally()
    expected = ref_bce(t, x, y, weight, reduction)
    kw = {"weight": weight, "reduction": reduction}
    check(nn.BCELoss, F.binary_cross_entropy, (x, y), kw, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, weighted=st.booleans(), positive=st.booleans())
def test_bce_with_logits(shape: list[int], reduction: str, weighted: bool, positive: bool) -> None:
    x, y = 3 * randn(*shape), rand(*shape, low=0.0, high=1.0)
    weight = rand(*shape, low=0.5, high=2.0) if weighted else None
    pos_weight = rand(shape[-1], low=0.5, high=3.0) if positive else None
    t = Tally()
    expected = ref_bce_logits(t, x, y, weight, pos_weight, reduction)
    kw = {"weight": weight, "reduction": reduction, "pos_weight": pos_weight}
    check(nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits, (x, y), kw, expected, t)


@given(
    shape=shapes,
    reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]),
    log_target=st.booleans(),
)
def test_kl_div(shape: list[int], reduction: str, log_target: bool) -> None:
    x = randn(*shape)
    y = randn(*shape) if log_target else rand(*shape)
    t = Tally()
    expected = ref_kl_div(t, x, y, reduction, log_target)
    kw = {"reduction": reduction, "log_target": log_target}
    with pytest.warns(UserWarning) if reduction == "mean" else _no_warning_check():
        check(nn.KLDivLoss, F.kl_div, (x, y), kw, expected, t)


class _no_warning_check:  # noqa: N801 - a do-nothing context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


@given(shape=shapes, reduction=REDUCTIONS, log_input=st.booleans(), full=st.booleans())
def test_poisson_nll(shape: list[int], reduction: str, log_input: bool, full: bool) -> None:
    x = randn(*shape) if log_input else rand(*shape, low=0.1, high=3.0)
    y = rand(*shape, low=0.1, high=3.0)
    t = Tally()
    expected = ref_poisson(t, x, y, log_input, full, 1e-8, reduction)
    kw = {"log_input": log_input, "full": full, "reduction": reduction}
    check(nn.PoissonNLLLoss, F.poisson_nll_loss, (x, y), kw, expected, t)


@given(
    shape=st.lists(st.integers(min_value=1, max_value=4), min_size=2, max_size=3),
    reduction=REDUCTIONS,
    full=st.booleans(),
    var_kind=st.sampled_from(["same", "short", "one"]),
)
def test_gaussian_nll(shape: list[int], reduction: str, full: bool, var_kind: str) -> None:
    x, y = randn(*shape), randn(*shape)
    var_shape = {"same": shape, "short": shape[:-1], "one": [*shape[:-1], 1]}[var_kind]
    var = rand(*var_shape, low=1e-7, high=2.0)
    t = Tally()
    expected = ref_gaussian(t, x, y, var, full, 1e-6, reduction)
    kw = {"full": full, "reduction": reduction}
    check(nn.GaussianNLLLoss, F.gaussian_nll_loss, (x, y, var), kw, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, margin=st.sampled_from([0.0, 0.5, 1.0]))
def test_margin_ranking_and_hinge(shape: list[int], reduction: str, margin: float) -> None:
    x1, x2 = randn(*shape), randn(*shape)
    y = torch.randint(0, 2, shape).to(D64) * 2 - 1
    t = Tally()
    expected = ref_margin_ranking(t, x1, x2, y, margin, reduction)
    kw = {"margin": margin, "reduction": reduction}
    check(nn.MarginRankingLoss, F.margin_ranking_loss, (x1, x2, y), kw, expected, t)
    t = Tally()
    expected = ref_hinge(t, x1, y, margin, reduction)
    check(nn.HingeEmbeddingLoss, F.hinge_embedding_loss, (x1, y), kw, expected, t)


# -- references: classification ------------------------------------------------------------
def ref_log_softmax(t: Tally, x: Tensor, dim: int) -> Tensor:
    """N exps, N − 1 adds, 1 log, N subtracts per row (the activation family's convention)."""
    return t.sub(x, t.log(t.sum(t.exp(x), dim)).unsqueeze(dim))


def _batched(x: Tensor, target: Tensor) -> tuple[Tensor, Tensor, bool]:
    if x.dim() == 1:
        return x.unsqueeze(0), target.unsqueeze(0), True
    return x, target, False


def _weighted_mean(t: Tally, loss: Tensor, weights: Tensor) -> Tensor:
    return t.div(t.sum(loss.reshape(-1), 0), t.sum(weights.reshape(-1), 0))


def ref_nll(
    t: Tally, logp: Tensor, target: Tensor, weight: Tensor | None, reduction: str, ignore: int
) -> Tensor:
    logp, target, unbatched = _batched(logp, target)
    keep = target != ignore
    safe = torch.where(keep, target, 0)
    picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    loss = t.unary(torch.neg, picked)
    w = weight[safe] if weight is not None else torch.ones_like(picked)
    if weight is not None:
        loss = t.mul(loss, w)
    loss, w = where(keep, loss, 0.0), where(keep, w, 0.0)
    if reduction == "mean":
        return _weighted_mean(t, loss, w)
    out = reduce(t, loss, reduction)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def ref_cross_entropy(
    t: Tally,
    x: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    ignore: int,
    smoothing: float,
) -> Tensor:
    dim = 1 if x.dim() >= 2 else 0
    c = x.shape[dim]
    logp = ref_log_softmax(t, x, dim)
    view = [1] * x.dim()
    view[dim] = c
    if target.is_floating_point():
        y = t.add(t.mul(target, 1 - smoothing), smoothing / c) if smoothing > 0 else target
        terms = t.mul(logp, y)
        if weight is not None:
            terms = t.mul(terms, weight.reshape(view))
        return reduce(t, t.unary(torch.neg, t.sum(terms, dim)), reduction)
    nll = ref_nll(t, logp, target, weight, reduction, ignore)
    if smoothing == 0:
        return nll
    terms = t.mul(logp, weight.reshape(view)) if weight is not None else logp
    smooth = t.unary(torch.neg, t.sum(terms, dim))
    keep = target != ignore
    smooth = where(keep, smooth, 0.0)
    if reduction == "mean":
        w = weight[torch.where(keep, target, 0)] if weight is not None else torch.ones_like(smooth)
        smooth = _weighted_mean(t, smooth, where(keep, w, 0.0))
    else:
        smooth = reduce(t, smooth, reduction)
    return t.add(t.mul(1 - smoothing, nll), t.mul(smoothing / c, smooth))


def ref_multi_margin(
    t: Tally, x: Tensor, target: Tensor, p: int, margin: float, w: Tensor | None, reduction: str
) -> Tensor:
    x, target, unbatched = _batched(x, target)
    c = x.shape[1]
    rows = []
    for r in range(x.shape[0]):
        y = int(target[r])
        terms = []
        for i in range(c):
            if i == y:
                continue
            h = t.maximum(t.add(t.sub(margin, x[r, y]), x[r, i]), 0.0)
            h = t.mul(h, h) if p == 2 else h
            terms.append(t.mul(h, w[y]) if w is not None else h)
        total = t.sum(torch.stack(terms), 0) if terms else torch.zeros((), dtype=D64)
        rows.append(t.div(total, c))
    loss = torch.stack(rows)
    return reduce(t, loss.squeeze(0) if unbatched else loss, reduction)


def ref_multilabel_margin(t: Tally, x: Tensor, target: Tensor, reduction: str) -> Tensor:
    x, target, unbatched = _batched(x, target)
    c = x.shape[1]
    rows = []
    for r in range(x.shape[0]):
        labels = []
        for v in target[r].tolist():
            if v < 0:
                break
            labels.append(v)
        is_target = torch.zeros(c, dtype=torch.bool)
        is_target[labels] = True
        pair = is_target.unsqueeze(1) & ~is_target.unsqueeze(0)  # (j target, i not one)
        diff = t.sub(x[r].unsqueeze(1).expand(c, c), x[r].unsqueeze(0).expand(c, c))
        hinge = where(pair, t.maximum(t.sub(1.0, diff), 0.0), 0.0)
        rows.append(t.div(t.sum(hinge.reshape(-1), 0), c))
    loss = torch.stack(rows)
    return reduce(t, loss.squeeze(0) if unbatched else loss, reduction)


def ref_log_sigmoid(t: Tally, x: Tensor) -> Tensor:
    return t.unary(torch.neg, t.log(t.add(1.0, t.exp(t.unary(torch.neg, x)))))


def ref_multilabel_soft_margin(
    t: Tally, x: Tensor, y: Tensor, weight: Tensor | None, reduction: str
) -> Tensor:
    pos = t.mul(y, ref_log_sigmoid(t, x))
    neg = t.mul(t.sub(1.0, y), ref_log_sigmoid(t, t.unary(torch.neg, x)))
    loss = t.unary(torch.neg, t.add(pos, neg))
    if weight is not None:
        loss = t.mul(loss, weight)
    return reduce(t, t.div(t.sum(loss, -1), x.shape[-1]), reduction)


# -- hypothesis: classification ------------------------------------------------------------
class_shapes = st.tuples(
    st.integers(min_value=0, max_value=2),  # extra spatial dims (0 with N=None: unbatched)
    st.integers(min_value=1, max_value=3),  # N
    st.integers(min_value=1, max_value=4),  # C
    st.booleans(),  # unbatched
)


def _class_input(spec: tuple[int, int, int, bool]) -> tuple[list[int], list[int]]:
    extra, n, c, unbatched = spec
    if unbatched:
        return [c], []
    spatial = [2] * extra
    return [n, c, *spatial], [n, *spatial]


@given(
    spec=class_shapes,
    reduction=REDUCTIONS,
    weighted=st.booleans(),
    probabilities=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.0, 0.1, 0.4]),
    ignore=st.booleans(),
)
def test_cross_entropy(
    spec: tuple[int, int, int, bool],
    reduction: str,
    weighted: bool,
    probabilities: bool,
    smoothing: float,
    ignore: bool,
) -> None:
    shape, target_shape = _class_input(spec)
    c = spec[2]
    x = randn(*shape)
    if probabilities:
        target = randn(*shape).softmax(1 if len(shape) >= 2 else 0)
    else:
        target = torch.randint(0, c, target_shape)
    ignore_index = 0 if ignore and not probabilities and c > 1 else -100
    weight = rand(c, low=0.5, high=2.0) if weighted else None
    t = Tally()
    expected = ref_cross_entropy(t, x, target, weight, reduction, ignore_index, smoothing)
    if torch.isnan(expected).any():  # every target ignored: 0/0 on both sides
        return
    kw = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    kw["label_smoothing"] = smoothing
    check(nn.CrossEntropyLoss, F.cross_entropy, (x, target), kw, expected, t)


@given(spec=class_shapes, reduction=REDUCTIONS, weighted=st.booleans(), ignore=st.booleans())
def test_nll(
    spec: tuple[int, int, int, bool], reduction: str, weighted: bool, ignore: bool
) -> None:
    shape, target_shape = _class_input(spec)
    c = spec[2]
    logp = randn(*shape).log_softmax(1 if len(shape) >= 2 else 0)
    target = torch.randint(0, c, target_shape)
    ignore_index = 0 if ignore and c > 1 else -100
    weight = rand(c, low=0.5, high=2.0) if weighted else None
    t = Tally()
    expected = ref_nll(t, logp, target, weight, reduction, ignore_index)
    if torch.isnan(expected).any():
        return
    kw = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    check(nn.NLLLoss, F.nll_loss, (logp, target), kw, expected, t)


@given(
    n=st.integers(min_value=1, max_value=3),
    c=st.integers(min_value=1, max_value=5),
    unbatched=st.booleans(),
    reduction=REDUCTIONS,
    p=st.sampled_from([1, 2]),
    margin=st.sampled_from([0.5, 1.0, 2.0]),
    weighted=st.booleans(),
)
def test_multi_margin(
    n: int, c: int, unbatched: bool, reduction: str, p: int, margin: float, weighted: bool
) -> None:
    x = randn(c) if unbatched else randn(n, c)
    target = torch.randint(0, c, () if unbatched else (n,))
    weight = rand(c, low=0.5, high=2.0) if weighted else None
    t = Tally()
    expected = ref_multi_margin(t, x, target, p, margin, weight, reduction)
    kw = {"p": p, "margin": margin, "weight": weight, "reduction": reduction}
    check(nn.MultiMarginLoss, F.multi_margin_loss, (x, target), kw, expected, t)


@given(
    n=st.integers(min_value=1, max_value=3),
    c=st.integers(min_value=1, max_value=5),
    unbatched=st.booleans(),
    reduction=REDUCTIONS,
    data=st.data(),
)
def test_multilabel_margin(n: int, c: int, unbatched: bool, reduction: str, data: Any) -> None:
    rows = []
    for _ in range(1 if unbatched else n):
        k = data.draw(st.integers(min_value=0, max_value=c), label="labels")
        labels = torch.randperm(c)[:k].tolist()
        rows.append(labels + [-1] * (c - k))
    target = torch.tensor(rows[0] if unbatched else rows)
    x = randn(c) if unbatched else randn(n, c)
    t = Tally()
    expected = ref_multilabel_margin(t, x, target, reduction)
    kw = {"reduction": reduction}
    check(nn.MultiLabelMarginLoss, F.multilabel_margin_loss, (x, target), kw, expected, t)


@given(shape=shapes, reduction=REDUCTIONS, weighted=st.booleans())
def test_multilabel_soft_margin(shape: list[int], reduction: str, weighted: bool) -> None:
    x = randn(*shape)
    y = torch.randint(0, 2, shape).to(D64)
    weight = rand(shape[-1], low=0.5, high=2.0) if weighted else None
    t = Tally()
    expected = ref_multilabel_soft_margin(t, x, y, weight, reduction)
    kw = {"weight": weight, "reduction": reduction}
    check(nn.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss, (x, y), kw, expected, t)


HAS_LINEAR_CROSS_ENTROPY = hasattr(nn, "LinearCrossEntropyLoss")
"""torch 2.6 has no nn.LinearCrossEntropyLoss / F.linear_cross_entropy (newer releases do)."""


@pytest.mark.skipif(
    not HAS_LINEAR_CROSS_ENTROPY, reason=f"torch {torch.__version__} has no LinearCrossEntropyLoss"
)
@given(
    n=st.integers(min_value=1, max_value=3),
    features=st.integers(min_value=1, max_value=4),
    c=st.integers(min_value=1, max_value=4),
    bias=st.booleans(),
    probabilities=st.booleans(),
    reduction=REDUCTIONS,
)
def test_linear_cross_entropy(
    n: int, features: int, c: int, bias: bool, probabilities: bool, reduction: str
) -> None:
    module = nn.LinearCrossEntropyLoss(features, c, bias=bias, reduction=reduction, dtype=D64)
    x = randn(n, features)
    target = randn(n, c).softmax(1) if probabilities else torch.randint(0, c, (n,))
    t = Tally()
    logits = t.matmul(x, module.linear.weight.detach().T)
    if bias:
        logits = t.add(logits, module.linear.bias.detach())
    expected = ref_cross_entropy(t, logits, target, None, reduction, -100, 0.0)
    torch.testing.assert_close(expected, module(x, target).detach())
    assert module_count(module, x, target) == t.count
    w = module.linear.weight.detach()
    kw: dict[str, Any] = {"linear_bias": module.linear.bias, "reduction": reduction}
    assert operator_count(F.linear_cross_entropy, x, w, target, **kw) == t.count


# -- CTC ------------------------------------------------------------------------------------
NEG_INF = torch.tensor(-math.inf, dtype=D64)


def _log_sum_exp(t: Tally, terms: list[Tensor]) -> Tensor:
    if len(terms) == 1:
        return terms[0]
    exps = [t.exp(a) for a in terms]
    total = exps[0]
    for e in exps[1:]:
        total = t.add(total, e)
    return t.log(total)


def ref_ctc(
    t: Tally,
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: list[int],
    target_lengths: list[int],
    reduction: str,
    zero_infinity: bool,
) -> Tensor:
    """The alpha recursion cell by cell; a repeated label's skip term is a counted −inf."""
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs, targets = log_probs.unsqueeze(1), targets.unsqueeze(0)
    losses, offset = [], 0
    for b in range(log_probs.shape[1]):
        frames, length = input_lengths[b], target_lengths[b]
        if targets.dim() == 2:
            labels = targets[b, :length].tolist()
        else:
            labels, offset = targets[offset : offset + length].tolist(), offset + length
        ext = [0]
        for label in labels:
            ext += [label, 0]
        lp = log_probs[:, b]
        alpha = [lp[0, ext[0]]] + [NEG_INF] * (len(ext) - 1)
        if len(ext) > 1:
            alpha[1] = lp[0, ext[1]]
        for step in range(1, frames):
            row = []
            for s in range(len(ext)):
                terms = [alpha[s]] + [alpha[s - 1]] * (s >= 1)
                if s >= 3 and s % 2 == 1:
                    terms.append(alpha[s - 2] if ext[s] != ext[s - 2] else NEG_INF)
                row.append(t.add(_log_sum_exp(t, terms), lp[step, ext[s]]))
            alpha = row
        final = _log_sum_exp(t, alpha[-2:]) if length else alpha[0]
        losses.append(t.unary(torch.neg, final))
    loss = torch.stack(losses)
    if zero_infinity:
        loss = where(t.binary(torch.eq, loss, math.inf), torch.zeros_like(loss), loss)
    if reduction == "mean":
        lengths = torch.tensor([max(v, 1) for v in target_lengths], dtype=D64)
        return reduce(t, t.div(loss, lengths), "mean")
    return reduce(t, loss.squeeze(0) if unbatched else loss, reduction)


@given(
    frames=st.integers(min_value=1, max_value=5),
    batch=st.integers(min_value=1, max_value=3),
    classes=st.integers(min_value=2, max_value=4),
    layout=st.sampled_from(["padded", "concatenated", "unbatched"]),
    lengths_as=st.sampled_from(["tensor", "list", "tuple"]),
    reduction=REDUCTIONS,
    zero_infinity=st.booleans(),
    data=st.data(),
)
def test_ctc(
    frames: int,
    batch: int,
    classes: int,
    layout: str,
    lengths_as: str,
    reduction: str,
    zero_infinity: bool,
    data: Any,
) -> None:
    batch = 1 if layout == "unbatched" else batch
    longest = 3
    t_len = [data.draw(st.integers(1, frames), label="T_b") for _ in range(batch)]
    l_len = [data.draw(st.integers(0, longest), label="L_b") for _ in range(batch)]
    labels = torch.randint(1, classes, (batch, longest))
    log_probs = randn(frames, batch, classes).log_softmax(2)
    if layout == "padded":
        targets = labels
    elif layout == "concatenated":
        targets = torch.cat([labels[b, : l_len[b]] for b in range(batch)])
    else:
        log_probs, targets = log_probs[:, 0], labels[0, : l_len[0]]
    expected = ref_ctc(t := Tally(), log_probs, targets, t_len, l_len, reduction, zero_infinity)
    lengths: tuple[Any, Any]
    if layout == "unbatched":
        lengths = (torch.tensor(t_len[0]), torch.tensor(l_len[0]))  # torch wants tensors here
    elif lengths_as == "tensor":
        lengths = (torch.tensor(t_len), torch.tensor(l_len))
    else:
        kind = list if lengths_as == "list" else tuple
        lengths = (kind(t_len), kind(l_len))
    kw = {"reduction": reduction, "zero_infinity": zero_infinity}
    check(nn.CTCLoss, F.ctc_loss, (log_probs, targets, *lengths), kw, expected, t)


def test_ctc_meta_lengths_assume_full_lengths() -> None:
    frames, batch, classes, longest = 5, 2, 4, 3
    log_probs = randn(frames, batch, classes).log_softmax(2)
    targets = torch.randint(1, classes, (batch, longest))
    full = ([frames] * batch, [longest] * batch)
    t = Tally()
    ref_ctc(t, log_probs, targets, *full, "sum", False)
    module = nn.CTCLoss(reduction="sum")
    meta = [
        v.to("meta") for v in (log_probs, targets, torch.tensor(full[0]), torch.tensor(full[1]))
    ]
    assert formula_on_meta(module, meta) == t.count  # torch has no meta kernel for CTC
    # Readable short lengths give a smaller count than the full-length assumption.
    short = module_count(module, log_probs, targets, torch.tensor([2, 1]), torch.tensor([1, 0]))
    assert short.ops < t.count.ops


# -- distances ------------------------------------------------------------------------------
def ref_norm(t: Tally, v: Tensor, p: float, dim: int) -> Tensor:
    if p == 2:
        return t.sqrt(t.sum(t.mul(v, v), dim))
    if p == 0:
        return t.sum(t.binary(torch.ne, v, 0.0).to(D64), dim)
    a = t.unary(torch.abs, v)
    if p == 1:
        return t.sum(a, dim)
    if p == math.inf:
        return t.amax(a, dim)
    if p == -math.inf:
        return t.fold(t.minimum, a, dim)
    return t.pow(t.sum(t.pow(a, p), dim), 1 / p)


def ref_pairwise(t: Tally, x1: Tensor, x2: Tensor, p: float, eps: float, keepdim: bool) -> Tensor:
    out = ref_norm(t, t.add(t.sub(x1, x2), eps), p, -1)
    return out.unsqueeze(-1) if keepdim else out


def ref_cosine(t: Tally, x1: Tensor, x2: Tensor, dim: int, eps: float) -> Tensor:
    x1, x2 = torch.broadcast_tensors(x1, x2)
    dot = t.sum(t.mul(x1, x2), dim)
    n1 = t.maximum(t.sqrt(t.sum(t.mul(x1, x1), dim)), eps)
    n2 = t.maximum(t.sqrt(t.sum(t.mul(x2, x2), dim)), eps)
    return t.div(dot, t.mul(n1, n2))


P_VALUES = st.sampled_from([2.0, 1.0, 0.0, 3.0, 1.5, math.inf])


@given(shape=shapes, p=P_VALUES, keepdim=st.booleans(), broadcast=st.booleans())
def test_pairwise_distance(shape: list[int], p: float, keepdim: bool, broadcast: bool) -> None:
    x1 = randn(*shape)
    x2 = randn(*([1, *shape[1:]] if broadcast else shape))
    eps = 1e-6
    t = Tally()
    expected = ref_pairwise(t, x1, x2, p, eps, keepdim)
    check(
        nn.PairwiseDistance, None, (x1, x2), {"p": p, "eps": eps, "keepdim": keepdim}, expected, t
    )
    for fn in (F.pairwise_distance, torch.pairwise_distance):
        assert operator_count(fn, x1, x2, p, eps, keepdim) == t.count


@given(shape=shapes, data=st.data(), broadcast=st.booleans())
def test_cosine_similarity(shape: list[int], data: Any, broadcast: bool) -> None:
    dim = data.draw(st.integers(min_value=-len(shape), max_value=len(shape) - 1), label="dim")
    x1 = randn(*shape)
    x2 = randn(*([1, *shape[1:]] if broadcast and len(shape) > 1 else shape))
    t = Tally()
    expected = ref_cosine(t, x1, x2, dim, 1e-8)
    check(nn.CosineSimilarity, None, (x1, x2), {"dim": dim}, expected, t)
    for fn in (F.cosine_similarity, torch.cosine_similarity):
        assert operator_count(fn, x1, x2, dim) == t.count


@given(
    batch=st.sampled_from([(), (2,), (2, 1)]),
    points=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    m=st.integers(min_value=1, max_value=4),
    p=P_VALUES,
)
def test_cdist_and_pdist(batch: tuple[int, ...], points: tuple[int, int], m: int, p: float) -> None:
    x1, x2 = randn(*batch, points[0], m), randn(*batch[:1], points[1], m)
    t = Tally()
    expected = ref_norm(t, t.sub(x1.unsqueeze(-2), x2.unsqueeze(-3)), p, -1)
    torch.testing.assert_close(expected, torch.cdist(x1, x2, p))
    assert operator_count(torch.cdist, x1, x2, p) == t.count
    x = randn(points[0], m)
    i, j = torch.triu_indices(points[0], points[0], 1)
    t = Tally()
    expected = ref_norm(t, t.sub(x[i], x[j]), p, -1)
    torch.testing.assert_close(expected, F.pdist(x, p))
    assert operator_count(F.pdist, x, p) == t.count


def ref_cosine_embedding(
    t: Tally, x1: Tensor, x2: Tensor, y: Tensor, margin: float, reduction: str
) -> Tensor:
    cos = ref_cosine(t, x1, x2, -1, 1e-8)
    positive = t.sub(1.0, cos)
    negative = t.maximum(t.sub(cos, margin), 0.0)
    return reduce(t, where(t.binary(torch.eq, y, 1.0), positive, negative), reduction)


def ref_triplet(
    t: Tally,
    a: Tensor,
    pos: Tensor,
    neg: Tensor,
    distance: Callable[[Tensor, Tensor], Tensor],
    margin: float,
    swap: bool,
    reduction: str,
) -> Tensor:
    d_pos, d_neg = distance(a, pos), distance(a, neg)
    if swap:
        d_neg = t.minimum(d_neg, distance(pos, neg))
    return reduce(t, t.maximum(t.sub(t.add(margin, d_pos), d_neg), 0.0), reduction)


triplet_shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.booleans())


@given(spec=triplet_shapes, reduction=REDUCTIONS, margin=st.sampled_from([0.0, 0.5, 2.0]))
def test_cosine_embedding(spec: tuple[int, int, bool], reduction: str, margin: float) -> None:
    n, d, unbatched = spec
    x1, x2 = (randn(d), randn(d)) if unbatched else (randn(n, d), randn(n, d))
    # keep norms away from 0, where torch's epsilon (added to squared norms) and the
    # reference's clamp (on norms) give values ~1e-5 apart; the count is the same
    x1, x2 = (v + 0.1 * torch.where(v < 0, -1.0, 1.0).to(v.dtype) for v in (x1, x2))
    y = torch.randint(0, 2, () if unbatched else (n,)).to(D64) * 2 - 1
    t = Tally()
    expected = ref_cosine_embedding(t, x1, x2, y, margin, reduction)
    kw = {"margin": margin, "reduction": reduction}
    check(nn.CosineEmbeddingLoss, F.cosine_embedding_loss, (x1, x2, y), kw, expected, t)


@given(spec=triplet_shapes, reduction=REDUCTIONS, p=P_VALUES, swap=st.booleans())
def test_triplet_margin(spec: tuple[int, int, bool], reduction: str, p: float, swap: bool) -> None:
    n, d, unbatched = spec
    a, pos, neg = (randn(d) if unbatched else randn(n, d) for _ in range(3))
    t = Tally()
    expected = ref_triplet(
        t, a, pos, neg, lambda u, v: ref_pairwise(t, u, v, p, 1e-6, False), 1.0, swap, reduction
    )
    kw = {"p": p, "swap": swap, "reduction": reduction}
    check(nn.TripletMarginLoss, F.triplet_margin_loss, (a, pos, neg), kw, expected, t)


@given(
    spec=triplet_shapes,
    reduction=REDUCTIONS,
    swap=st.booleans(),
    which=st.sampled_from(["default", "pairwise_fn", "pairwise_p1", "cosine_module"]),
)
def test_triplet_with_distance(
    spec: tuple[int, int, bool], reduction: str, swap: bool, which: str
) -> None:
    n, d, unbatched = spec
    if which == "cosine_module" and unbatched:
        unbatched = False
    a, pos, neg = (randn(d) if unbatched else randn(n, d) for _ in range(3))
    t = Tally()
    function: Any
    if which == "default":
        function = None
        dist = lambda u, v: ref_pairwise(t, u, v, 2.0, 1e-6, False)  # noqa: E731
    elif which == "pairwise_fn":
        function = F.pairwise_distance
        dist = lambda u, v: ref_pairwise(t, u, v, 2.0, 1e-6, False)  # noqa: E731
    elif which == "pairwise_p1":
        function = nn.PairwiseDistance(p=1.0)
        dist = lambda u, v: ref_pairwise(t, u, v, 1.0, 1e-6, False)  # noqa: E731
    else:
        function = nn.CosineSimilarity(dim=1)
        dist = lambda u, v: ref_cosine(t, u, v, 1, 1e-8)  # noqa: E731
    expected = ref_triplet(t, a, pos, neg, dist, 1.0, swap, reduction)
    kw = {"distance_function": function, "swap": swap, "reduction": reduction}
    check(
        nn.TripletMarginWithDistanceLoss,
        F.triplet_margin_with_distance_loss,
        (a, pos, neg),
        kw,
        expected,
        t,
    )


def test_triplet_with_custom_distance_counts_only_the_margin_part() -> None:
    """A custom callable's arithmetic is invisible to the formula: its distances cost 0."""
    n, d = 3, 4

    def custom(u: Tensor, v: Tensor) -> Tensor:
        return 1.0 - F.cosine_similarity(u, v)

    a, pos, neg = randn(n, d), randn(n, d), randn(n, d)
    t = Tally()
    free = lambda u, v: custom(u, v)  # noqa: E731  (uncounted)
    expected = ref_triplet(t, a, pos, neg, free, 1.0, True, "mean")
    kw = {"distance_function": custom, "swap": True, "reduction": "mean"}
    check(
        nn.TripletMarginWithDistanceLoss,
        F.triplet_margin_with_distance_loss,
        (a, pos, neg),
        kw,
        expected,
        t,
    )
    assert t.count == Count(n * (1 + 3) + n)


# -- pinned cases: arithmetic of named dimensions -----------------------------------------
N, D, C, H = 3, 5, 4, 2
n = N * D


def _cls(*shape: int) -> Tensor:
    return torch.randint(0, C, shape)


def _pm1(*shape: int) -> Tensor:
    return torch.randint(0, 2, shape).to(D64) * 2 - 1


def _ctc_inputs() -> tuple[Any, ...]:
    log_probs = randn(6, 2, C).log_softmax(2)
    return log_probs, torch.randint(1, C, (2, 3)), [6, 5], [3, 2]


def _pinned() -> list[tuple[str, nn.Module, Callable[[], tuple[Any, ...]], Count]]:
    m = N * H  # cross-entropy rows of an (N, C, H) input
    x2 = lambda: (randn(N, D), randn(N, D))  # noqa: E731
    probs = lambda: (rand(N, D), rand(N, D))  # noqa: E731
    ce_probs = lambda: (randn(N, C, H), randn(N, C, H).softmax(1))  # noqa: E731
    triple = lambda: (randn(N, D), randn(N, D), randn(N, D))  # noqa: E731
    weight_c = rand(C)
    return [
        ("l1 mean", nn.L1Loss(), x2, Count(2 * n + (n - 1) + 1)),
        ("mse sum", nn.MSELoss(reduction="sum"), x2, Count(2 * n + (n - 1))),
        ("smooth_l1 none", nn.SmoothL1Loss(reduction="none", beta=0.5), x2, Count(7 * n)),
        ("smooth_l1 beta=0 is l1", nn.SmoothL1Loss(beta=0.0), x2, Count(2 * n + n)),
        ("huber mean", nn.HuberLoss(delta=2.0), x2, Count(7 * n + n)),
        ("soft margin sum", nn.SoftMarginLoss(reduction="sum"), x2, Count(5 * n + n - 1)),
        ("bce weighted", nn.BCELoss(weight=rand(N, D)), probs, Count((9 + 1) * n + n)),
        (
            "bce logits pos_weight+weight none",
            nn.BCEWithLogitsLoss(weight=rand(D), pos_weight=rand(D), reduction="none"),
            probs,
            Count(D + (11 + 3 + 1) * n),
        ),
        ("kl batchmean", nn.KLDivLoss(reduction="batchmean"), probs, Count(3 * n + (n - 1) + 1)),
        (
            "poisson full, not log_input, sum",
            nn.PoissonNLLLoss(log_input=False, full=True, reduction="sum"),
            probs,
            Count((4 + 9) * n + n - 1),
        ),
        (
            "gaussian (N, 1) var, full",
            nn.GaussianNLLLoss(full=True),
            lambda: (randn(N, D), randn(N, D), rand(N, 1)),
            Count(2 * N + (5 + 1) * n + n),
        ),
        (
            "margin ranking none",
            nn.MarginRankingLoss(reduction="none"),
            lambda: (randn(N, D), randn(N, D), _pm1(N, D)),
            Count(5 * n),
        ),
        (
            "hinge mean",
            nn.HingeEmbeddingLoss(),
            lambda: (randn(N, D), _pm1(N, D)),
            Count(3 * n + n),
        ),
        (
            "cross entropy indices mean",
            nn.CrossEntropyLoss(),
            lambda: (randn(N, C), _cls(N)),
            Count(N * 3 * C + N + (N - 1) + (N - 1) + 1),
        ),
        (
            "cross entropy probabilities, weight, smoothing, sum",
            nn.CrossEntropyLoss(weight=weight_c, label_smoothing=0.1, reduction="sum"),
            ce_probs,
            Count(m * 3 * C + 2 * m * C + 2 * m * C + m * (C - 1) + m + (m - 1)),
        ),
        (
            "cross entropy indices, weight, smoothing, mean",
            nn.CrossEntropyLoss(weight=weight_c, label_smoothing=0.1),
            lambda: (randn(N, C, H), _cls(N, H)),
            Count(
                m * 3 * C
                + (2 * m + (m - 1) + (m - 1) + 1)  # nll: negate, weight, weighted mean
                + (m * C + m * (C - 1) + m + (m - 1) + (m - 1) + 1)  # smoothing term
                + 3  # (1 − ε)·nll + (ε/C)·smooth
            ),
        ),
        (
            "nll weight none",
            nn.NLLLoss(weight=weight_c, reduction="none"),
            lambda: (randn(N, C), _cls(N)),
            Count(2 * N),
        ),
        (
            "multi margin p=2 weight mean",
            nn.MultiMarginLoss(p=2, weight=weight_c),
            lambda: (randn(N, C), _cls(N)),
            Count(N * ((C - 1) * (3 + 1 + 1) + (C - 2) + 1) + N),
        ),
        (
            "multilabel margin sum",
            nn.MultiLabelMarginLoss(reduction="sum"),
            lambda: (randn(N, C), torch.tensor([[0, -1, 0, 0]] * N)),
            Count(N * 4 * C * C + N - 1),
        ),
        (
            "multilabel soft margin weight none",
            nn.MultiLabelSoftMarginLoss(weight=rand(D), reduction="none"),
            lambda: (randn(N, D), randn(N, D)),
            Count((16 + 1) * n + N * ((D - 1) + 1)),
        ),
        (
            "ctc mean, T=6, lengths [6, 5], labels [3, 2]",
            nn.CTCLoss(),
            _ctc_inputs,
            Count((6 - 1) * (12 * 3 - 1) + 5 + (5 - 1) * (12 * 2 - 1) + 5 + 2 + (2 - 1) + 1),
        ),
        (
            "pairwise p=1",
            nn.PairwiseDistance(p=1.0),
            x2,
            Count(N * (2 * D + 2 * D - 1)),
        ),
        ("pairwise p=3", nn.PairwiseDistance(p=3.0), x2, Count(N * (2 * D + 3 * D))),
        ("cosine similarity", nn.CosineSimilarity(dim=1), x2, Count(N * (6 * D + 3))),
        (
            "cosine embedding sum",
            nn.CosineEmbeddingLoss(reduction="sum"),
            lambda: (randn(N, D), randn(N, D), _pm1(N)),
            Count(N * (6 * D + 3 + 4) + N - 1),
        ),
        (
            "triplet p=2 swap none",
            nn.TripletMarginLoss(swap=True, reduction="none"),
            triple,
            Count(N * (3 * 4 * D + 1 + 3)),
        ),
        (
            "triplet with default distance mean",
            nn.TripletMarginWithDistanceLoss(),
            triple,
            Count(N * (2 * 4 * D + 3) + N),
        ),
    ] + (
        [
            (
                "linear cross entropy, bias, mean",
                nn.LinearCrossEntropyLoss(D, C, bias=True, dtype=D64),
                lambda: (randn(N, D), _cls(N)),
                Count(N * C * 2 * D + N * 3 * C + N + (N - 1) + (N - 1) + 1, N * C * D),
            )
        ]
        if HAS_LINEAR_CROSS_ENTROPY
        else []
    )


PINNED = _pinned()


@pytest.mark.parametrize(("name", "module", "make", "expected"), PINNED, ids=[c[0] for c in PINNED])
def test_pinned(
    name: str, module: nn.Module, make: Callable[[], tuple[Any, ...]], expected: Count
) -> None:
    assert module_count(module, *make()) == expected


def test_pinned_operators() -> None:
    B, P, R, M = 2, 3, 4, 5  # noqa: N806 - named dimensions
    assert operator_count(torch.cdist, randn(B, P, M), randn(B, R, M)) == Count(
        B * P * R * (M + 2 * M)
    )
    x = randn(P, M)
    assert operator_count(F.pdist, x, math.inf) == Count(P * (P - 1) // 2 * (M + 2 * M - 1))
    y = randn(P, M)
    assert operator_count(F.mse_loss, x, y, weight=rand(P, M)) == Count(
        3 * P * M + (P * M - 1) + (P * M - 1) + 1  # weighted mean: Σ w·e / Σ w
    )
    assert operator_count(F.huber_loss, x, y, reduction="sum", weight=rand(P, M)) == Count(
        8 * P * M + P * M - 1
    )


@pytest.mark.parametrize(("name", "module", "make", "expected"), PINNED, ids=[c[0] for c in PINNED])
def test_meta_device_gives_the_same_count(
    name: str, module: nn.Module, make: Callable[[], tuple[Any, ...]], expected: Count
) -> None:
    inputs = make()
    meta_module = copy.deepcopy(module).to("meta")
    meta_inputs = [v.to("meta") if isinstance(v, Tensor) else v for v in inputs]
    try:
        got = module_count(meta_module, *meta_inputs)
    except (NotImplementedError, RuntimeError) as error:  # torch cannot run it on meta
        if isinstance(error, flopcount.FlopcountError):
            raise
        got = formula_on_meta(meta_module, meta_inputs)
    assert got == module_count(module, *inputs) == expected


# -- pitfalls -------------------------------------------------------------------------------
def test_value_branches_do_not_change_the_count() -> None:
    x = randn(N, D)
    small, large = x + 0.01 * randn(N, D), x + 100.0
    assert module_count(nn.SmoothL1Loss(), x, small) == module_count(nn.SmoothL1Loss(), x, large)
    assert module_count(nn.HuberLoss(), x, small) == module_count(nn.HuberLoss(), x, large)
    ones, minus = torch.ones(N, D, dtype=D64), -torch.ones(N, D, dtype=D64)
    hinge = nn.HingeEmbeddingLoss()
    assert module_count(hinge, x, ones) == module_count(hinge, x, minus)
    none = torch.full((N, C), -1)
    every = torch.arange(C).repeat(N, 1)
    mlm = nn.MultiLabelMarginLoss()
    assert module_count(mlm, randn(N, C), none) == module_count(mlm, randn(N, C), every)
    ce = nn.CrossEntropyLoss(ignore_index=1)
    assert module_count(ce, randn(N, C), torch.ones(N, dtype=torch.long)) == module_count(
        ce, randn(N, C), torch.zeros(N, dtype=torch.long)
    )
    ctc = nn.CTCLoss()
    lp = randn(5, 1, C).log_softmax(2)
    repeated, distinct = torch.tensor([[1, 1, 1]]), torch.tensor([[1, 2, 3]])
    assert module_count(ctc, lp, repeated, [5], [3]) == module_count(ctc, lp, distinct, [5], [3])


def test_reductions_cost_n_minus_one_adds_and_one_divide() -> None:
    x, y = randn(N, D), randn(N, D)
    none = module_count(nn.L1Loss(reduction="none"), x, y)
    assert module_count(nn.L1Loss(reduction="sum"), x, y) == Count(none.ops + n - 1)
    assert module_count(nn.L1Loss(reduction="mean"), x, y) == Count(none.ops + n - 1 + 1)


def test_legacy_size_average_and_reduce_arguments() -> None:
    x, y = randn(N, D), randn(N, D)
    summed = module_count(nn.L1Loss(reduction="sum"), x, y)
    with pytest.warns(UserWarning):
        assert operator_count(F.l1_loss, x, y, size_average=False) == summed
    with pytest.warns(UserWarning):
        assert operator_count(F.kl_div, x, y, reduce=False) == Count(3 * n)


def test_l1_weight_is_dropped_by_torch_under_a_function_mode() -> None:
    """torch's F.l1_loss forgets ``weight`` when it dispatches to a TorchFunctionMode, so what
    runs (and what is counted) is the unweighted loss."""
    x, y, w = randn(N, D), randn(N, D), rand(N, D)
    assert operator_count(F.l1_loss, x, y, weight=w) == module_count(nn.L1Loss(), x, y)


@pytest.mark.parametrize(
    ("module", "inputs"),
    [
        (nn.L1Loss(), (randn(0, D), randn(0, D))),
        (nn.BCEWithLogitsLoss(pos_weight=rand(D)), (randn(0, D), rand(0, D))),
        (nn.CrossEntropyLoss(reduction="sum"), (randn(0, C), _cls(0))),
        (nn.NLLLoss(reduction="sum"), (randn(0, C), _cls(0))),
        (nn.MultiMarginLoss(reduction="sum"), (randn(0, C), _cls(0))),
        (nn.PairwiseDistance(), (randn(0, D), randn(0, D))),
        (nn.CosineSimilarity(), (randn(0, D), randn(0, D))),
        (nn.TripletMarginLoss(reduction="sum"), (randn(0, D), randn(0, D), randn(0, D))),
        (nn.KLDivLoss(reduction="sum"), (randn(N, 0), rand(N, 0))),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_zero_size_inputs_cost_nothing(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
    assert module_count(module, *inputs) == Count(0)
