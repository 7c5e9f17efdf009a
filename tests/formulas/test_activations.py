"""Elementwise activations: every formula against an op-by-op reference on random shapes.

Each reference evaluates the textbook definition the docs name, one counted primitive at a
time, and is itself checked against the torch module's output. Piecewise definitions run
every branch on every element; comparisons count 1, ``torch.where`` (a select) is free.
"""

from __future__ import annotations

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
from tests.tally import Tally, module_count, operator_count

Reference = Callable[[Tally, Tensor], Tensor]
Forms = list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
Built = tuple[nn.Module, Reference, Forms]


# -- counted building blocks (each call counts one op per output element) ----------------
def neg(t: Tally, x: Tensor) -> Tensor:
    return t.unary(torch.neg, x)


def absolute(t: Tally, x: Tensor) -> Tensor:
    return t.unary(torch.abs, x)


def greater(t: Tally, x: Tensor, c: float) -> Tensor:
    return t.binary(torch.gt, x, c)


def erf(t: Tally, x: Tensor) -> Tensor:
    return t.unary(torch.erf, x)  # erf is one op by convention, like exp


def sigmoid(t: Tally, x: Tensor) -> Tensor:
    return t.div(1.0, t.add(1.0, t.exp(neg(t, x))))


def tanh(t: Tally, x: Tensor) -> Tensor:
    e_pos, e_neg = t.exp(x), t.exp(neg(t, x))
    return t.div(t.sub(e_pos, e_neg), t.add(e_pos, e_neg))


def hardsigmoid(t: Tally, x: Tensor) -> Tensor:
    return t.minimum(t.maximum(t.add(t.div(x, 6.0), 0.5), 0.0), 1.0)


def leaky(t: Tally, x: Tensor, slope: Tensor | float) -> Tensor:
    return torch.where(t.binary(torch.ge, x, 0.0), x, t.mul(x, slope))


def elu_negative(t: Tally, x: Tensor, alpha: float) -> Tensor:
    return t.mul(t.sub(t.exp(x), 1.0), alpha)


def gelu(t: Tally, x: Tensor, approximate: str) -> Tensor:
    if approximate == "none":
        return t.mul(x, t.mul(0.5, t.add(1.0, erf(t, t.div(x, math.sqrt(2.0))))))
    cube = t.mul(t.mul(x, x), x)
    inner = t.mul(math.sqrt(2.0 / math.pi), t.add(x, t.mul(0.044715, cube)))
    return t.mul(t.mul(0.5, x), t.add(1.0, tanh(t, inner)))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

floats = st.floats(min_value=0.1, max_value=3.0)


# -- one builder per activation: (module, reference, functional forms) -------------------
def build_relu(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.relu, (), {}), (F.relu, (), {"inplace": True}), (F.relu_, (), {})]
    forms += [(torch.relu, (), {}), (Tensor.relu, (), {}), (Tensor.relu_, (), {})]
    return nn.ReLU(), lambda t, x: t.maximum(x, 0.0), forms


def build_relu6(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.relu6, (), {}), (torch._C._nn.relu6, (), {}), (torch._C._nn.relu6_, (), {})]
    return nn.ReLU6(), lambda t, x: t.minimum(t.maximum(x, 0.0), 6.0), forms


def build_hardtanh(d: st.DataObject, x: Tensor) -> Built:
    lo = d.draw(st.floats(-2.0, 0.0), label="min_val")
    hi = lo + d.draw(floats, label="width")
    forms: Forms = [(F.hardtanh, (lo, hi), {}), (F.hardtanh_, (lo, hi), {})]
    forms += [(torch._C._nn.hardtanh, (lo, hi), {})]
    return nn.Hardtanh(lo, hi), lambda t, x: t.minimum(t.maximum(x, lo), hi), forms


def build_threshold(d: st.DataObject, x: Tensor) -> Built:
    th, value = d.draw(st.floats(-1.0, 1.0), label="th"), d.draw(st.floats(-5, 5), label="v")
    forms: Forms = [(F.threshold, (th, value), {}), (F.threshold_, (th, value), {})]
    forms += [(torch.threshold, (th, value), {})]
    return nn.Threshold(th, value), lambda t, x: torch.where(greater(t, x, th), x, value), forms


def build_leaky_relu(d: st.DataObject, x: Tensor) -> Built:
    slope = d.draw(floats, label="negative_slope")
    forms: Forms = [(F.leaky_relu, (slope,), {}), (F.leaky_relu_, (slope,), {})]
    forms += [(torch._C._nn.leaky_relu, (slope,), {})]
    return nn.LeakyReLU(slope), lambda t, x: leaky(t, x, slope), forms


