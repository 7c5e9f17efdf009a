"""The formula registry: module types and torch functions mapped to their cost formulas.

One :class:`Registry` holds both kinds, because a module and the function it calls are
the same arithmetic (``nn.Softmax`` and ``F.softmax`` share one shape-level formula).
Profiles snapshot the registry when they start, so registering during a profile never
changes the profile that is running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from torch import nn

from ._count import Count
from ._errors import RegistrationError

ModuleFormula = Callable[[Any, tuple[Any, ...], Any], "Count | int"]
"""``(module, inputs, output) -> Count | int``: shapes and hyper-parameters only."""

OperatorFormula = Callable[[tuple[Any, ...], dict[str, Any], Any], "Count | int"]
"""``(args, kwargs, output) -> Count | int`` for a torch function or tensor method."""

F = TypeVar("F", bound=Callable[..., Any])


def zero_cost(*_: Any) -> Count:
    """Formula of things that do no arithmetic (views, copies, lookups, containers of data).

    The profiler recognises this function and skips calling it on the hot path.
    """
    return Count(0, 0)


def _type_name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or repr(obj)


class Registry:
    """Module types and torch functions with a cost formula.

    ``Registry()`` is empty; :func:`default_registry` ``.copy()`` starts from everything
    flopcount knows. Lookups walk ``type(module).__mro__`` so subclasses inherit.
    """

    def __init__(self) -> None:
        self._modules: dict[type, ModuleFormula] = {}
        self._operators: dict[Any, OperatorFormula] = {}
        self._resolved: dict[type, ModuleFormula | None] = {}
        self._composites: set[type] = set()

    # -- modules -------------------------------------------------------------------
    def register(self, *module_types: type, replace: bool = False) -> Callable[[F], F]:
        """Decorator: ``formula(module, inputs, output)`` counts calls of ``module_types``.

        Several types may share one formula. Registering a type that already has a
        formula raises :class:`RegistrationError` unless ``replace=True``.
        """
        if not module_types:
            raise RegistrationError("register() needs at least one module type")
        for module_type in module_types:
            if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
                raise RegistrationError(
                    f"register() takes torch.nn.Module subclasses, got {module_type!r}"
                )
            if module_type in self._modules and not replace:
                raise RegistrationError(
                    f"{_type_name(module_type)} already has a formula "
                    f"({_type_name(self._modules[module_type])}); pass replace=True to override"
                )

        def decorator(formula: F) -> F:
            if not callable(formula):
                raise RegistrationError(f"a formula must be callable, got {formula!r}")
            for module_type in module_types:
                self._modules[module_type] = formula
            self._resolved.clear()
            return formula

        return decorator

    def lookup(self, module_type: type) -> ModuleFormula | None:
        """The formula of ``module_type`` or of its nearest registered base class."""
        try:
            return self._resolved[module_type]
        except KeyError:
            pass
        found = None
        for base in module_type.__mro__:
            if base in self._modules:
                found = self._modules[base]
                break
        self._resolved[module_type] = found
        return found

    def declare_composite(self, *module_types: type) -> None:
        """Mark types whose cost is exactly their children's (and their direct torch calls).

        Such a type gets no formula, so its children are counted; the declaration only
        records that this is deliberate (``nn.TransformerEncoder`` stacks its layers).
        """
        for module_type in module_types:
            if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
                raise RegistrationError(
                    f"declare_composite() takes nn.Module subclasses, got {module_type!r}"
                )
        self._composites.update(module_types)

    def covers(self, module_type: type) -> bool:
        """True if ``module_type`` has a formula or is a declared composite (via its MRO)."""
        if self.lookup(module_type) is not None:
            return True
        return any(base in self._composites for base in module_type.__mro__)

    def module_types(self) -> tuple[type, ...]:
        """Every module type registered directly (subclasses inherit without a row)."""
        return tuple(self._modules)

    # -- operators -----------------------------------------------------------------
    def register_operator(self, *functions: Any, replace: bool = False) -> Callable[[F], F]:
        """Decorator: ``formula(args, kwargs, output)`` counts calls of ``functions``.

        ``functions`` are the objects a :class:`torch.overrides.TorchFunctionMode` is
        handed: ``torch.matmul``, ``torch.Tensor.add``, ``F.softmax``...
        """
        if not functions:
            raise RegistrationError("register_operator() needs at least one function")
        for function in functions:
            if not callable(function) and not hasattr(function, "__get__"):
                raise RegistrationError(f"register_operator() takes callables, got {function!r}")
            if function in self._operators and not replace:
                raise RegistrationError(
                    f"{_type_name(function)} already has a formula; pass replace=True to override"
                )

        def decorator(formula: F) -> F:
            for function in functions:
                self._operators[function] = formula
            return formula

        return decorator

    def declare_zero_cost(self, *functions: Any) -> None:
        """Mark torch functions that do no arithmetic (views, metadata, copies)."""
        self.register_operator(*functions)(zero_cost)

    def lookup_operator(self, function: Any) -> OperatorFormula | None:
        return self._operators.get(function)

    def operators(self) -> tuple[Any, ...]:
        return tuple(self._operators)

    # -- whole registry ------------------------------------------------------------
    def copy(self) -> Registry:
        """An independent registry with the same formulas."""
        clone = Registry()
        clone._modules.update(self._modules)
        clone._operators.update(self._operators)
        clone._composites.update(self._composites)
        return clone

    def operator_table(self) -> dict[Any, OperatorFormula]:
        """A snapshot of the operator formulas, taken when a profile starts."""
        return dict(self._operators)


DEFAULT = Registry()


_ACTIVE: ContextVar[Registry | None] = ContextVar("flopcount_active_registry", default=None)


def active_registry() -> Registry:
    """The registry of the profile running in this context (the default one outside any).

    Composite formulas (a Transformer layer priced from its parts) price those parts
    through it, so a profile's own registry reaches inside them.
    """
    return _ACTIVE.get() or DEFAULT


@contextmanager
def using(registry: Registry) -> Iterator[None]:
    """Make ``registry`` the :func:`active_registry` for the duration of the block."""
    token = _ACTIVE.set(registry)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def default_registry() -> Registry:
    """The process-wide registry that :func:`register` adds to."""
    return DEFAULT


def register(*module_types: type, replace: bool = False) -> Callable[[F], F]:
    """Register a formula for ``module_types`` in the default registry."""
    return DEFAULT.register(*module_types, replace=replace)


def register_operator(*functions: Any, replace: bool = False) -> Callable[[F], F]:
    """Register a formula for torch functions in the default registry."""
    return DEFAULT.register_operator(*functions, replace=replace)


def registered_types() -> tuple[type, ...]:
    """Every module type the default registry has a formula for."""
    return DEFAULT.module_types()
