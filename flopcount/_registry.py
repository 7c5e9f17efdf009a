"""The formula registry: module types and torch functions mapped to their cost formulas.

One :class:`Registry` holds both kinds, because a module and the function it calls are
the same arithmetic (``nn.Softmax`` and ``F.softmax`` share one shape-level formula).
There is one way to fill it, the decorators :func:`register` (module types),
:func:`register_operator` (torch functions) and :func:`register_composite` (module types
counted as the sum of their children); ``zero_cost`` is registered like any formula.
Every registration records the file and line that made it, which :func:`explain` shows.
A formula's signature is checked when it is registered, not when a model first runs it.
Profiles snapshot the registry when they start, so registering during a profile never
changes the profile that is running.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from torch import nn

from ._compat import Absent
from ._count import Count
from ._errors import RegistrationError

ModuleFormula = Callable[[Any, tuple[Any, ...], Any], "Count | int"]
"""``(module, inputs, output) -> Count | int``: shapes and hyper-parameters only."""

OperatorFormula = Callable[[tuple[Any, ...], dict[str, Any], Any], "Count | int"]
"""``(args, kwargs, output) -> Count | int`` for a torch function or tensor method."""

F = TypeVar("F", bound=Callable[..., Any])
Kind = Literal["module", "operator", "composite"]

_PACKAGE = Path(__file__).resolve().parent
# Frames in these files are registration plumbing: a site is the first frame outside them.
_PLUMBING = {str(_PACKAGE / "_registry.py"), str(_PACKAGE / "formulas" / "primitives.py")}


def zero_cost(*_: Any) -> Count:
    """Does no arithmetic: views, copies, metadata, creation, containers of data.

    The profiler recognises this formula and skips calling it on the hot path.
    """
    return Count(0, 0)


def composite(*_: Any) -> Count:
    """Counted as the sum of its children and of the torch functions its forward calls.

    Recorded by :func:`register_composite`; never called.
    """
    return Count(0, 0)


@dataclass(frozen=True, slots=True)
class Registration:
    """One target's formula and where it was registered (``file``, ``line``)."""

    target: Any
    kind: Kind
    formula: Callable[..., Any]
    file: str
    line: int


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


def _call_site() -> tuple[str, int]:
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename in _PLUMBING:
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno


def _check_signature(formula: Any, kind: str, targets: tuple[Any, ...]) -> None:
    """Refuse a formula that cannot be called with the three arguments every formula gets."""
    if not callable(formula):
        raise RegistrationError(f"a formula must be callable, got {formula!r}")
    try:
        signature = inspect.signature(formula)
    except (TypeError, ValueError):  # a builtin without introspectable signature
        return
    try:
        signature.bind(None, None, None)
    except TypeError:
        expected = "(module, inputs, output)" if kind == "module" else "(args, kwargs, output)"
        names = ", ".join(_name(t) for t in targets)
        raise RegistrationError(
            f"the formula {_name(formula)}{signature} registered for {names} cannot be called "
            f"as {expected}: a formula takes exactly those three arguments"
        ) from None


class _AllAbsent(tuple):  # type: ignore[type-arg]
    """Targets that were all absent from the running torch: nothing to register."""


def _present(targets: tuple[Any, ...]) -> tuple[Any, ...]:
    present = tuple(t for t in targets if not isinstance(t, Absent))
    return present if present or not targets else _AllAbsent()


def _check_module_types(module_types: tuple[Any, ...], verb: str) -> None:
    if isinstance(module_types, _AllAbsent):
        return
    if not module_types:
        raise RegistrationError(f"{verb}() needs at least one module type")
    for module_type in module_types:
        if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
            raise RegistrationError(
                f"{verb}() takes torch.nn.Module subclasses, got {module_type!r}"
            )


