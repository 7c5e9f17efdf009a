"""Elementwise operator formulas: ``c · numel(broadcast output)`` ops, no MACs."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import flopcount
from tests.tally import Tally, operator_count

Ref = Callable[[Tally, Tensor, Tensor], Tensor]


def unit(shape: tuple[int, ...] | list[int], low: float = 0.1, high: float = 0.9) -> Tensor:
    """Values inside every function's domain (log, acos, atanh...) and away from zero."""
    return torch.rand(shape) * (high - low) + low


def prim(fn: Callable[..., Tensor]) -> Ref:
    """Reference of a library primitive: one counted call of it."""
    return lambda t, a, b: t.unary(fn, a)


def nan_to_num(t: Tally, x: Tensor) -> Tensor:
    """Three tests per element; the replacements are selects (free)."""
    nan = t.binary(torch.ne, x, x)
    pos = t.binary(torch.eq, x, math.inf)
    neg = t.binary(torch.eq, x, -math.inf)
    big = torch.finfo(x.dtype).max
    return torch.where(nan, 0.0, torch.where(pos, big, torch.where(neg, -big, x)))


# name -> (call under test, op-by-op reference, second operand is used)
UNARY: dict[str, tuple[Callable[..., Any], Ref]] = {
    "neg": (torch.neg, prim(torch.neg)),
    "abs": (torch.abs, prim(torch.abs)),
    "sign": (torch.sign, prim(torch.sign)),
    "reciprocal": (torch.reciprocal, lambda t, a, b: t.div(1, a)),
    "square": (torch.square, lambda t, a, b: t.mul(a, a)),
    "exp": (torch.exp, lambda t, a, b: t.exp(a)),
    "exp2": (torch.exp2, prim(torch.exp2)),
    "log": (torch.log, lambda t, a, b: t.log(a)),
    "log2": (torch.log2, prim(torch.log2)),
    "log10": (torch.log10, prim(torch.log10)),
    "sqrt": (torch.sqrt, lambda t, a, b: t.sqrt(a)),
    "sin": (torch.sin, prim(torch.sin)),
    "cos": (torch.cos, prim(torch.cos)),
    "tan": (torch.tan, prim(torch.tan)),
    "asin": (torch.asin, prim(torch.asin)),
    "acos": (torch.acos, prim(torch.acos)),
    "atan": (torch.atan, prim(torch.atan)),
    "erf": (torch.erf, prim(torch.erf)),
    "erfinv": (torch.erfinv, prim(torch.erfinv)),
    "floor": (torch.floor, prim(torch.floor)),
    "ceil": (torch.ceil, prim(torch.ceil)),
    "round": (torch.round, prim(torch.round)),
    "trunc": (torch.trunc, prim(torch.trunc)),
    "isnan": (torch.isnan, lambda t, a, b: t.binary(torch.ne, a, a)),
    "isinf": (torch.isinf, prim(torch.isinf)),
    "isfinite": (torch.isfinite, prim(torch.isfinite)),
    "expm1": (torch.expm1, lambda t, a, b: t.sub(t.exp(a), 1)),
    "log1p": (torch.log1p, lambda t, a, b: t.log(t.add(1, a))),
    "erfc": (torch.erfc, lambda t, a, b: t.sub(1, t.unary(torch.erf, a))),
    "rsqrt": (torch.rsqrt, lambda t, a, b: t.div(1, t.sqrt(a))),
    "frac": (torch.frac, lambda t, a, b: t.sub(a, t.unary(torch.trunc, a))),
    "sinh": (
        torch.sinh,
        lambda t, a, b: t.div(t.sub(t.exp(a), t.exp(t.unary(torch.neg, a))), 2),
    ),
    "cosh": (
        torch.cosh,
        lambda t, a, b: t.div(t.add(t.exp(a), t.exp(t.unary(torch.neg, a))), 2),
    ),
    "asinh": (
        torch.asinh,
        lambda t, a, b: t.log(t.add(a, t.sqrt(t.add(t.mul(a, a), 1)))),
    ),
    "acosh": (
        torch.acosh,
        lambda t, a, b: t.log(t.add(a, t.sqrt(t.sub(t.mul(a, a), 1)))),
    ),
    "atanh": (
        torch.atanh,
        lambda t, a, b: t.mul(0.5, t.log(t.div(t.add(1, a), t.sub(1, a)))),
    ),
    "sinc": (
        torch.sinc,
        lambda t, a, b: (lambda px: t.div(t.unary(torch.sin, px), px))(t.mul(math.pi, a)),
    ),
    "round_decimals": (
        lambda a: torch.round(a, decimals=2),
        lambda t, a, b: t.div(t.unary(torch.round, t.mul(a, 100)), 100),
    ),
    "nan_to_num": (torch.nan_to_num, lambda t, a, b: nan_to_num(t, a)),
    "clamp_both": (lambda a: a.clamp(0.3, 0.6), lambda t, a, b: t.minimum(t.maximum(a, 0.3), 0.6)),
    "clamp_min": (lambda a: torch.clamp(a, min=0.3), lambda t, a, b: t.maximum(a, 0.3)),
    "clip_max": (lambda a: torch.clip(a, max=0.6), lambda t, a, b: t.minimum(a, 0.6)),
    "pow_int": (lambda a: a**3, lambda t, a, b: t.binary(torch.pow, a, 3)),
    "rpow": (lambda a: 2**a, lambda t, a, b: t.binary(torch.pow, 2, a)),
    "rsub": (lambda a: 2 - a, lambda t, a, b: t.sub(2, a)),
    "rdiv": (lambda a: 1 / a, lambda t, a, b: t.div(1, a)),
    "floordiv_scalar": (lambda a: a // 0.3, lambda t, a, b: t.unary(torch.floor, t.div(a, 0.3))),
}

BINARY: dict[str, tuple[Callable[..., Any], Ref]] = {
    "add": (torch.add, lambda t, a, b: t.add(a, b)),
    "add_alpha": (lambda a, b: torch.add(a, b, alpha=2), lambda t, a, b: t.add(a, t.mul(2, b))),
    "sub": (torch.sub, lambda t, a, b: t.sub(a, b)),
    "sub_alpha": (lambda a, b: a.sub(b, alpha=0.5), lambda t, a, b: t.sub(a, t.mul(0.5, b))),
    "rsub": (torch.rsub, lambda t, a, b: t.sub(b, a)),
    "mul": (torch.mul, lambda t, a, b: t.mul(a, b)),
    "div": (torch.div, lambda t, a, b: t.div(a, b)),
    "div_floor": (
        lambda a, b: torch.div(a, b, rounding_mode="floor"),
        lambda t, a, b: t.unary(torch.floor, t.div(a, b)),
    ),
    "floor_divide": (lambda a, b: a // b, lambda t, a, b: t.unary(torch.floor, t.div(a, b))),
    "remainder": (
        lambda a, b: a % b,
        lambda t, a, b: t.sub(a, t.mul(b, t.unary(torch.floor, t.div(a, b)))),
    ),
    "fmod": (
        torch.fmod,
        lambda t, a, b: t.sub(a, t.mul(b, t.unary(torch.trunc, t.div(a, b)))),
    ),
    "pow": (lambda a, b: a**b, lambda t, a, b: t.binary(torch.pow, a, b)),
    "atan2": (torch.atan2, lambda t, a, b: t.binary(torch.atan2, a, b)),
    "maximum": (torch.maximum, lambda t, a, b: t.maximum(a, b)),
    "minimum": (torch.minimum, lambda t, a, b: t.minimum(a, b)),
    "fmax": (torch.fmax, lambda t, a, b: t.maximum(a, b)),
    "max_binary": (torch.max, lambda t, a, b: t.maximum(a, b)),
    "min_binary": (lambda a, b: a.min(b), lambda t, a, b: t.minimum(a, b)),
    "hypot": (torch.hypot, lambda t, a, b: t.sqrt(t.add(t.mul(a, a), t.mul(b, b)))),
    "logaddexp": (torch.logaddexp, lambda t, a, b: t.log(t.add(t.exp(a), t.exp(b)))),
    "logaddexp2": (
        torch.logaddexp2,
        lambda t, a, b: t.unary(torch.log2, t.add(t.unary(torch.exp2, a), t.unary(torch.exp2, b))),
    ),
    "xlogy": (torch.xlogy, lambda t, a, b: t.mul(a, t.log(b))),
    "eq": (lambda a, b: a == b, lambda t, a, b: t.binary(torch.eq, a, b)),
    "lt": (lambda a, b: a < b, lambda t, a, b: t.binary(torch.lt, a, b)),
    "ge": (torch.ge, lambda t, a, b: t.binary(torch.ge, a, b)),
    "ne": (lambda a, b: a != b, lambda t, a, b: t.binary(torch.ne, a, b)),
    "lerp": (
        lambda a, b: torch.lerp(a, b, 0.3),
        lambda t, a, b: t.add(a, t.mul(0.3, t.sub(b, a))),
    ),
    "clamp_tensor_bounds": (
        lambda a, b: torch.clamp(a, min=b, max=b),
        lambda t, a, b: t.minimum(t.maximum(a, b), b),
    ),
}


def broadcast_pair(
    draw: Callable[..., Any], allow_empty: bool = False
) -> tuple[list[int], list[int]]:
    """An output shape and a second shape that broadcasts to it (dims dropped or set to 1)."""
    low = 0 if allow_empty else 1
    full = draw(st.lists(st.integers(min_value=low, max_value=4), min_size=0, max_size=3))
    keep = draw(st.integers(min_value=0, max_value=len(full)))
    other = [draw(st.sampled_from([size, 1])) for size in full[len(full) - keep :]]
    return full, other


@st.composite
def pairs(draw: Callable[..., Any]) -> tuple[list[int], list[int]]:
    full, other = broadcast_pair(draw, allow_empty=draw(st.booleans()))
    return (full, other) if draw(st.booleans()) else (other, full)


def check(fn: Callable[..., Any], ref: Ref, a: Tensor, b: Tensor | None) -> None:
    """The reference computes what torch computes, and the formula counts what it counted."""
    tally = Tally()
    args = (a,) if b is None else (a, b)
    # the formula prices each element of the broadcast output, so the reference works on
    # the broadcast operands (views), never on an operand's un-broadcast elements alone
    wide_a, wide_b = (a, a) if b is None else torch.broadcast_tensors(a, b)
    expected = ref(tally, wide_a, wide_b)
    torch.testing.assert_close(fn(*args), expected, equal_nan=True, check_dtype=False)
    assert operator_count(fn, *args) == tally.count
    assert tally.macs == 0


# every function is checked (a name drawn at random could miss one); fewer shapes per name
PER_NAME = settings(max_examples=max(3, settings().max_examples // 6))


@pytest.mark.parametrize("name", sorted(UNARY))
@PER_NAME
@given(shape=pairs())
def test_unary_matches_op_by_op_reference(name: str, shape: tuple[list[int], list[int]]) -> None:
    fn, ref = UNARY[name]
    a = unit(shape[0]) + (1.0 if name == "acosh" else 0.0)
    check(fn, ref, a, None)


@pytest.mark.parametrize("name", sorted(BINARY))
@PER_NAME
@given(shapes=pairs())
def test_binary_with_broadcasting_matches_reference(
    name: str, shapes: tuple[list[int], list[int]]
) -> None:
    fn, ref = BINARY[name]
    check(fn, ref, unit(shapes[0]), unit(shapes[1]))


@given(shapes=pairs(), value=st.sampled_from([1, 2, 0.5]))
def test_addcmul_addcdiv_count_the_value_multiply(
    shapes: tuple[list[int], list[int]], value: float
) -> None:
    a, b = unit(shapes[0]), unit(shapes[1])
    x = unit(torch.broadcast_shapes(a.shape, b.shape))
    for fn, step in ((torch.addcmul, Tally.mul), (torch.addcdiv, Tally.div)):
        tally = Tally()
        product = step(tally, *torch.broadcast_tensors(a, b))
        expected = tally.add(x, product if value == 1 else tally.mul(value, product))
        torch.testing.assert_close(fn(x, a, b, value=value), expected)
        call = functools.partial(fn, value=value)
        assert operator_count(call, x, a, b) == tally.count


@given(shapes=pairs())
def test_logical_and_bitwise_are_one_op_per_element(shapes: tuple[list[int], list[int]]) -> None:
    a, b = unit(shapes[0]) > 0.5, unit(shapes[1]) > 0.5
    for fn, torch_fn in (
        (lambda a, b: a & b, torch.logical_and),
        (torch.logical_or, torch.logical_or),
        (lambda a, b: a ^ b, torch.logical_xor),
        (torch.bitwise_and, torch.logical_and),
    ):
        tally = Tally()
        expected = tally.binary(torch_fn, a, b)
        torch.testing.assert_close(fn(a, b), expected)
        assert operator_count(fn, a, b) == tally.count
    tally = Tally()
    torch.testing.assert_close(~a, tally.unary(torch.logical_not, a))
    assert operator_count(lambda a: ~a, a) == tally.count


@given(shapes=pairs())
def test_polar_is_cos_sin_and_two_multiplies(shapes: tuple[list[int], list[int]]) -> None:
    r, theta = torch.broadcast_tensors(unit(shapes[0]), unit(shapes[1]))
    tally = Tally()
    real = tally.mul(r, tally.unary(torch.cos, theta))
    imag = tally.mul(r, tally.unary(torch.sin, theta))
    torch.testing.assert_close(torch.polar(r, theta), torch.complex(real, imag))
    assert operator_count(torch.polar, r, theta) == tally.count


# -- every spelling a TorchFunctionMode receives ------------------------------------------------
def _iadd(a: Tensor, b: Tensor) -> Tensor:
    a = a.clone()
    a += b
    return a


def _imul(a: Tensor, b: Tensor) -> Tensor:
    a = a.clone()
    a *= b
    return a


def _ifloordiv(a: Tensor, b: Tensor) -> Tensor:
    a = a.clone()
    a //= b
    return a


def _ipow(a: Tensor, b: Tensor) -> Tensor:
    a = a.clone()
    a **= 2
    return a


SPELLINGS: list[tuple[str, Callable[..., Any], int]] = [
    ("a + b", lambda a, b: a + b, 1),
    ("b + a", lambda a, b: b + a, 1),
    ("2 + a", lambda a, b: 2 + a, 1),
    ("a.add(b)", lambda a, b: a.add(b), 1),
    ("torch.add", lambda a, b: torch.add(a, b), 1),
    ("a.add_(b)", lambda a, b: a.clone().add_(b), 1),
    ("a += b", _iadd, 1),
    ("Tensor.__iadd__", lambda a, b: Tensor.__iadd__(a.clone(), b), 1),
    ("Tensor.__radd__", lambda a, b: Tensor.__radd__(a, b), 1),
    ("a - b", lambda a, b: a - b, 1),
    ("2 - a", lambda a, b: 2 - a, 1),
    ("a.sub_(b, alpha=2)", lambda a, b: a.clone().sub_(b, alpha=2), 2),
    ("torch.subtract", lambda a, b: torch.subtract(a, b), 1),
    ("a * b", lambda a, b: a * b, 1),
    ("2 * a", lambda a, b: 2 * a, 1),
    ("a *= b", _imul, 1),
    ("a / b", lambda a, b: a / b, 1),
    ("1 / a", lambda a, b: 1 / a, 1),
    ("a.div_(b)", lambda a, b: a.clone().div_(b), 1),
    ("torch.true_divide", lambda a, b: torch.true_divide(a, b), 1),
    ("a // 2", lambda a, b: a // 2, 2),
    ("2 // a", lambda a, b: 2 // a, 2),
    ("a //= b", _ifloordiv, 2),
    ("a % b", lambda a, b: a % b, 4),
    ("2 % a", lambda a, b: 2 % a, 4),
    ("a ** 2", lambda a, b: a**2, 1),
    ("2 ** a", lambda a, b: 2**a, 1),
    ("a **= 2", _ipow, 1),
    ("a.pow(b)", lambda a, b: a.pow(b), 1),
    ("a.square_()", lambda a, b: a.clone().square_(), 1),
    ("-a", lambda a, b: -a, 1),
    ("abs(a)", lambda a, b: abs(a), 1),
    ("a.exp_()", lambda a, b: a.clone().exp_(), 1),
    ("torch.special.expm1", lambda a, b: torch.special.expm1(a), 2),
    ("a == b", lambda a, b: a == b, 1),
    ("a != b", lambda a, b: a != b, 1),
    ("a <= b", lambda a, b: a <= b, 1),
    ("a > b", lambda a, b: a > b, 1),
    ("a.clamp_(0.2, 0.5)", lambda a, b: a.clone().clamp_(0.2, 0.5), 2),
    ("a.clamp(min=0.2)", lambda a, b: a.clamp(min=0.2), 1),
    ("a.clamp_max(0.5)", lambda a, b: a.clamp_max(0.5), 1),
    ("torch.clip(a, b, b)", lambda a, b: torch.clip(a, b, b), 2),
    ("a.lerp_(b, 0.5)", lambda a, b: a.clone().lerp_(b, 0.5), 3),
    ("a.addcmul_(a, b)", lambda a, b: a.clone().addcmul_(a, b), 2),
    ("a.addcdiv(a, b, value=3)", lambda a, b: a.addcdiv(a, b, value=3), 3),
]


@pytest.mark.parametrize(
    ("spelling", "fn", "per_element"), SPELLINGS, ids=[s[0] for s in SPELLINGS]
)
def test_every_spelling_is_counted(spelling: str, fn: Callable[..., Any], per_element: int) -> None:
    a, b = unit((2, 3)), unit((3,))
    # strict counting raises if any spelling reached the mode without a formula
    assert operator_count(fn, a, b) == flopcount.Count(per_element * 2 * 3, 0)


def test_positive_is_free_and_where_stays_zero() -> None:
    a = unit((2, 3))
    assert operator_count(lambda a: +a, a) == flopcount.Count(0, 0)
    assert operator_count(lambda a: torch.where(a > 0.5, a, 0.0), a) == flopcount.Count(6, 0)


def test_brief_functions_are_registered_in_all_spellings() -> None:
    registry = flopcount.default_registry()
    names = (
        "add sub mul div true_divide floor_divide remainder fmod pow neg abs sign reciprocal "
        "exp exp2 expm1 log log2 log10 log1p sqrt rsqrt square sin cos tan asin acos atan "
        "atan2 sinh cosh erf erfc erfinv floor ceil round trunc frac clamp clip clamp_min "
        "clamp_max maximum minimum fmax fmin lerp addcmul addcdiv hypot logaddexp eq ne lt le "
        "gt ge logical_and logical_or logical_not logical_xor bitwise_and bitwise_or "
        "bitwise_xor bitwise_not isnan isinf isfinite nan_to_num polar rsub"
    ).split()
    missing = [
        f"{space}.{name}{suffix}"
        for name in names
        for space, owner in (("torch", torch), ("Tensor", Tensor))
        for suffix in ("", "_")
        if (obj := getattr(owner, name + suffix, None)) is not None
        and (space == "Tensor" or suffix == "")
        and registry.lookup_operator(obj) is None
    ]
    assert missing == []
    for dunder in ("__rsub__", "__rtruediv__", "__pow__", "__rpow__", "__floordiv__", "__eq__"):
        assert registry.lookup_operator(getattr(Tensor, dunder)) is not None, dunder


def test_tanh_and_sigmoid_are_left_to_the_activation_family() -> None:
    from flopcount.formulas import arithmetic, math_functions

    for module in (arithmetic, math_functions):
        assert "tanh" not in module.__dict__ and "sigmoid" not in module.__dict__
    formula = flopcount.default_registry().lookup_operator(torch.tanh)
    assert formula is None or formula.__module__ != arithmetic.__name__


@pytest.mark.parametrize("name", ["add", "hypot", "remainder", "lerp"])
def test_zero_size_inputs_cost_nothing(name: str) -> None:
    fn, _ = BINARY[name]
    assert operator_count(fn, unit((0, 3)), unit((3,))) == flopcount.Count(0, 0)
    assert operator_count(fn, unit((2, 0)), unit((2, 1))) == flopcount.Count(0, 0)


@given(name=st.sampled_from(sorted(BINARY)), shapes=pairs())
def test_meta_device_gives_the_same_count(name: str, shapes: tuple[list[int], list[int]]) -> None:
    fn, _ = BINARY[name]
    a, b = unit(shapes[0]), unit(shapes[1])
    on_meta = operator_count(fn, a.to("meta"), b.to("meta"))
    assert on_meta == operator_count(fn, a, b)


def test_unary_meta_device_gives_the_same_count() -> None:
    for name, (fn, _) in UNARY.items():
        a = unit((2, 3, 4)) + 1.0
        assert operator_count(fn, a.to("meta")) == operator_count(fn, a), name


def test_pinned_counts_in_named_dimensions() -> None:
    B, L, N = 2, 3, 5  # noqa: N806
    x, bias = unit((B, L, N)), unit((N,))
    assert operator_count(lambda x, b: x + b, x, bias) == flopcount.Count(B * L * N, 0)
    assert operator_count(lambda x, b: torch.add(x, b, alpha=3), x, bias).ops == 2 * B * L * N
    assert operator_count(lambda x: x.clamp(0.2, 0.7), x).ops == 2 * B * L * N
    assert operator_count(lambda x, b: x % b, x, bias).ops == 4 * B * L * N
    assert operator_count(torch.sinh, x).ops == 5 * B * L * N
    assert operator_count(torch.hypot, x, bias).ops == 4 * B * L * N
    row = unit((B, 1, N))
    col = unit((1, L, 1))
    # broadcast: the output is B × L × N even though neither operand is
    assert operator_count(torch.mul, row, col).ops == B * L * N
    assert operator_count(lambda x, r, c: torch.addcmul(x, r, c, value=2), x, row, col).ops == (
        3 * B * L * N
    )


# -- index_add: the scatter-add of mixture-of-experts outputs --------------------------------
def ref_index_add(
    t: Tally, x: Tensor, dim: int, index: Tensor, source: Tensor, alpha: float
) -> Tensor:
    out = x.clone()
    for i, row in enumerate(index.tolist()):
        term = source.select(dim, i)
        if alpha != 1:
            term = t.mul(alpha, term)
        out.select(dim, row).copy_(t.add(out.select(dim, row), term))
    return out


@given(
    rows=st.integers(1, 4),
    picks=st.integers(0, 5),
    width=st.integers(1, 3),
    dim=st.sampled_from([0, 1]),
    alpha=st.sampled_from([1, 2.5]),
)
def test_index_add_adds_every_source_element_once(
    rows: int, picks: int, width: int, dim: int, alpha: float
) -> None:
    x = torch.randn(rows, width) if dim == 0 else torch.randn(width, rows)
    index = torch.randint(0, rows, (picks,))
    source = torch.randn(picks, width) if dim == 0 else torch.randn(width, picks)
    t = Tally()
    expected = ref_index_add(t, x, dim, index, source, alpha)
    kwargs = {} if alpha == 1 else {"alpha": alpha}
    torch.testing.assert_close(x.index_add(dim, index, source, **kwargs), expected)
    assert operator_count(lambda a, i, s: a.index_add(dim, i, s, **kwargs), x, index, source) == (
        t.count
    )
    assert operator_count(torch.index_add, x, dim, index, source, **kwargs) == t.count
    assert operator_count(lambda a, i, s: a.clone().index_add_(dim, i, s, **kwargs), x, index,
                          source) == t.count  # fmt: skip