def build_prelu(d: st.DataObject, x: Tensor) -> Built:
    channels = x.shape[1] if x.ndim >= 2 and d.draw(st.booleans(), label="per_channel") else 1
    module = nn.PReLU(channels, init=d.draw(floats, label="init")).double()
    weight = module.weight.detach()
    view = weight.reshape(-1, *[1] * (x.ndim - 2)) if x.ndim >= 2 else weight.reshape(())
    forms: Forms = [(F.prelu, (weight,), {}), (Tensor.prelu, (weight,), {})]
    return module, lambda t, x: leaky(t, x, view), forms


def build_rrelu_eval(d: st.DataObject, x: Tensor) -> Built:
    lower = d.draw(st.floats(0.0, 0.5), label="lower")
    upper = lower + d.draw(st.floats(0.0, 0.5), label="spread")
    forms: Forms = [(F.rrelu, (lower, upper), {}), (F.rrelu_, (lower, upper), {})]
    forms += [(torch.rrelu, (lower, upper), {})]
    return nn.RReLU(lower, upper).eval(), lambda t, x: leaky(t, x, (lower + upper) / 2), forms


def build_elu(d: st.DataObject, x: Tensor) -> Built:
    alpha = d.draw(floats, label="alpha")
    forms: Forms = [(F.elu, (alpha,), {}), (F.elu_, (alpha,), {}), (torch._C._nn.elu, (alpha,), {})]
    return (
        nn.ELU(alpha),
        lambda t, x: torch.where(greater(t, x, 0.0), x, elu_negative(t, x, alpha)),
        forms,
    )


def build_celu(d: st.DataObject, x: Tensor) -> Built:
    alpha = d.draw(floats, label="alpha")
    forms: Forms = [(F.celu, (alpha,), {}), (F.celu_, (alpha,), {}), (torch.celu, (alpha,), {})]

    def reference(t: Tally, x: Tensor) -> Tensor:
        return torch.where(greater(t, x, 0.0), x, elu_negative(t, t.div(x, alpha), alpha))

    return nn.CELU(alpha), reference, forms


def build_selu(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.selu, (), {}), (F.selu_, (), {}), (torch.selu, (), {})]

    def reference(t: Tally, x: Tensor) -> Tensor:
        branch = torch.where(greater(t, x, 0.0), x, elu_negative(t, x, SELU_ALPHA))
        return t.mul(SELU_SCALE, branch)

    return nn.SELU(), reference, forms


def build_sigmoid(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(f, (), {}) for f in (F.sigmoid, torch.sigmoid, torch.special.expit)]
    forms += [(f, (), {}) for f in (torch.sigmoid_, Tensor.sigmoid, Tensor.sigmoid_)]
    return nn.Sigmoid(), sigmoid, forms


def build_tanh(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(f, (), {}) for f in (F.tanh, torch.tanh, torch.tanh_, Tensor.tanh)]
    return nn.Tanh(), tanh, [*forms, (Tensor.tanh_, (), {})]


def build_silu(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.silu, (), {}), (F.silu, (), {"inplace": True}), (torch._C._nn.silu_, (), {})]
    return nn.SiLU(), lambda t, x: t.mul(x, sigmoid(t, x)), forms


def build_mish(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.mish, (), {}), (torch._C._nn.mish, (), {}), (torch._C._nn.mish_, (), {})]
    return nn.Mish(), lambda t, x: t.mul(x, tanh(t, t.log(t.add(1.0, t.exp(x))))), forms


def build_softplus(d: st.DataObject, x: Tensor) -> Built:
    beta = d.draw(st.floats(0.5, 3.0), label="beta")
    threshold = d.draw(st.floats(0.0, 20.0), label="threshold")

    def reference(t: Tally, x: Tensor) -> Tensor:
        scaled = t.mul(x, beta)
        smooth = t.div(t.log(t.add(1.0, t.exp(scaled))), beta)
        return torch.where(greater(t, scaled, threshold), x, smooth)

    forms: Forms = [(F.softplus, (beta, threshold), {}), (F.softplus, (), {})]
    return nn.Softplus(beta, threshold), reference, forms


def build_logsigmoid(d: st.DataObject, x: Tensor) -> Built:
    return (
        nn.LogSigmoid(),
        lambda t, x: neg(t, t.log(t.add(1.0, t.exp(neg(t, x))))),
        [(F.logsigmoid, (), {})],
    )


def build_hardsigmoid(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.hardsigmoid, (), {}), (F.hardsigmoid, (), {"inplace": True})]
    forms += [(torch._C._nn.hardsigmoid, (), {}), (torch._C._nn.hardsigmoid_, (), {})]
    return nn.Hardsigmoid(), hardsigmoid, forms