class Registry:
    """Module types and torch functions with a cost formula.

    ``Registry()`` is empty; :func:`default_registry` ``.copy()`` starts from everything
    flopcount knows. Lookups walk ``type(module).__mro__`` so subclasses inherit, up to
    the first class that overrides ``forward`` (that class and its subclasses do not).
    """

    def __init__(self) -> None:
        self._modules: dict[type, ModuleFormula] = {}
        self._operators: dict[Any, OperatorFormula] = {}
        self._composites: set[type] = set()
        self._sites: dict[tuple[str, Any], tuple[str, int]] = {}
        self._resolved: dict[type, ModuleFormula | None] = {}
        self._owners: dict[type, type | None] = {}
        self._table: dict[Any, OperatorFormula] | None = None
        self.version = 0
        """Goes up with every registration: a profile's cached node tree and formula memos
        are kept only while the registry they were built with is at the same version."""

    # -- registering ---------------------------------------------------------------
    def register(self, *module_types: type, replace: bool = False) -> Callable[[F], F]:
        """Decorator: ``formula(module, inputs, output)`` counts calls of ``module_types``.

        Several types may share one formula. Registering a type that already has a
        formula raises :class:`RegistrationError` unless ``replace=True``. A type the
        running torch lacks (an :class:`~flopcount._compat.Absent` marker) is skipped.
        """
        module_types = _present(module_types)
        _check_module_types(module_types, "register")
        for module_type in module_types:
            if not replace and (module_type in self._modules or module_type in self._composites):
                raise RegistrationError(
                    f"{_name(module_type)} already has a formula "
                    f"({self._describe(module_type)}); pass replace=True to override"
                )
        site = _call_site()

        def decorator(formula: F) -> F:
            _check_signature(formula, "module", module_types)
            for module_type in module_types:
                self._composites.discard(module_type)
                self._modules[module_type] = formula
                self._sites["module", module_type] = site
            self._forget()
            return formula

        return decorator

    def register_composite(self, *module_types: type, replace: bool = False) -> None:
        """Mark types whose cost is exactly their children's (and their own torch calls).

        Such a type gets no formula, so its children are counted; the registration records
        that this is deliberate (``nn.TransformerEncoder`` stacks its layers).
        """
        module_types = _present(module_types)
        _check_module_types(module_types, "register_composite")
        for module_type in module_types:
            if not replace and module_type in self._modules:
                raise RegistrationError(
                    f"{_name(module_type)} already has a formula "
                    f"({self._describe(module_type)}); pass replace=True to override"
                )
        site = _call_site()
        for module_type in module_types:
            self._modules.pop(module_type, None)
            self._composites.add(module_type)
            self._sites["module", module_type] = site
        self._forget()

    def _forget(self) -> None:
        """Drop the lookup caches: a registration changed."""
        self._resolved.clear()
        self._owners.clear()
        self._table = None
        self.version += 1

    def register_operator(self, *functions: Any, replace: bool = False) -> Callable[[F], F]:
        """Decorator: ``formula(args, kwargs, output)`` counts calls of ``functions``.

        ``functions`` are the objects a :class:`torch.overrides.TorchFunctionMode` is
        handed: ``torch.matmul``, ``torch.Tensor.add``, ``F.softmax``... Functions the
        running torch lacks (:class:`~flopcount._compat.Absent` markers) are skipped.
        An operator that torch defines in Python only when some module of its is imported
        (FSDP2's ``torch.ops.fsdp.*``) may be named instead, as ``operator_name`` spells
        it (``"torch.ops.fsdp.chunk_cat"``), so registering it imports nothing.
        """
        functions = _present(functions)
        if not functions and not isinstance(functions, _AllAbsent):
            raise RegistrationError("register_operator() needs at least one function")
        for function in functions:
            named = isinstance(function, str) and function.startswith("torch.ops.")
            if not callable(function) and not hasattr(function, "__get__") and not named:
                raise RegistrationError(f"register_operator() takes callables, got {function!r}")
            if function in self._operators and not replace:
                raise RegistrationError(
                    f"{_name(function)} already has a formula "
                    f"({self._describe(function)}); pass replace=True to override"
                )
        site = _call_site()

        def decorator(formula: F) -> F:
            _check_signature(formula, "operator", functions)
            for function in functions:
                self._operators[function] = formula
                self._sites["operator", function] = site
            self._forget()
            return formula

        return decorator

    # -- looking up ----------------------------------------------------------------
    def lookup(self, module_type: type) -> ModuleFormula | None:
        """The formula of ``module_type`` or of its nearest registered base class.

        A subclass inherits its base's formula only if no class on the way overrides
        ``forward``: one that does may compute something else (Gemma's scaled embedding is
        an ``nn.Embedding`` whose forward also multiplies), so it has no formula and is
        counted like any formula-less module, unless it is registered itself.
        """
        try:
            return self._resolved[module_type]
        except KeyError:
            pass
        owner = self._owner(module_type)
        found = None if owner is None or owner in self._composites else self._modules[owner]
        self._resolved[module_type] = found
        return found

    def covers(self, module_type: type) -> bool:
        """True if ``module_type`` has a formula or is a registered composite, itself or
        through a base whose ``forward`` it does not override (see :meth:`lookup`)."""
        return self._owner(module_type) is not None

    def lookup_operator(self, function: Any) -> OperatorFormula | None:
        return self._operators.get(function)

    def module_types(self) -> tuple[type, ...]:
        """Every module type registered directly (subclasses inherit without a row)."""
        return tuple(self._modules)

    def composite_types(self) -> tuple[type, ...]:
        return tuple(self._composites)

    def operators(self) -> tuple[Any, ...]:
        return tuple(self._operators)

    def registration(self, target: Any) -> Registration | None:
        """How ``target`` (a module type or a torch function) is counted, and where that
        was decided; a module type answers with the registered base class whose forward it
        runs (see :meth:`lookup`)."""
        if isinstance(target, type) and issubclass(target, nn.Module):
            owner = self._owner(target)
            if owner is None:
                return None
            if owner in self._composites:
                kind: Kind = "composite"
                formula: Callable[..., Any] = composite
            else:
                kind, formula = "module", self._modules[owner]
            file, line = self._sites.get(("module", owner), ("", 0))
            return Registration(owner, kind, formula, file, line)
        try:
            formula = self._operators[target]
        except (KeyError, TypeError):
            return None
        file, line = self._sites.get(("operator", target), ("", 0))
        return Registration(target, "operator", formula, file, line)

    def registrations(self) -> Iterator[Registration]:
        """Every registration made directly (module types, composites, operators)."""
        for module_type in (*self._modules, *self._composites):
            found = self.registration(module_type)
            if found is not None:
                yield found
        for function in self._operators:
            found = self.registration(function)
            if found is not None:
                yield found

    def _owner(self, module_type: type) -> type | None:
        """The registered class whose registration ``module_type`` gets, cached per type.

        Walks the MRO and stops at the first registered class, or at the first class that
        defines ``forward`` itself (it overrides forward below any registered base). A
        profile asks once per module while it builds its node tree, hence the cache.
        """
        try:
            return self._owners[module_type]
        except KeyError:
            pass
        owner = None
        for base in module_type.__mro__:
            if base in self._modules or base in self._composites:
                owner = base
                break
            if "forward" in base.__dict__:
                break
        self._owners[module_type] = owner
        return owner

    def overriding_class(self, module_type: type) -> type | None:
        """The class that keeps ``module_type`` from inheriting a registered base's
        formula (or composite declaration) by overriding ``forward``, if that is why it
        has none; :meth:`overridden_base` names that base."""
        found = self._override(module_type)
        return None if found is None else found[0]

    def overridden_base(self, module_type: type) -> type | None:
        """The registered base whose registration ``module_type`` does not inherit because
        a class on the way (:meth:`overriding_class`) overrides ``forward``."""
        found = self._override(module_type)
        return None if found is None else found[1]

    def _override(self, module_type: type) -> tuple[type, type] | None:
        if self._owner(module_type) is not None:
            return None
        overriding = None
        for base in module_type.__mro__:
            if base in self._modules or base in self._composites:
                return None if overriding is None else (overriding, base)
            if overriding is None and "forward" in base.__dict__:
                overriding = base
        return None

    def _describe(self, target: Any) -> str:
        found = self.registration(target)
        if found is None:
            return "none"
        return f"{_name(found.formula)}, registered at {found.file}:{found.line}"

    # -- whole registry ------------------------------------------------------------
    def copy(self) -> Registry:
        """An independent registry with the same formulas."""
        clone = Registry()
        clone._modules.update(self._modules)
        clone._operators.update(self._operators)
        clone._composites.update(self._composites)
        clone._sites.update(self._sites)
        return clone

    def operator_table(self) -> dict[Any, OperatorFormula]:
        """A snapshot of the operator formulas, taken when a profile starts (a copy made
        once per registry version: later registrations do not reach a running profile)."""
        if self._table is None:
            self._table = dict(self._operators)
        return self._table


