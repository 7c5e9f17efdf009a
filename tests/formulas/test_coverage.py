"""Every computational module class in torch.nn is covered: a formula, or a deliberate
composite whose children do the work. This test fails when a torch upgrade adds one."""

from __future__ import annotations

import torch
from torch import nn

import flopcount

PURE_CONTAINERS = {
    nn.Module,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    nn.ParameterList,
    nn.ParameterDict,
    nn.Container,
    nn.DataParallel,
    nn.RNNBase,
    nn.RNNCellBase,
}


def torch_nn_classes() -> list[type]:
    return sorted(
        {
            obj
            for obj in vars(nn).values()
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj not in PURE_CONTAINERS
        },
        key=lambda cls: cls.__name__,
    )


def test_every_torch_nn_module_class_is_covered() -> None:
    registry = flopcount.default_registry()
    missing = [cls.__name__ for cls in torch_nn_classes() if not registry.covers(cls)]
    assert missing == [], f"torch {torch.__version__}: no formula for {missing}"
    assert len(torch_nn_classes()) > 120


def test_lazy_variants_inherit_their_formula() -> None:
    registry = flopcount.default_registry()
    lazy = [cls for cls in torch_nn_classes() if cls.__name__.startswith("Lazy")]
    assert lazy, "torch.nn has Lazy* modules"
    for cls in lazy:
        assert registry.lookup(cls) is not None, cls.__name__


def test_a_composite_declaration_does_not_hide_children() -> None:
    registry = flopcount.Registry()

    class Stack(nn.Sequential):
        pass

    registry.register_composite(Stack)
    registry.register(nn.ReLU)(lambda module, inputs, output: inputs[0].numel())
    assert registry.covers(Stack) and registry.lookup(Stack) is None
    report = flopcount.count(
        Stack(nn.ReLU(), nn.ReLU()), torch.randn(3), registry=registry, strict=True
    )
    assert report.total == 2 * 3


def test_every_registered_module_type_has_a_docs_section() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "formulas.md").read_text()

    def documented(name: str) -> bool:
        # "ZeroPad (1d/2d/3d)" documents ZeroPad2d; LazyBatchNorm1d is a BatchNorm1d
        family = re.sub(r"[123]d$", "", name.removeprefix("Lazy"))
        return name in text or name.removeprefix("Lazy") in text or family in text

    undocumented = sorted(
        cls.__name__
        for cls in flopcount.registered_types()
        if cls.__module__.startswith("torch.") and not documented(cls.__name__)
    )
    assert undocumented == []


def test_the_names_this_torch_lacks_are_known_and_documented() -> None:
    """Formulas for names newer than the floor are registered where torch has them; where
    it does not, flopcount knows (``_compat.missing()``) and the docs still describe them."""
    import importlib
    from pathlib import Path

    from flopcount import _compat

    text = (Path(__file__).resolve().parents[2] / "docs" / "formulas.md").read_text()
    for path in _compat.optional_names():
        owner_path, _, attr = path.rpartition(".")
        present = hasattr(importlib.import_module(owner_path), attr)
        assert present == (path not in _compat.missing()), path
        assert attr in text, f"{path} has no section in docs/formulas.md"
        if present:
            assert flopcount.explain(path).line > 0