def build_hardswish(d: st.DataObject, x: Tensor) -> Built:
    forms: Forms = [(F.hardswish, (), {}), (F.hardswish, (), {"inplace": True})]
    forms += [(torch._C._nn.hardswish, (), {}), (torch._C._nn.hardswish_, (), {})]
    return nn.Hardswish(), lambda t, x: t.mul(x, hardsigmoid(t, x)), forms


def build_hardshrink(d: st.DataObject, x: Tensor) -> Built:
    lambd = d.draw(st.floats(0.0, 1.5), label="lambd")
    forms: Forms = [(F.hardshrink, (lambd,), {}), (Tensor.hardshrink, (lambd,), {})]
    return (
        nn.Hardshrink(lambd),
        lambda t, x: torch.where(greater(t, absolute(t, x), lambd), x, 0.0),
        forms,
    )


def build_softshrink(d: st.DataObject, x: Tensor) -> Built:
    lambd = d.draw(st.floats(0.0, 1.5), label="lambd")
    return (
        nn.Softshrink(lambd),
        lambda t, x: t.sub(x, t.minimum(t.maximum(x, -lambd), lambd)),
        [(F.softshrink, (lambd,), {})],
    )


def build_softsign(d: st.DataObject, x: Tensor) -> Built:
    return (
        nn.Softsign(),
        lambda t, x: t.div(x, t.add(1.0, absolute(t, x))),
        [(F.softsign, (), {})],
    )


def build_tanhshrink(d: st.DataObject, x: Tensor) -> Built:
    return nn.Tanhshrink(), lambda t, x: t.sub(x, tanh(t, x)), [(F.tanhshrink, (), {})]


def build_gelu(d: st.DataObject, x: Tensor) -> Built:
    approximate = d.draw(st.sampled_from(["none", "tanh"]), label="approximate")
    forms: Forms = [(F.gelu, (), {"approximate": approximate})]
    return nn.GELU(approximate), lambda t, x: gelu(t, x, approximate), forms


BUILDERS: dict[str, Callable[[st.DataObject, Tensor], Built]] = {
    name[len("build_") :]: builder
    for name, builder in dict(globals()).items()
    if name.startswith("build_")
}

shapes = st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=4)


