"""Math functions: transcendental, rounding and composite elementwise functions.

Convention: a library primitive (``exp``, ``log``, ``sqrt``, ``sin``, ``erf``, ``floor``...)
counts 1 op per element, like the specification's ``exp`` and ``log``. A function whose
textbook definition is a formula of primitives is priced by that formula, one op per
operator in it: ``expm1(x) = eˣ − 1`` is 2, ``hypot(a, b) = √(a² + b²)`` is 4. Each
function's definition is written next to its registration and in
``docs/formulas.md``. ``macs`` is always zero.
"""

from __future__ import annotations

from typing import Any

from .._count import Count
from .._registry import register_operator
from .primitives import elementwise, output_numel, register_per_element, spellings

# -- primitives: 1 op per element ------------------------------------------------------------
register_per_element(
    1,
    "exp",
    "exp2",
    "log",
    "log2",
    "log10",
    "sqrt",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "arcsin",
    "arccos",
    "arctan",
    "atan2",
    "arctan2",
    "erf",
    "erfinv",
    "floor",
    "ceil",
    "trunc",
    "fix",
)

# -- composites: one op per operator of the definition -------------------------------------
register_per_element(2, "expm1")  # eˣ − 1: exp, subtract
register_per_element(2, "log1p")  # log(1 + x): add, log
register_per_element(2, "erfc")  # 1 − erf(x): erf, subtract
register_per_element(2, "rsqrt")  # 1 / √x: sqrt, divide
register_per_element(2, "frac")  # x − trunc(x): trunc, subtract
register_per_element(2, "xlogy")  # x · log(y): log, multiply
register_per_element(3, "sinc")  # sin(πx) / (πx): multiply, sin, divide
# sinh = (eˣ − e⁻ˣ) / 2 and cosh = (eˣ + e⁻ˣ) / 2: negate, 2 exps, add/subtract, halve.
register_per_element(5, "sinh", "cosh")
# asinh = log(x + √(x² + 1)), acosh = log(x + √(x² − 1)): square, ±1, sqrt, add, log;
# atanh = ½ · log((1 + x) / (1 − x)): add, subtract, divide, log, halve.
register_per_element(5, "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh")
register_per_element(4, "hypot")  # √(a² + b²): 2 squares, add, sqrt
# log(eᵃ + eᵇ) and log₂(2ᵃ + 2ᵇ): 2 exps, add, log (no max shift, as in logsumexp).
register_per_element(4, "logaddexp", "logaddexp2", inplace=False)
# nan_to_num: 3 tests per element (x ≠ x, x = +∞, x = −∞); the replacement is a select.
register_per_element(3, "nan_to_num")
# polar(r, θ) = r·cos θ + i·r·sin θ: cos, sin, 2 multiplies per complex element.
register_per_element(4, "polar", inplace=False)


@register_operator(*spellings("round"))
def round_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``round(x)``: 1 op per element; ``round(x, decimals=d)`` with d ≠ 0 is
    ``round(x · 10ᵈ) / 10ᵈ``: multiply, round, divide = 3."""
    decimals = kwargs.get("decimals", 0)
    return elementwise(output_numel(output), 1 if not decimals else 3)