DEFAULT = Registry()

_ACTIVE: ContextVar[Registry | None] = ContextVar("flopcount_active_registry", default=None)


def active_registry() -> Registry:
    """The registry of the profile running in this context (the default one outside any).

    Composite formulas (a Transformer layer priced from its parts) price those parts
    through it, so a profile's own registry reaches inside them.
    """
    return _ACTIVE.get() or DEFAULT


class using:  # noqa: N801 - a context manager named like a function
    """Make ``registry`` the :func:`active_registry` for the duration of the block (a
    class, not a generator: every profile enters one)."""

    __slots__ = ("registry", "token")

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __enter__(self) -> None:
        self.token = _ACTIVE.set(self.registry)

    def __exit__(self, *exc_info: object) -> None:
        _ACTIVE.reset(self.token)


def default_registry() -> Registry:
    """The process-wide registry that :func:`register` adds to."""
    return DEFAULT


def register(*module_types: type, replace: bool = False) -> Callable[[F], F]:
    """Register a formula for ``module_types`` in the default registry."""
    return DEFAULT.register(*module_types, replace=replace)


def register_operator(*functions: Any, replace: bool = False) -> Callable[[F], F]:
    """Register a formula for torch functions in the default registry."""
    return DEFAULT.register_operator(*functions, replace=replace)