def random_input(shape: list[int], seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(shape, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("name", sorted(BUILDERS))
@given(shape=shapes, seed=st.integers(0, 2**16), data=st.data())
def test_module_and_functional_forms_match_reference(
    name: str, shape: list[int], seed: int, data: st.DataObject
) -> None:
    x = random_input(shape, seed)
    module, reference, forms = BUILDERS[name](data, x)
    tally = Tally()
    expected = reference(tally, x)
    torch.testing.assert_close(expected.to(x.dtype), module(x.clone()))
    assert module_count(module, x) == tally.count
    for fn, args, kwargs in forms:
        assert operator_count(fn, x.clone(), *args, **kwargs) == tally.count, fn


def test_rrelu_training_draws_slopes_and_costs_a_compare_and_a_multiply() -> None:
    lower, upper = 0.1, 0.4
    module = nn.RReLU(lower, upper).train()
    x = random_input([3, 4, 5], seed=0)
    y = module(x)
    negative = x < 0
    slopes = torch.where(negative, y / torch.where(negative, x, 1.0), 1.0)
    assert bool(((slopes >= lower) & (slopes <= upper) | ~negative).all())
    tally = Tally()
    torch.testing.assert_close(leaky(tally, x, slopes), y)
    assert module_count(module, x) == tally.count
    assert operator_count(F.rrelu, x, lower, upper, True) == tally.count
    # training and evaluation differ only in where the slope comes from
    assert module_count(module.eval(), x) == tally.count


def test_gelu_exact_and_tanh_approximation_are_derived_separately() -> None:
    b, length, n = 2, 3, 4
    x = torch.randn(b, length, n)
    divide, erf_, add, half, times_x = 1, 1, 1, 1, 1
    exact = b * length * n * (divide + erf_ + add + half + times_x)
    cube, coefficient, add_x, scale, tanh_ops, add_one, halves = 2, 1, 1, 1, 6, 1, 2
    approx = b * length * n * (cube + coefficient + add_x + scale + tanh_ops + add_one + halves)
    assert module_count(nn.GELU(), x) == flopcount.Count(exact, 0)
    assert module_count(nn.GELU(approximate="tanh"), x) == flopcount.Count(approx, 0)
    assert operator_count(F.gelu, x) == flopcount.Count(exact, 0)
    assert operator_count(F.gelu, x, approximate="tanh") == flopcount.Count(approx, 0)


# -- pinned costs, per element, as arithmetic of the definitions --------------------------
SIG, TANH = 1 + 1 + 1 + 1, 1 + 1 + 1 + 1 + 1 + 1  # neg exp add div; exp neg exp sub add div
PINNED: list[tuple[nn.Module, int]] = [
    (nn.ReLU(), 1),  # max
    (nn.ReLU6(), 1 + 1),  # max, min
    (nn.Hardtanh(-2.0, 3.0), 1 + 1),  # max, min
    (nn.Threshold(0.5, 2.0), 1),  # compare
    (nn.LeakyReLU(0.2), 1 + 1),  # compare, multiply
    (nn.PReLU(3), 1 + 1),  # compare, multiply
    (nn.RReLU().eval(), 1 + 1),  # compare, multiply
    (nn.ELU(), 1 + 1 + 1 + 1),  # compare, exp, subtract, multiply
    (nn.CELU(0.5), 1 + 1 + 1 + 1 + 1),  # compare, divide, exp, subtract, multiply
    (nn.SELU(), 1 + 1 + 1 + 1 + 1),  # compare, exp, subtract, multiply, scale
    (nn.Sigmoid(), SIG),
    (nn.Tanh(), TANH),
    (nn.SiLU(), SIG + 1),
    (nn.Mish(), (1 + 1 + 1) + TANH + 1),  # log(1 + exp), tanh, multiply
    (nn.Softplus(2.0, 10.0), 1 + (1 + 1 + 1) + 1 + 1),  # scale, log(1 + exp), divide, compare
    (nn.LogSigmoid(), 1 + (1 + 1 + 1) + 1),  # negate, log(1 + exp), negate
    (nn.Hardsigmoid(), 1 + 1 + 1 + 1),  # divide, add, max, min
    (nn.Hardswish(), (1 + 1 + 1 + 1) + 1),
    (nn.Hardshrink(), 1 + 1),  # abs, compare
    (nn.Softshrink(), 1 + 1 + 1),  # max, min, subtract
    (nn.Softsign(), 1 + 1 + 1),  # abs, add, divide
    (nn.Tanhshrink(), TANH + 1),
]


@pytest.mark.parametrize(("module", "per_element"), PINNED, ids=lambda v: type(v).__name__)
def test_pinned_counts(module: nn.Module, per_element: int) -> None:
    batch, channels, height, width = 2, 3, 4, 5
    x = torch.randn(batch, channels, height, width)
    expected = flopcount.Count(batch * channels * height * width * per_element, 0)
    assert module_count(module, x) == expected


def test_glu_pinned_on_the_halved_dim() -> None:
    batch, length, features = 2, 3, 8
    x = torch.randn(batch, length, features)
    sigmoid_ops, gate_multiply = 4, 1
    per_half = batch * length * (features // 2) * (sigmoid_ops + gate_multiply)
    assert module_count(nn.GLU(), x).ops == per_half
    assert module_count(nn.GLU(dim=0), torch.randn(2 * batch, length)).ops == (
        batch * length * (sigmoid_ops + gate_multiply)
    )


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), data=st.data())
def test_glu_matches_reference(shape: list[int], data: st.DataObject) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    shape[dim] *= 2
    x = random_input(shape, seed=len(shape))
    tally = Tally()
    a, b = x.chunk(2, dim)
    torch.testing.assert_close(tally.mul(a, sigmoid(tally, b)), nn.GLU(dim)(x))
    assert module_count(nn.GLU(dim), x) == tally.count
    assert operator_count(F.glu, x, dim) == tally.count
    assert operator_count(torch._C._nn.glu, x, dim) == tally.count


ALL_MODULES = [*(module for module, _ in PINNED), nn.GELU(), nn.GELU(approximate="tanh")]


@pytest.mark.parametrize("module", ALL_MODULES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("shape", [(0, 3), (2, 3, 0), (0, 3, 4)])
def test_zero_size_input_costs_zero(module: nn.Module, shape: tuple[int, ...]) -> None:
    assert module_count(module, torch.randn(shape)) == flopcount.Count(0, 0)


@pytest.mark.parametrize("module", [*ALL_MODULES, nn.GLU(-1), nn.RReLU().train()], ids=repr)
def test_meta_device_matches_cpu(module: nn.Module) -> None:
    x = torch.randn(2, 3, 4)
    cpu = module_count(module, x)
    assert cpu.ops > 0
    assert module_count(module.to("meta"), x.to("meta")) == cpu


@pytest.mark.parametrize("module", [nn.GELU(), nn.SiLU(), nn.PReLU(), nn.Hardswish()], ids=repr)
def test_functional_calls_inside_the_module_are_not_counted_twice(module: nn.Module) -> None:
    x = torch.randn(2, 3, 4)
    with_operators = flopcount.count(nn.Sequential(module), x, strict=True)
    assert with_operators.total == module_count(module, x).ops


def test_every_torch_activation_module_has_a_formula() -> None:
    names = [n for n in nn.modules.activation.__all__ if n != "MultiheadAttention"]
    missing = [n for n in names if flopcount.default_registry().lookup(getattr(nn, n)) is None]
    assert names and missing == []
