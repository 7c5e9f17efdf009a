"""Bad arguments get one clear line: a TypeError or ValueError (a FormulaError for a formula's
bad return value) that names the argument and what is accepted, raised up front."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import flopcount
from flopcount import Count

B, IN, OUT = 2, 4, 3


def model() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, OUT))


def x() -> torch.Tensor:
    return torch.randn(B, IN)


def report() -> flopcount.Report:
    return flopcount.count(model(), x())


CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("profile(operators=)", lambda: flopcount.profile(model(), operators="yes"), TypeError,
     "operators must be True or False, got 'yes'"),
    ("profile(strict=)", lambda: flopcount.profile(model(), strict=1), TypeError,
     "strict must be True or False"),
    ("profile(registry=)", lambda: flopcount.profile(model(), registry={}), TypeError,
     "registry must be a flopcount.Registry"),
    ("profile(model)", lambda: flopcount.profile(lambda t: t), TypeError,
     "expects a torch.nn.Module"),
    ("count(operators=)", lambda: flopcount.count(model(), x(), operators=None), TypeError,
     "operators must be True or False"),
    ("budget(max_ops=)", lambda: flopcount.budget(model(), max_ops="5e9").__enter__(),
     ValueError, "max_ops must be a number"),
    ("check(max_macs=)", lambda: report().check(max_macs=-1), ValueError,
     "max_macs must be a non-negative number"),
    ("check(modules=)", lambda: report().check(modules=["0"]), ValueError,
     "modules must map qualified-name globs"),
    ("table(tablefmt=)", lambda: report().table(tablefmt="nope"), ValueError,
     "tablefmt must be one of tabulate's formats"),
    ("table(max_depth=)", lambda: report().table(max_depth=-1), ValueError,
     "max_depth must be a non-negative int"),
    ("table(collapse=)", lambda: report().table(collapse="yes"), TypeError,
     "collapse must be True or False, got 'yes'"),
    ("to_html(collapse=)", lambda: report().to_html(collapse=1), TypeError,
     "collapse must be True or False, got 1"),
    ("diff(other)", lambda: report().diff(3), TypeError,
     "diff() takes another flopcount.Report, got int"),
    ("from_json(text)", lambda: flopcount.Report.from_json('{"schema": "x"}'), ValueError,
     "not a flopcount report"),
    ("register(type)", lambda: flopcount.Registry().register(int), flopcount.RegistrationError,
     "torch.nn.Module subclasses"),
    ("register(formula)", lambda: flopcount.Registry().register(nn.ReLU)(lambda m: 0),
     flopcount.RegistrationError, "cannot be called as (module, inputs, output)"),
    ("register_operator()", lambda: flopcount.Registry().register_operator(),
     flopcount.RegistrationError, "needs at least one function"),
    ("explain(name)", lambda: flopcount.explain("torch.no_such_function"), LookupError,
     "has no attribute 'no_such_function'"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "call", "kind", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_arguments_are_refused_in_one_line(
    what: str, call: Callable[[], Any], kind: type[Exception], message: str
) -> None:
    with pytest.raises(kind) as info:
        call()
    text = str(info.value)
    assert message in text and "\n" not in text, text


@pytest.mark.parametrize("bad", [-5, Count(-1, 0), Count(3, -2)])
def test_a_negative_count_from_a_formula_is_a_formula_error(bad: object) -> None:
    registry = flopcount.default_registry().copy()
    registry.register(nn.ReLU, replace=True)(lambda module, inputs, output: bad)
    with pytest.raises(flopcount.FormulaError, match=r"'0' \(ReLU\).*negative count"):
        flopcount.count(nn.Sequential(nn.ReLU()), x(), registry=registry)
    registry.register_operator(torch.exp, replace=True)(lambda args, kwargs, output: bad)

    class Exp(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return torch.exp(t)

    with pytest.raises(flopcount.FormulaError, match="negative count"):
        flopcount.count(Exp(), x(), registry=registry)


def test_the_root_has_one_name_accepted_everywhere() -> None:
    r = report()
    assert r.modules["(root)"] is r.modules[""] and "(root)" in r.modules
    assert r.modules.get("(root)") is r.modules[""]
    with pytest.raises(flopcount.BudgetExceeded, match=r"ops of \(root\) \(Sequential\)"):
        r.check(modules={"(root)": 1})
    assert "(root)" in r.table().splitlines()[2]
