"""Reductions, norms and scans: ``R · f(N)`` ops for R outputs of N-element groups."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

import flopcount
from flopcount.formulas.primitives import PRICES
from tests.tally import Tally, operator_count

Step = Callable[[Tensor, Tensor], Tensor]


def reduce(
    t: Tally, x: Tensor, dims: list[int] | None, step: Step, keepdim: bool = False
) -> Tensor:
    """Fold ``dims`` (all when None) one at a time with a counted binary ``step``."""
    if x.dim() == 0:
        return x.clone()
    if dims is None:
        out = t.fold(step, x.reshape(-1), 0)
        return out.reshape([1] * x.dim()) if keepdim else out
    for d in sorted({d % x.dim() for d in dims}, reverse=True):
        x = t.fold(step, x, d)
        if keepdim:
            x = x.unsqueeze(d)
    return x


def group_size(x: Tensor, dims: list[int] | None) -> int:
    if dims is None or x.dim() == 0:
        return x.numel()
    return math.prod(x.shape[d % x.dim()] for d in set(d % x.dim() for d in dims))


def ref_sum(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    return reduce(t, x, dims, t.add, keep)


def ref_mean(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    return t.div(ref_sum(t, x, dims, keep), group_size(x, dims))


def ref_var(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    """Two passes: the mean, then the mean square deviation (divisor N − 1)."""
    centred = t.sub(x, ref_mean(t, x, dims, True))
    return t.div(ref_sum(t, t.mul(centred, centred), dims, keep), group_size(x, dims) - 1)


def ref_std(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    return t.sqrt(ref_var(t, x, dims, keep))


def ref_logsumexp(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    return t.log(ref_sum(t, t.exp(x), dims, keep))


def ref_count_nonzero(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
    return ref_sum(t, t.binary(torch.ne, x, 0).long(), dims, keep)


def ref_fold(step_name: str) -> Callable[..., Tensor]:
    def ref(t: Tally, x: Tensor, dims: list[int] | None, keep: bool) -> Tensor:
        return reduce(t, x, dims, getattr(t, step_name), keep)

    return ref


def dim_kwargs(dims: list[int] | None, keep: bool, single: bool) -> dict[str, Any]:
    if dims is None:
        return {}
    return {"dim": dims[0] if single else tuple(dims), "keepdim": keep}


# name -> (torch function, reference, only one int dim, compare output)
REDUCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Tensor], bool]] = {
    "sum": (torch.sum, ref_sum, False),
    "mean": (torch.mean, ref_mean, False),
    "prod": (torch.prod, ref_fold("mul"), True),
    "amax": (torch.amax, ref_fold("maximum"), False),
    "amin": (torch.amin, ref_fold("minimum"), False),
    "var": (torch.var, ref_var, False),
    "std": (torch.std, ref_std, False),
    "logsumexp": (torch.logsumexp, ref_logsumexp, False),
}


@st.composite
def shape_and_dims(draw: Callable[..., Any], single: bool = False) -> Any:
    shape = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3))
    ndim = len(shape)
    if single:
        dims = [draw(st.integers(min_value=-ndim, max_value=ndim - 1))]
    else:
        chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        dims = [d - ndim if draw(st.booleans()) else d for d in chosen]
    return shape, (None if draw(st.integers(0, 4)) == 0 else dims), draw(st.booleans())


@given(name=st.sampled_from(sorted(REDUCTIONS)), case=shape_and_dims(), method=st.booleans())
def test_reductions_match_fold_references(name: str, case: Any, method: bool) -> None:
    shape, dims, keep = case
    fn, ref, single = REDUCTIONS[name]
    if single and dims is not None:
        dims = dims[:1]
    x = torch.rand(shape) + 0.5
    if name == "logsumexp" and dims is None:
        dims = list(range(len(shape)))  # logsumexp needs a dim
    kwargs = dim_kwargs(dims, keep, single)
    tally = Tally()
    expected = ref(tally, x, dims, keep and dims is not None)
    torch.testing.assert_close(fn(x, **kwargs), expected, equal_nan=True, check_dtype=False)
    call = getattr(Tensor, name) if method else fn
    assert operator_count(lambda x: call(x, **kwargs), x) == tally.count
    assert operator_count(lambda x: call(x, **kwargs), x.to("meta")) == tally.count


@given(case=shape_and_dims(single=True), which=st.sampled_from(["max", "min", "argmax", "aminmax"]))
def test_max_min_argmax_with_dim(case: Any, which: str) -> None:
    shape, dims, keep = case
    x = torch.rand(shape)
    tally = Tally()
    if which == "aminmax":
        low = reduce(tally, x, dims, tally.minimum, keep and dims is not None)
        high = reduce(tally, x, dims, tally.maximum, keep and dims is not None)
        result = torch.aminmax(x, **dim_kwargs(dims, keep, True))
        torch.testing.assert_close((result.min, result.max), (low, high))
        fn: Callable[..., Any] = torch.aminmax
    else:
        step = tally.minimum if which == "min" else tally.maximum
        expected = reduce(tally, x, dims, step, keep and dims is not None)
        fn = getattr(torch, which)
        result = fn(x, **dim_kwargs(dims, keep, True))
        values = result if dims is None or which not in ("max", "min") else result.values
        if which == "argmax":  # the fold found the maximum that argmax points at
            values = torch.amax(x, **({} if dims is None else {"dim": dims, "keepdim": keep}))
        torch.testing.assert_close(values, expected)
    kwargs = dim_kwargs(dims, keep, True)
    assert operator_count(lambda x: fn(x, **kwargs), x) == tally.count
    if which in ("max", "min"):
        method = getattr(Tensor, which)
        assert operator_count(lambda x: method(x, **kwargs), x.to("meta")) == tally.count


@given(case=shape_and_dims(), which=st.sampled_from(["all", "any", "count_nonzero"]))
def test_logical_reductions_and_count_nonzero(case: Any, which: str) -> None:
    shape, dims, keep = case
    x = (torch.rand(shape) > 0.5).float()
    tally = Tally()
    if which == "count_nonzero":
        expected = ref_count_nonzero(tally, x, dims, False)
        kwargs: dict[str, Any] = {} if dims is None else {"dim": tuple(dims)}
    else:
        step = torch.logical_and if which == "all" else torch.logical_or
        expected = reduce(
            tally, x.bool(), dims, lambda a, b: tally.binary(step, a, b), keep and dims is not None
        )
        kwargs = dim_kwargs(dims, keep, False)
    fn = getattr(torch, which)
    torch.testing.assert_close(fn(x, **kwargs), expected, check_dtype=False)
    assert operator_count(lambda x: fn(x, **kwargs), x) == tally.count


@given(case=shape_and_dims(), unbiased=st.booleans())
def test_var_mean_and_std_mean_count_the_variance_once(case: Any, unbiased: bool) -> None:
    shape, dims, keep = case
    x = torch.rand(shape) + 0.5
    kwargs: dict[str, Any] = {} if dims is None else {"dim": tuple(dims), "keepdim": keep}
    keep = keep and dims is not None
    for fn, last in ((torch.var_mean, None), (torch.std_mean, torch.sqrt)):
        tally = Tally()
        mean = ref_mean(tally, x, dims, True)
        centred = tally.sub(x, mean)
        n = group_size(x, dims)
        var = tally.div(ref_sum(tally, tally.mul(centred, centred), dims, keep), n - unbiased)
        result = fn(x, correction=int(unbiased), **kwargs)
        spread = var if last is None else tally.sqrt(var)
        torch.testing.assert_close(result[0], spread, equal_nan=True)
        call = functools.partial(fn, correction=int(unbiased), **kwargs)
        count = operator_count(call, x)
        assert count == tally.count


# -- norms ----------------------------------------------------------------------------------
def ref_vector_norm(t: Tally, x: Tensor, p: float, dims: list[int] | None) -> Tensor:
    if p == 2:
        return t.sqrt(reduce(t, t.mul(x, x), dims, t.add))
    if p == 0:
        return reduce(t, t.binary(torch.ne, x, 0).to(x.dtype), dims, t.add)
    magnitude = t.unary(torch.abs, x)
    if p == math.inf:
        return reduce(t, magnitude, dims, t.maximum)
    if p == -math.inf:
        return reduce(t, magnitude, dims, t.minimum)
    if p == 1:
        return reduce(t, magnitude, dims, t.add)
    return t.pow(reduce(t, t.pow(magnitude, p), dims, t.add), 1 / p)


@given(case=shape_and_dims(), p=st.sampled_from([2, 1, 0, 3, 0.5, -1, math.inf, -math.inf]))
def test_vector_norms_in_every_spelling(case: Any, p: float) -> None:
    shape, dims, _ = case
    x = torch.randn(shape)
    tally = Tally()
    expected = ref_vector_norm(tally, x, p, dims)
    dim = None if dims is None else tuple(dims)
    torch.testing.assert_close(torch.linalg.vector_norm(x, p, dim), expected)
    assert operator_count(lambda x: torch.linalg.vector_norm(x, p, dim), x) == tally.count
    assert operator_count(lambda x: torch.norm(x, p, dim), x) == tally.count
    assert operator_count(lambda x: x.norm(p=p, dim=dim), x.to("meta")) == tally.count
    if dim is None or len(dim) == 1:
        assert (
            operator_count(
                lambda x: torch.linalg.norm(x.reshape(-1) if dim is None else x, p, dim), x
            )
            == tally.count
        )


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    ord=st.sampled_from([1, -1, math.inf, -math.inf, "fro"]),
)
def test_matrix_norms(shape: list[int], ord: Any) -> None:
    x = torch.randn(shape)
    tally = Tally()
    if ord == "fro":
        expected = ref_vector_norm(tally, x, 2, [-2, -1])
    else:
        summed = -2 if ord in (1, -1) else -1  # column sums for ±1, row sums for ±inf
        sums = reduce(tally, tally.unary(torch.abs, x), [summed], tally.add)
        step = tally.maximum if ord > 0 else tally.minimum
        expected = reduce(tally, sums, [-1], step)  # the other matrix dim is now the last
    torch.testing.assert_close(torch.linalg.matrix_norm(x, ord), expected)
    assert operator_count(lambda x: torch.linalg.matrix_norm(x, ord), x) == tally.count
    assert operator_count(lambda x: torch.linalg.norm(x, ord, (-2, -1)), x) == tally.count
    if x.dim() == 2:
        assert operator_count(lambda x: torch.linalg.norm(x, ord), x.to("meta")) == tally.count


def test_spectral_and_nuclear_norms_are_refused_not_guessed() -> None:
    x = torch.randn(3, 3)
    for fn in (lambda x: torch.linalg.matrix_norm(x, 2), lambda x: torch.norm(x, "nuc")):
        with pytest.raises(flopcount.FormulaError, match="singular value"):
            operator_count(fn, x)


# -- scans ----------------------------------------------------------------------------------
def ref_scan(t: Tally, x: Tensor, dim: int, step: Step) -> Tensor:
    pieces = x.unbind(dim)
    out = [pieces[0]]
    for piece in pieces[1:]:
        out.append(step(out[-1], piece))
    return torch.stack(out, dim)


@given(
    case=shape_and_dims(single=True),
    which=st.sampled_from(["cumsum", "cumprod", "cummax", "logcumsumexp"]),
)
def test_scans(case: Any, which: str) -> None:
    shape, dims, _ = case
    dim = 0 if dims is None else dims[0]
    x = torch.rand(shape) + 0.5
    tally = Tally()
    if which == "logcumsumexp":
        expected = tally.log(ref_scan(tally, tally.exp(x), dim, tally.add))
    else:
        step = {"cumsum": tally.add, "cumprod": tally.mul, "cummax": tally.maximum}[which]
        expected = ref_scan(tally, x, dim, step)
    result = getattr(torch, which)(x, dim)
    torch.testing.assert_close(result[0] if which == "cummax" else result, expected)
    assert operator_count(lambda x: getattr(x, which)(dim), x) == tally.count
    if which in ("cumsum", "cumprod"):
        assert (
            operator_count(lambda x: getattr(x.clone(), which + "_")(dim), x.to("meta"))
            == tally.count
        )


@given(
    case=shape_and_dims(single=True),
    n=st.integers(1, 5),
    pre=st.integers(0, 2),
    post=st.integers(0, 2),
)
def test_diff_with_prepend_and_append(case: Any, n: int, pre: int, post: int) -> None:
    shape, dims, _ = case
    dim = -1 if dims is None else dims[0]
    x = torch.rand(shape)
    extra_shape = list(shape)
    extra_shape[dim] = pre
    before = torch.rand(extra_shape)
    extra_shape[dim] = post
    after = torch.rand(extra_shape)
    tally = Tally()
    y = torch.cat([before, x, after], dim)
    for _ in range(n):
        if y.shape[dim] == 0:
            break
        length = y.shape[dim]
        y = tally.sub(y.narrow(dim, 1, length - 1), y.narrow(dim, 0, length - 1))
    kwargs = {"n": n, "dim": dim, "prepend": before, "append": after}
    torch.testing.assert_close(torch.diff(x, **kwargs), y)
    assert operator_count(lambda x: torch.diff(x, **kwargs), x) == tally.count
    assert operator_count(lambda x: x.diff(**kwargs), x) == tally.count


# -- edges and pinned cases -------------------------------------------------------------------
ZERO = flopcount.Count(0, 0)


@pytest.mark.parametrize(
    ("fn", "shape"),
    [
        (lambda x: x.sum(0), (0, 3)),
        (lambda x: x.sum(1), (0, 3)),
        (lambda x: x.sum(0), (3, 0)),
        (lambda x: x.mean(), (3, 0)),
        (lambda x: x.var(1), (0, 3)),
        (lambda x: x.max(1), (0, 3)),
        (lambda x: x.amax(0), (3, 0)),
        (lambda x: torch.logsumexp(x, 0), (0, 3)),
        (lambda x: x.norm(), (0, 3)),
        (lambda x: x.cumsum(0), (3, 0)),
        (lambda x: x.all(), (0, 3)),
        (lambda x: torch.diff(x, dim=0), (0, 3)),
        (lambda x: torch.diff(x, dim=1), (0, 3)),
    ],
)
def test_zero_size_inputs_cost_nothing(fn: Callable[..., Any], shape: tuple[int, ...]) -> None:
    assert operator_count(fn, torch.rand(shape)) == ZERO


def test_zero_dim_inputs() -> None:
    x = torch.tensor(2.0)
    assert operator_count(lambda x: x.sum(), x) == ZERO  # one element: nothing to add
    assert operator_count(lambda x: x.sum(0), x) == ZERO
    assert operator_count(lambda x: x.mean(-1), x) == flopcount.Count(1, 0)  # the divide by 1
    assert operator_count(lambda x: x.max(0), x) == ZERO
    assert operator_count(lambda x: x.cumsum(0), x) == ZERO


def test_pinned_counts_in_named_dimensions() -> None:
    B, L, N = 2, 3, 5  # noqa: N806
    x = torch.rand(B, L, N) + 0.5
    assert operator_count(lambda x: x.sum(-1), x).ops == B * L * (N - 1)
    assert operator_count(lambda x: x.mean((0, 2), keepdim=True), x).ops == L * (B * N - 1 + 1)
    assert operator_count(lambda x: x.var(-1), x).ops == B * L * 4 * N
    assert operator_count(lambda x: x.std(1), x).ops == B * N * (4 * L + 1)
    assert operator_count(lambda x: torch.logsumexp(x, -1), x).ops == B * L * (N + (N - 1) + 1)
    assert operator_count(lambda x: x.max(-1), x).ops == B * L * (N - 1)
    assert operator_count(lambda x: x.argmax(), x).ops == B * L * N - 1
    assert operator_count(lambda x: x.norm(dim=-1), x).ops == B * L * 2 * N
    assert operator_count(lambda x: x.norm(p=3, dim=-1), x).ops == B * L * 3 * N
    assert operator_count(lambda x: x.cumsum(-1), x).ops == B * L * (N - 1)
    assert operator_count(lambda x: torch.diff(x, n=2), x).ops == B * L * ((N - 1) + (N - 2))
    assert operator_count(lambda x: torch.count_nonzero(x), x).ops == 2 * B * L * N - 1
    m = torch.rand(L, N)
    assert operator_count(lambda m: torch.linalg.matrix_norm(m, 1), m).ops == (
        L * N + (L - 1) * N + (N - 1)
    )
    for fn in (lambda x: x.sum(-1), lambda x: x.norm(dim=-1)):
        assert operator_count(fn, x).macs == 0


# -- histc: tokens per expert in mixture-of-experts routing ---------------------------------
def ref_histc(t: Tally, x: Tensor, bins: int, low: float, high: float) -> Tensor:
    """The value-independent algorithm priced: the range (when not given), then per element
    two compares with its ends, a subtract, a multiply by bins / (high − low), a floor and
    one add to a count (0 for an element out of range, so the work never depends on values)."""
    flat = x.flatten()
    if low == high:
        low, high = float(t.fold(t.minimum, flat, 0)), float(t.fold(t.maximum, flat, 0))
        if low == high:  # torch widens an empty range by one on each side
            low, high = low - 1, high + 1
    lo, hi = torch.tensor(low, dtype=x.dtype), torch.tensor(high, dtype=x.dtype)
    inside = t.binary(torch.ge, flat, lo) & t.binary(torch.le, flat, hi)  # & selects: free
    scaled = t.mul(t.sub(flat, lo), bins / (high - low))
    index = t.unary(torch.floor, scaled, PRICES["round"]).long().clamp(0, bins - 1)
    counts = torch.zeros(bins, dtype=x.dtype).index_add_(0, index, inside.to(x.dtype))
    t.ops += PRICES["add"] * flat.numel()  # the counting adds, as index_add_ just did them
    return counts


@given(n=st.integers(1, 12), bins=st.integers(1, 5), given_range=st.booleans())
def test_histc_matches_its_binning_algorithm(n: int, bins: int, given_range: bool) -> None:
    x = torch.randn(n, dtype=torch.float64)
    low, high = (-1.0, 1.0) if given_range else (0.0, 0.0)
    t = Tally()
    expected = ref_histc(t, x, bins, low, high)
    torch.testing.assert_close(torch.histc(x, bins, low, high), expected.to(x.dtype))
    assert operator_count(torch.histc, x, bins, low, high) == t.count
    assert operator_count(lambda v: v.histc(bins, low, high), x) == t.count
