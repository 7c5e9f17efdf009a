"""Guarantee 2: bad calls to public functions get one-line messages that say what was expected."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import flopcount


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("call", "error", "expected"),
    [
        (lambda: flopcount.profile("model"), TypeError, "expects a torch.nn.Module, got str"),
        (
            lambda: flopcount.profile(nn.Linear(2, 2), registry={}),
            TypeError,
            "registry must be a flopcount.Registry",
        ),
        (lambda: flopcount.count(None), TypeError, "expects a torch.nn.Module, got NoneType"),
        (lambda: flopcount.register(), flopcount.RegistrationError, "at least one module type"),
        (
            lambda: flopcount.register(str),
            flopcount.RegistrationError,
            "torch.nn.Module subclasses",
        ),
        (lambda: flopcount.register(nn.Linear), flopcount.RegistrationError, "pass replace=True"),
        (
            lambda: flopcount.Registry().register_operator(),
            flopcount.RegistrationError,
            "at least one function",
        ),
        (
            lambda: flopcount.Registry().register_composite(3),
            flopcount.RegistrationError,
            "nn.Module subclasses",
        ),
        (
            lambda: flopcount.budget(nn.Linear(2, 2), max_ops=-1).__enter__(),
            ValueError,
            "non-negative number",
        ),
        (
            lambda: flopcount.budget(nn.Linear(2, 2), max_macs="lots").__enter__(),
            ValueError,
            "a number or None",
        ),
        (
            lambda: flopcount.budget(nn.Linear(2, 2), modules=[1]).__enter__(),
            ValueError,
            "map qualified-name globs",
        ),
        (lambda: flopcount.Report.from_json('{"schema": 1}'), ValueError, "not a flopcount report"),
    ],
)
def test_bad_public_calls(call: object, error: type[BaseException], expected: str) -> None:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert expected in one_line(info.value)


def test_script_module_message_says_what_to_do() -> None:
    # torch.jit.script warns that it is deprecated from 2.13 on, with a DeprecationWarning in
    # 2.13 and a FutureWarning from 2.14; this test is about flopcount's message, not that.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        scripted = torch.jit.script(nn.Linear(2, 2))
    with pytest.raises(TypeError) as info:
        flopcount.profile(scripted)
    assert "profile the eager nn.Module instead" in one_line(info.value)


def test_table_rejects_a_bad_depth() -> None:
    report = flopcount.count(nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(ValueError) as info:
        report.table(max_depth=-1)
    assert "non-negative int" in one_line(info.value)


def test_formula_error_is_one_line_and_names_everything() -> None:
    registry = flopcount.Registry()
    registry.register(nn.Linear)(lambda module, inputs, output: 1 // 0)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(flopcount.FormulaError) as info:
        flopcount.count(model, torch.randn(5, 3), registry=registry)
    message = one_line(info.value)
    assert "'0.0' (Linear)" in message and "[(5, 3)]" in message and "by zero" in message


def test_formula_returning_garbage_is_named() -> None:
    registry = flopcount.Registry()
    registry.register(nn.Linear)(lambda module, inputs, output: "many")
    with pytest.raises(flopcount.FormulaError, match="must return flopcount.Count or int, got str"):
        flopcount.count(nn.Linear(3, 2), torch.randn(5, 3), registry=registry)
