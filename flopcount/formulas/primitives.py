"""The price list: what each primitive operation costs, and the arithmetic families share.

The Softmax specification fixes the convention: each add, subtract, multiply, divide, exp,
log, square root, power, compare (max, min, ==, <...), absolute value and negation costs
one op. This module is the only place in flopcount that says so. Every formula family,
and the op-by-op reference counter of the test suite, takes its prices from here, so two
files can never price the same primitive differently.

A general power ``x ** p`` is a primitive like ``exp``: one op per element whatever ``p``
(a square is one multiply; ``pow`` is one library call). Norms and losses that raise to a
power follow it: a p-norm of N elements costs N absolute values, N powers, N − 1 adds and
one root ``s ** (1/p)``, i.e. ``3N`` (see :func:`p_norm_ops`).

Composite functions that several families use (sigmoid, tanh, softplus) are priced here
too, as the sum of the primitives of their textbook definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .._shapes import normalize_dim

PRICES = MappingProxyType(
    {
        "add": 1,  # also subtract
        "mul": 1,
        "div": 1,
        "neg": 1,
        "abs": 1,
        "compare": 1,  # max, min, ==, <, a select's test, a logical or bitwise op
        "exp": 1,
        "log": 1,
        "sqrt": 1,
        "pow": 1,  # x ** p for any p, x² included
        "erf": 1,  # no finite elementary definition (an integral): a library primitive
        "trig": 1,  # sin, cos, tan and their inverses
        "round": 1,  # floor, ceil, trunc, round
    }
)
"""Ops per element of every primitive; the single source of each price."""

ADD = SUB = PRICES["add"]
MUL = PRICES["mul"]
DIV = PRICES["div"]
NEG = PRICES["neg"]
ABS = PRICES["abs"]
COMPARE = PRICES["compare"]
EXP = PRICES["exp"]
LOG = PRICES["log"]
SQRT = PRICES["sqrt"]
POW = PRICES["pow"]
ERF = PRICES["erf"]
TRIG = PRICES["trig"]
ROUND = PRICES["round"]

SIGMOID = NEG + EXP + ADD + DIV
"""``1 / (1 + exp(−x))``."""
TANH = EXP + NEG + EXP + SUB + ADD + DIV
"""``(eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)``."""
SOFTPLUS = EXP + ADD + LOG
"""``log(1 + exp(x))``."""


# -- counts shared by several families ------------------------------------------------------
def dot_products(count: int, length: int, bias: bool) -> Count:
    """``count`` dot products of ``length`` terms each, optionally plus a bias each.

    ops = count·(2·length − 1) (length multiplies, length − 1 adds), or count·2·length
    with a bias; macs = count·length. An empty dot product (length 0) costs nothing.
    """
    if count <= 0 or length <= 0:
        return Count(0)
    ops = count * (length * MUL + (length - 1) * ADD + (ADD if bias else 0))
    return Count(ops, count * length)


def elementwise(numel: int, ops_per_element: int) -> Count:
    """``ops_per_element · numel`` ops, no MACs (zero-size tensors cost 0)."""
    return Count(max(numel, 0) * ops_per_element, 0)


def output_numel(output: Any) -> int:
    """Elements of a call's (broadcast) result; 0 when it returned no tensor."""
    return output.numel() if isinstance(output, Tensor) else 0


def rows_along(shape: Sequence[int], dim: int) -> tuple[int, int]:
    """``(M, N)``: the M independent rows of N elements along ``dim`` of a tensor of ``shape``.

    A 0-d tensor is one row of one element; a zero-size tensor is ``(0, 0)``.
    """
    total = math.prod(shape)
    if total == 0:
        return 0, 0
    if not shape:
        return 1, 1
    length = shape[normalize_dim(dim, len(shape))]
    return total // length, length


def p_norm_ops(length: int, p: float) -> int:
    """Ops of ``‖v‖_p`` of a vector of ``length`` = N elements.

    p = 2: N squares, N − 1 adds, 1 sqrt = 2N. p = 1: N abs, N − 1 adds = 2N − 1.
    p = ±inf: N abs, N − 1 max/min = 2N − 1. p = 0 (count of non-zeros): N compares,
    N − 1 adds = 2N − 1. Any other p: N abs, N powers, N − 1 adds, 1 root = 3N.
    """
    if length <= 0:
        return 0
    adds = (length - 1) * ADD
    if p == 2:
        return length * MUL + adds + SQRT
    if p == 1:
        return length * ABS + adds
    if math.isinf(p):
        return length * ABS + (length - 1) * COMPARE
    if p == 0:
        return length * COMPARE + adds
    return length * (ABS + POW) + adds + POW


def expand(value: Any, dims: int) -> tuple[int, ...]:
    """An int or a sequence of ints as a ``dims``-tuple (PyTorch's ``_single/_pair/_triple``)."""
    if isinstance(value, int):
        return (value,) * dims
    values = tuple(int(v) for v in value)
    if len(values) == 1 and dims > 1:
        return values * dims
    if len(values) != dims:
        raise ValueError(f"expected {dims} values, got {values!r}")
    return values


# -- registering one formula under every spelling ------------------------------------------
OperatorFormula = Callable[[tuple[Any, ...], dict[str, Any], Any], Count]


def spellings(*names: str, inplace: bool = True, dunders: tuple[str, ...] = ()) -> list[Any]:
    """Every object a ``TorchFunctionMode`` receives for the functions ``names``.

    ``torch.<name>``, ``torch.special.<name>``, ``Tensor.<name>``, and with ``inplace`` also
    ``torch.<name>_`` and ``Tensor.<name>_``, plus the ``Tensor`` dunders given. Names the
    running torch lacks, and same-named objects that are not functions (``torch.float`` is a
    dtype, ``torch.cuda`` a module), are skipped; one function under two names appears once.
    """
    found: list[Any] = []
    for name in names:
        found += [getattr(torch, name, None), getattr(torch.special, name, None)]
        found.append(getattr(Tensor, name, None))
        if inplace:
            found += [getattr(torch, name + "_", None), getattr(Tensor, name + "_", None)]
    found.extend(getattr(Tensor, dunder, None) for dunder in dunders)
    unique: list[Any] = []
    for obj in found:
        if not callable(obj) or isinstance(obj, type):
            continue
        if not any(obj is seen for seen in unique):
            unique.append(obj)
    return unique


def per_element(ops_per_element: int) -> OperatorFormula:
    """Operator-formula factory: ``ops_per_element`` ops for every element of the output."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return elementwise(output_numel(output), ops_per_element)

    formula.__doc__ = f"{ops_per_element} op(s) per output element."
    formula.__qualname__ = formula.__name__ = f"per_element_{ops_per_element}"
    return formula


def register_per_element(ops_per_element: int, *names: str, **options: Any) -> None:
    """Register every spelling of ``names`` at ``ops_per_element`` ops per output element."""
    register_operator(*spellings(*names, **options))(per_element(ops_per_element))
