"""``flopcount.explain``: where the price of a module type or torch function is decided."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._compat import missing
from ._operators import operator_name
from ._registry import Registry, active_registry, composite, zero_cost

_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn", "Tensor": "torch.Tensor"}


@dataclass(frozen=True)
class Explanation:
    """How flopcount counts one target. ``str()`` of it is the text ``explain`` prints."""

    target: str
    kind: str
    formula: str
    doc: str
    file: str
    line: int
    defined_at: str
    inherited_from: str | None = None

    def __str__(self) -> str:
        lines = [f"{self.target}  ({self.kind})"]
        if self.inherited_from:
            lines.append(f"  inherits the formula of {self.inherited_from}")
        lines.append(f"  formula:    {self.formula}")
        lines.append(f"  registered: {_short(self.file)}:{self.line}")
        if self.defined_at:
            lines.append(f"  defined:    {self.defined_at}")
        if self.doc:
            lines.append("")
            lines.extend("  " + line if line else "" for line in self.doc.splitlines())
        return "\n".join(lines)

    __repr__ = __str__


def _short(path: str) -> str:
    """A path relative to the site it lives in (``flopcount/formulas/conv.py``)."""
    here = Path(path)
    package_root = Path(__file__).resolve().parent.parent
    try:
        return str(here.resolve().relative_to(package_root))
    except ValueError:
        return path


def resolve(spelling: str) -> Any:
    """The object a dotted name denotes: ``torch.exp``, ``F.softmax``, ``nn.Conv2d``,
    ``Tensor.add``, ``torch.Tensor.shape`` (a property: its getter), ``mypkg.MyBlock``."""
    head, _, rest = spelling.partition(".")
    name = f"{_ALIASES[head]}.{rest}" if head in _ALIASES and rest else spelling
    parts = name.split(".")
    obj: Any = None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                if name in missing():
                    raise LookupError(
                        f"{name} is not in torch {torch.__version__}; flopcount counts it on "
                        "the releases that have it"
                    ) from None
                where = ".".join(parts[:cut])
                raise LookupError(f"{spelling!r}: {where} has no attribute {attr!r}") from None
        break
    else:
        raise LookupError(f"{spelling!r} is not an importable name")
    if type(obj).__name__ == "getset_descriptor":
        return obj.__get__  # a property arrives in the operator mode as its getter
    return obj


def _target_name(target: Any) -> str:
    if isinstance(target, type):
        return f"{target.__module__}.{target.__qualname__}"
    return operator_name(target)


def _document(formula: Any) -> str:
    """The formula's docstring, followed by that of each shape-level function it points to
    with ``see :func:`name```, where the math in shape symbols is written."""
    doc = inspect.cleandoc(formula.__doc__ or "")
    namespace = getattr(formula, "__globals__", {})
    for name in re.findall(r"see :func:`~?\.?(\w+)`", doc):
        helper = namespace.get(name)
        if callable(helper) and helper.__doc__:
            doc += f"\n\n{name}:\n" + inspect.cleandoc(helper.__doc__)
    return doc


def explain(target: Any, *, registry: Registry | None = None) -> Explanation:
    """How ``target`` is counted: its formula's name, its math, and where it was registered.

    ``target`` is a module type or instance, a torch function or method, or a dotted name
    (``"torch.exp"``, ``"nn.Conv2d"``, ``"Tensor.add"``). Raises :class:`LookupError` when
    nothing counts it. ``str()`` of the answer is a readable page (what the CLI prints).
    """
    if isinstance(target, str):
        spelling = target
        try:
            target = resolve(target)
        except LookupError:
            # a torch.ops operator registered by name before torch defined it: keep the name
            by_name = (registry or active_registry()).registration(target)
            if not target.startswith("torch.ops.") or by_name is None:
                raise
    else:
        spelling = ""
    if isinstance(target, nn.Module):
        target = type(target)
    registry = registry or active_registry()
    found = registry.registration(target)
    if found is None and not isinstance(target, type):
        # a torch.ops operator registered by its name (torch defines it only on some import)
        from ._operators import operator_name

        found = registry.registration(operator_name(target))
    name = spelling or _target_name(target)
    if found is None and isinstance(target, type):
        overriding = registry.overriding_class(target)
        base = registry.overridden_base(target)
        if overriding is not None and base is not None:
            what = "formula"
            if base in registry.composite_types():
                what, same = (
                    "composite declaration",
                    f"flopcount.register_composite({target.__qualname__})",
                )
            else:
                same = (
                    f"flopcount.register({target.__qualname__})"
                    f"(flopcount.default_registry().lookup({base.__qualname__}))"
                )
            raise LookupError(
                f"{name} has no formula: {overriding.__qualname__} overrides forward, so it "
                f"does not inherit the {what} of {_target_name(base)} (a subclass inherits "
                "only while it runs its base's forward); it is counted as its children plus "
                "the torch functions its forward calls, and with operators=False it is named "
                "in Report.unsupported or Report.uncounted. If its forward is the same math, "
                f"say so: {same}"
            )
    if found is None:
        what = "module type" if isinstance(target, type) else "function"
        raise LookupError(
            f"no formula is registered for the {what} {name}"
            + (
                "; a module without a formula is counted as its children plus the torch "
                "functions it calls"
                if isinstance(target, type)
                else ""
            )
        )
    formula = found.formula
    if formula is zero_cost:
        kind = "zero cost"
    elif formula is composite:
        kind = "composite"
    else:
        kind = f"{found.kind} formula"
    try:
        source = inspect.getsourcefile(formula) or ""
        defined = f"{_short(source)}:{inspect.getsourcelines(formula)[1]}"
    except (OSError, TypeError):
        defined = ""
    inherited = None
    if isinstance(target, type) and found.target is not target:
        inherited = _target_name(found.target)
    return Explanation(
        target=name,
        kind=kind,
        formula=getattr(formula, "__qualname__", repr(formula)),
        doc=_document(formula),
        file=found.file,
        line=found.line,
        defined_at=defined,
        inherited_from=inherited,
    )
