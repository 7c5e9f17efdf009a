"""Elementwise arithmetic called directly in a forward: ``a + b``, ``torch.mul``, ``x.clamp_()``.

Every formula here is ``c · numel(output)``: the output has the broadcast shape of the
operands, and each of its elements costs ``c`` elementary operations (``ops``), the
Softmax specification's convention (add, subtract, multiply, divide, compare... = 1).
Elementwise work has no multiply-accumulates, so ``macs`` is always zero.

Every spelling a :class:`~torch.overrides.TorchFunctionMode` can receive for the same math
is registered together: ``torch.add``, ``Tensor.add``, ``Tensor.add_``, ``Tensor.__add__``,
``Tensor.__radd__``, ``Tensor.__iadd__`` (``a + b`` arrives as ``Tensor.add``, ``2 - a`` as
``Tensor.__rsub__``, ``a ** 2`` as ``Tensor.__pow__``, ``a // 2`` as ``Tensor.__floordiv__``).
Transcendental and rounding functions are in :mod:`.math_functions`.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._count import Count
from .._registry import register_operator, zero_cost
from .primitives import ADD, MUL, elementwise, output_numel, register_per_element, spellings


def is_one(value: Any) -> bool:
    """Whether a scaling hyper-parameter (``alpha``, ``value``) leaves its operand unscaled."""
    return value is None or (not isinstance(value, Tensor) and value == 1)


# -- add / subtract: a ± alpha·b ---------------------------------------------------------
@register_operator(
    *spellings(
        "add",
        "sub",
        "subtract",
        "rsub",
        dunders=("__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__"),
    )
)
def add_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``a ± alpha·b``: 1 op per element, 2 when ``alpha != 1`` (the scaling multiply)."""
    return elementwise(output_numel(output), 1 if is_one(kwargs.get("alpha")) else 2)


# -- multiply / divide -------------------------------------------------------------------
register_per_element(
    1,
    "mul",
    "multiply",
    dunders=("__mul__", "__rmul__", "__imul__"),
)


@register_operator(
    *spellings(
        "div",
        "divide",
        "true_divide",
        dunders=("__truediv__", "__rtruediv__", "__itruediv__", "__div__", "__rdiv__", "__idiv__"),
    )
)
def div_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``a / b``: 1 op per element; with ``rounding_mode`` ``'floor'``/``'trunc'`` 2 (+ round)."""
    rounding = kwargs.get("rounding_mode", args[2] if len(args) > 2 else None)
    return elementwise(output_numel(output), 1 if rounding is None else 2)


# ⌊a / b⌋: a divide and a rounding.
register_per_element(2, "floor_divide", dunders=("__floordiv__", "__rfloordiv__", "__ifloordiv__"))
# a − b·⌊a / b⌋ (remainder) and a − b·trunc(a / b) (fmod): divide, round, multiply, subtract.
register_per_element(4, "remainder", "fmod", dunders=("__mod__", "__rmod__", "__imod__"))

# -- powers: one op per element whatever the exponent ---------------------------------------
register_per_element(1, "pow", "float_power", "square", dunders=("__pow__", "__rpow__", "__ipow__"))

# -- sign and magnitude --------------------------------------------------------------------
register_per_element(1, "neg", "negative", dunders=("__neg__",))
register_per_element(1, "abs", "absolute", "sign", "sgn", "signbit", "reciprocal", "copysign")
register_per_element(1, "deg2rad", "rad2deg")  # one multiply by π/180 or 180/π
register_operator(*spellings("positive", inplace=False))(zero_cost)  # ``+a`` returns ``a``

# -- comparisons, extrema and logic: one compare / boolean op per element --------------------------
register_per_element(
    1,
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "greater",
    "less",
    "greater_equal",
    "less_equal",
    "not_equal",
    dunders=("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"),
)
register_per_element(1, "maximum", "minimum", "fmax", "fmin", "clamp_min", "clamp_max")
register_per_element(
    1,
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    dunders=(
        "__and__",
        "__rand__",
        "__iand__",
        "__or__",
        "__ror__",
        "__ior__",
        "__xor__",
        "__rxor__",
        "__ixor__",
        "__invert__",
        "__lshift__",
        "__rlshift__",
        "__ilshift__",
        "__rshift__",
        "__rrshift__",
        "__irshift__",
    ),
)
# Float classification: each is one test of the element (x ≠ x for NaN, |x| = ∞ ...).
register_per_element(1, "isnan", "isinf", "isfinite", "isposinf", "isneginf", inplace=False)


@register_operator(*spellings("clamp", "clip"))
def clamp_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``clamp(x, min, max)``: one compare per bound given (2 with both, 1 with one)."""
    low = args[1] if len(args) > 1 else kwargs.get("min")
    high = args[2] if len(args) > 2 else kwargs.get("max")
    bounds = (low is not None) + (high is not None)
    return elementwise(output_numel(output), bounds)


# -- fused multiply-add style --------------------------------------------------------------
# lerp(a, b, w) = a + w·(b − a): subtract, multiply, add.
register_per_element(3, "lerp")


@register_operator(*spellings("addcmul", "addcdiv"))
def addc_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``x + value·t1 ∘ t2`` (∘ = × or ÷): 2 ops per element, 3 when ``value != 1``."""
    return elementwise(output_numel(output), 2 if is_one(kwargs.get("value")) else 3)


# -- scatter-add: out[index[i]] += alpha · source[i] -------------------------------------------
@register_operator(*spellings("index_add"))
def index_add_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``index_add(input, dim, index, source, alpha=1)``: every element of ``source`` is
    added into the row ``index`` names (1 op each), after a multiply by ``alpha`` when it is
    not 1 (2 ops). The routing by ``index`` is indexing, free. Mixture-of-experts layers
    gather their experts' outputs this way."""
    source = args[3] if len(args) > 3 else kwargs["source"]
    return elementwise(source.numel(), ADD if is_one(kwargs.get("alpha")) else MUL + ADD)
