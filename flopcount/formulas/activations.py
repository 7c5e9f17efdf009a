"""Activations: elementwise nonlinearities (ReLU, GELU, SiLU, Tanh, GLU...); softmax is in
:mod:`.softmax`.

Convention (the specification's): each add, subtract, multiply, divide, exp, log, sqrt,
compare, abs and negate is one op. Activations do no multiply-accumulates, so ``macs`` is
zero.

What is counted: composite functions are priced by the elementary operations of their
textbook definition (``sigmoid = 1 / (1 + exp(−x))``, ``tanh = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)``),
an activation defined through another is that one plus its own extra arithmetic, and a
piecewise definition is evaluated branch-free: every branch's arithmetic runs on every
element, each comparison costs 1 and choosing a branch (``where``) is free, as indexing
is. What is not counted: random number generation (``RReLU``'s slopes), constants folded
from hyper-parameters, and index bookkeeping. ``docs/formulas.md`` derives each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg, numel
from .primitives import ERF, SIGMOID, SOFTPLUS, TANH, elementwise

"""``1 / (1 + exp(−x))``: negate, exp, add, divide."""
"""``(eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)``: exp, negate, exp, subtract, add, divide."""
"""``erf`` has no finite elementary definition (it is an integral); like exp, one op."""
"""``log(1 + exp(x))``: exp, add, log."""

GELU_OPS = {
    # x · 0.5 · (1 + erf(x / √2)): divide, erf, add, multiply, multiply
    "none": 1 + ERF + 1 + 1 + 1,
    # 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))): x³ 2 multiplies, then multiply,
    # add, multiply, tanh, add and two multiplies
    "tanh": 2 + 1 + 1 + 1 + TANH + 1 + 2,
}


def input_of(args: Sequence[Any], kwargs: dict[str, Any]) -> Tensor:
    """The input tensor of a call, passed by position or as ``input=`` / ``self=``."""
    if args:
        return args[0]
    return kwargs["input"] if "input" in kwargs else kwargs["self"]


def pointwise(cost: int, definition: str = "") -> Any:
    """Formula factory for activations costing ``cost`` ops per element: ``cost·numel(x)``."""

    def formula(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Count:
        return Count(cost * inputs[0].numel())  # = elementwise(numel, cost), without a call

    formula.__doc__ = f"{cost} op(s) per input element{': ' + definition if definition else '.'}"
    formula.__qualname__ = formula.__name__ = f"pointwise_{cost}"
    return formula


def pointwise_operator(cost: int, definition: str = "") -> Any:
    """Operator-formula factory priced like :func:`pointwise`."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
        return elementwise(input_of(args, kwargs).numel(), cost)

    formula.__doc__ = f"{cost} op(s) per input element{': ' + definition if definition else '.'}"
    formula.__qualname__ = formula.__name__ = f"pointwise_operator_{cost}"
    return formula


_nn = torch._C._nn
_T = Tensor
# missing from torch's type stubs, present at run time
_THRESHOLD_ = torch.threshold_  # type: ignore[attr-defined]
_RRELU_WITH_NOISE = (_nn.rrelu_with_noise, _nn.rrelu_with_noise_)  # type: ignore[attr-defined]

# torch.ao's quantized activations run the float math with a quantized kernel. (Its ReLU6
# subclasses nn.ReLU but computes min(max(x, 0), 6): it is priced as a ReLU6.)
_QUANTIZED = {
    name: optional(f"torch.ao.nn.quantized.{name}")
    for name in ("ReLU6", "LeakyReLU", "ELU", "Sigmoid", "Hardswish")
}

