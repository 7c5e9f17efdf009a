"""flopcount: per-module operation counts of PyTorch models, with budgets for tests.

Counts are exact integers in two units: ``ops`` (every add, multiply, divide, exp,
compare... is one, the Softmax specification's convention) and ``macs``
(multiply-accumulates of the linear-algebra core, the unit of model-zoo tables).
"""

from __future__ import annotations

from . import formulas as _formulas  # noqa: F401  (fills the default registry)
from ._count import Count
from ._errors import (
    BudgetExceeded,
    DryRunError,
    FlopcountError,
    FormulaError,
    RegistrationError,
    UnsupportedError,
)
from ._explain import Explanation, explain
from ._profiler import UnsupportedWarning, budget, count, profile
from ._registry import (
    ModuleFormula,
    OperatorFormula,
    Registration,
    Registry,
    default_registry,
    register,
    register_composite,
    register_operator,
    registered_types,
    zero_cost,
)
from ._report import ModuleStats, OperatorStats, Report, Step
from ._version import __version__

__all__ = [
    "BudgetExceeded",
    "Count",
    "DryRunError",
    "Explanation",
    "FlopcountError",
    "FormulaError",
    "ModuleFormula",
    "ModuleStats",
    "OperatorFormula",
    "OperatorStats",
    "Registration",
    "RegistrationError",
    "Registry",
    "Report",
    "Step",
    "UnsupportedError",
    "UnsupportedWarning",
    "__version__",
    "budget",
    "count",
    "default_registry",
    "explain",
    "profile",
    "register",
    "register_composite",
    "register_operator",
    "registered_types",
    "zero_cost",
]