def register_composite(*module_types: type, replace: bool = False) -> None:
    """Register ``module_types`` in the default registry as counted by their children."""
    DEFAULT.register_composite(*module_types, replace=replace)


def registered_types() -> tuple[type, ...]:
    """Every module type the default registry has a formula for."""
    return DEFAULT.module_types()


# -- optimizer steps: priced per parameter tensor, looked up by optimizer class --------------
OptimizerFormula = Callable[[Any, int, bool], "Count | int"]
"""``(group, numel, first_step) -> Count | int``: one ``optimizer.step()`` on one parameter
tensor of ``numel`` elements, ``group`` its param group (hyper-parameters), ``first_step``
true while the parameter has no optimizer state yet (momentum buffers are created then)."""

_OPTIMIZERS: dict[type, OptimizerFormula] = {}
_OPTIMIZER_SITES: dict[type, tuple[str, int]] = {}


def register_optimizer(*optimizer_types: type, replace: bool = False) -> Callable[[F], F]:
    """Decorator: ``formula(group, numel, first_step)`` prices a step of ``optimizer_types``.

    A subclass inherits the formula of its nearest registered base (:func:`lookup_optimizer`).
    Registering a type twice raises :class:`RegistrationError` unless ``replace=True``.
    """
    from torch.optim import Optimizer

    optimizer_types = _present(optimizer_types)
    if not optimizer_types and not isinstance(optimizer_types, _AllAbsent):
        raise RegistrationError("register_optimizer() needs at least one optimizer type")
    for optimizer_type in optimizer_types:
        if not (isinstance(optimizer_type, type) and issubclass(optimizer_type, Optimizer)):
            raise RegistrationError(
                "register_optimizer() takes torch.optim.Optimizer subclasses, "
                f"got {optimizer_type!r}"
            )
        if optimizer_type in _OPTIMIZERS and not replace:
            raise RegistrationError(
                f"{_name(optimizer_type)} already has a step formula "
                f"({_name(_OPTIMIZERS[optimizer_type])}); pass replace=True to override"
            )
    site = _call_site()

    def decorator(formula: F) -> F:
        if not callable(formula):
            raise RegistrationError(f"a formula must be callable, got {formula!r}")
        try:
            inspect.signature(formula).bind(None, None, None)
        except TypeError:
            raise RegistrationError(
                f"the step formula {_name(formula)} cannot be called as (group, numel, first_step)"
            ) from None
        for optimizer_type in optimizer_types:
            _OPTIMIZERS[optimizer_type] = formula
            _OPTIMIZER_SITES[optimizer_type] = site
        return formula

    return decorator


def lookup_optimizer(optimizer_type: type) -> OptimizerFormula | None:
    """The step formula of ``optimizer_type`` or of its nearest registered base class."""
    for base in optimizer_type.__mro__:
        if base in _OPTIMIZERS:
            return _OPTIMIZERS[base]
    return None