# (ops per element, its definition, module types, functions of the same math)
POINTWISE: tuple[tuple[int, str, tuple[type, ...], tuple[Any, ...]], ...] = (
    (1, "max(x, 0)", (nn.ReLU,), (F.relu, F.relu_, torch.relu, _T.relu, _T.relu_)),
    (2, "min(max(x, 0), 6)", (nn.ReLU6, _QUANTIZED["ReLU6"]), (F.relu6, _nn.relu6, _nn.relu6_)),
    (2, "min(max(x, lo), hi)", (nn.Hardtanh,), (F.hardtanh, F.hardtanh_, _nn.hardtanh)),
    (1, "where(x > t, x, v)", (nn.Threshold,), (F.threshold, torch.threshold, _THRESHOLD_)),
    (
        2,
        "where(x ≥ 0, x, a·x)",
        (nn.LeakyReLU, _QUANTIZED["LeakyReLU"]),
        (F.leaky_relu, F.leaky_relu_, _nn.leaky_relu),
    ),
    (2, "where(x ≥ 0, x, w·x)", (nn.PReLU,), (F.prelu, _T.prelu)),
    (
        2,
        "where(x ≥ 0, x, a·x), a random in training",
        (nn.RReLU,),
        (F.rrelu, F.rrelu_, torch.rrelu, *_RRELU_WITH_NOISE),
    ),
    (4, "where(x > 0, x, α·(exp(x) − 1))", (nn.ELU, _QUANTIZED["ELU"]), (F.elu, F.elu_, _nn.elu)),
    (5, "where(x > 0, x, α·(exp(x/α) − 1))", (nn.CELU,), (F.celu, F.celu_, torch.celu)),
    (5, "s·where(x > 0, x, α·(exp(x) − 1))", (nn.SELU,), (F.selu, F.selu_, torch.selu)),
    (
        SIGMOID,
        "1 / (1 + exp(−x))",
        (nn.Sigmoid, _QUANTIZED["Sigmoid"]),
        (F.sigmoid, torch.sigmoid, torch.sigmoid_, _T.sigmoid, _T.sigmoid_, torch.special.expit),
    ),
    (
        TANH,
        "(eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)",
        (nn.Tanh,),
        (F.tanh, torch.tanh, torch.tanh_, _T.tanh, _T.tanh_),
    ),
    (SIGMOID + 1, "x·sigmoid(x)", (nn.SiLU,), (F.silu, _nn.silu, _nn.silu_)),
    (
        SOFTPLUS + TANH + 1,
        "x·tanh(log(1 + eˣ))",
        (nn.Mish,),
        (F.mish, _nn.mish, _nn.mish_),
    ),
    (
        SOFTPLUS + 3,
        "where(βx > t, x, log(1 + exp(βx)) / β)",
        (nn.Softplus,),
        (F.softplus,),
    ),
    (SOFTPLUS + 2, "−log(1 + exp(−x))", (nn.LogSigmoid,), (F.logsigmoid,)),
    (
        4,
        "min(max(x/6 + 1/2, 0), 1)",
        (nn.Hardsigmoid,),
        (F.hardsigmoid, _nn.hardsigmoid, _nn.hardsigmoid_),
    ),
    (
        5,
        "x·hardsigmoid(x)",
        (nn.Hardswish, _QUANTIZED["Hardswish"]),
        (F.hardswish, _nn.hardswish, _nn.hardswish_),
    ),
    (2, "where(|x| > λ, x, 0)", (nn.Hardshrink,), (F.hardshrink, _T.hardshrink)),
    (3, "x − min(max(x, −λ), λ)", (nn.Softshrink,), (F.softshrink,)),
    (3, "x / (1 + |x|)", (nn.Softsign,), (F.softsign,)),
    (TANH + 1, "x − tanh(x)", (nn.Tanhshrink,), (F.tanhshrink,)),
)


def _register_pointwise() -> None:
    for cost, definition, module_types, functions in POINTWISE:
        register(*module_types)(pointwise(cost, definition))
        unique = list({id(function): function for function in functions}.values())
        register_operator(*unique)(pointwise_operator(cost, definition))


_register_pointwise()


def gelu_count(shape: Sequence[int], approximate: str = "none") -> Count:
    """GELU: ``GELU_OPS[approximate]·numel(x)`` (5 exact with erf, 14 with the tanh form)."""
    return elementwise(numel(shape), GELU_OPS[approximate])


@register(nn.GELU)
def gelu_module(module: nn.GELU, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.GELU(approximate)``: see :func:`gelu_count`."""
    return gelu_count(inputs[0].shape, module.approximate)


@register_operator(F.gelu)
def gelu_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.gelu(input, approximate=...)``: see :func:`gelu_count`."""
    return gelu_count(input_of(args, kwargs).shape, arg(args, kwargs, 1, "approximate", "none"))


def glu_count(shape: Sequence[int], dim: int = -1) -> Count:
    """GLU ``a ⊗ sigmoid(b)``, input halved along ``dim``: ``(SIGMOID + 1)·numel(x)/2``."""
    return Count((SIGMOID + 1) * (numel(shape) // 2))


@register(nn.GLU)
def glu_module(module: nn.GLU, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.GLU(dim)``: see :func:`glu_count`."""
    return glu_count(inputs[0].shape, module.dim)


@register_operator(F.glu, _nn.glu)
def glu_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.glu(input, dim=-1)``: see :func:`glu_count`."""
    return glu_count(input_of(args, kwargs).shape, arg(args, kwargs, 1, "dim", -1))
