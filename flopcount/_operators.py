"""Operator counting: torch functions called directly inside forwards.

Why a :class:`~torch.overrides.TorchFunctionMode` and not a dispatch mode: it sees calls at
the level of the public API (``F.softmax``, ``torch.matmul``, ``Tensor.add``) where the
module formulas' math lives, so ``nn.Softmax`` and ``F.softmax`` share a formula and a
fused kernel (CPU attention, ``mkldnn`` LSTM) is priced by its math rather than ignored.
While the mode handles a call it is popped off the stack, so a function's insides are
never counted twice. It is thread-local, so another thread's work is never seen.

The same mode also prices a plain function's torch calls for formulas that are built
from parts (:func:`price_calls`); the package has no other torch-function mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from torch import is_grad_enabled
from torch._ops import OpOverload, OpOverloadPacket
from torch.overrides import TorchFunctionMode

from . import _distributed
from ._compat import DisableTorchFunction, EnableTorchFunction, current_graph_task
from ._count import ZERO, Count, as_count
from ._errors import FormulaError
from ._node import SessionState
from ._registry import zero_cost
from ._shapes import shapes_of

if TYPE_CHECKING:
    from ._registry import OperatorFormula, Registry

_PUBLIC_NAMES: dict[Any, str] = {}


def _public_names() -> dict[Any, str]:
    """Public spelling of every function in torch's main namespaces (built once, lazily)."""
    if not _PUBLIC_NAMES:
        import torch.nn.functional

        spaces: tuple[tuple[str, Any], ...] = (
            ("torch.Tensor", torch.Tensor),
            ("torch.nn.functional", torch.nn.functional),
            ("torch.fft", torch.fft),
            ("torch.linalg", torch.linalg),
            ("torch.special", torch.special),
            ("torch", torch),
        )
        if torch.distributed.is_available():  # torch.distributed.all_gather, not ...c10d.all_gather
            spaces += (("torch.distributed", torch.distributed),)
        for prefix, space in spaces:
            for attr in dir(space):
                try:
                    _PUBLIC_NAMES.setdefault(getattr(space, attr), f"{prefix}.{attr}")
                except (TypeError, AttributeError, RuntimeError):
                    continue
    return _PUBLIC_NAMES


def operator_name(func: Any) -> str:
    """A readable public name for a torch function, method or property getter; an operator
    of ``torch.ops`` as users write it (``torch.ops._c10d_functional.all_reduce``)."""
    if isinstance(func, str):  # an operator registered by name
        return func
    if isinstance(func, OpOverload | OpOverloadPacket):
        return _ops_name(func)
    owner = getattr(func, "__self__", None)
    if owner is not None and type(owner).__name__ == "getset_descriptor":
        return f"torch.Tensor.{owner.__name__}"  # property getters arrive as Tensor.x.__get__
    try:
        name = _public_names().get(func)
    except TypeError:
        name = None
    if name is not None:
        return name
    module = getattr(func, "__module__", None) or "torch"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    return f"{module}.{qualname}"


def _ops_name(func: OpOverload | OpOverloadPacket) -> str:
    """``torch.ops.NAMESPACE.NAME`` (``.OVERLOAD`` unless it is the default overload)."""
    if isinstance(func, OpOverloadPacket):
        return "torch.ops." + func._qualified_op_name.replace("::", ".")
    schema = func._schema
    name = "torch.ops." + schema.name.replace("::", ".")
    return f"{name}.{schema.overload_name}" if schema.overload_name else name


class OperatorMode(TorchFunctionMode):
    """Prices intercepted torch calls by the operator formulas of ``table``.

    Inside a profile (``state`` given) a call counts into the innermost running module,
    and not at all while a module whose formula covers it runs. Without ``state`` every
    call counts into ``total`` and runs with all torch-function modes off, so no outer
    mode (a profile's) sees it and nothing it calls inside is counted again.
    """

    def __init__(
        self, table: Mapping[Any, OperatorFormula], state: SessionState | None = None
    ) -> None:
        super().__init__()
        self.table = table
        self.tally = state is None
        self.state = SessionState() if state is None else state
        self.total = ZERO

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if kwargs is None:
            kwargs = {}
        state = self.state
        phase = None
        if self.tally:
            with DisableTorchFunction():
                out = func(*args, **kwargs)
        else:
            out = func(*args, **kwargs)
            if state.suppress or not state.stack:
                return out
            if current_graph_task() != -1:
                # grad mode on inside backward: a checkpoint recomputing a forward; off: a
                # Python backward's own calls, which the backward's dispatch mode prices
                if not is_grad_enabled():
                    return out
                phase = "recompute"
        try:
            formula = self.table.get(func)
        except TypeError:  # an unhashable callable
            formula = None
        if formula is None and isinstance(func, OpOverload | OpOverloadPacket):
            # distributed: FSDP2's operators exist only once FSDP is imported: named formulas
            formula = self.table.get(operator_name(func))
        if formula is zero_cost:
            return out
        if formula is None:
            state.count_unsupported(operator_name(func))
            return out
        result = out
        if types:  # distributed: DTensor arguments are priced on this rank's local shards
            args, kwargs, out = _distributed.local_views(types, args, kwargs, out)
        if formula is _distributed.collective and phase is None and not self.tally:
            _distributed.record_collective(state, func, operator_name(func), args, kwargs)
        with DisableTorchFunction():
            try:
                value = formula(args, kwargs, out)
                if type(value) is not Count or value.ops < 0 or value.macs < 0:
                    value = as_count(value)
            except Exception as error:
                raise self._formula_error(func, args, kwargs, error) from error
        if self.tally:
            self.total += value
        elif phase is not None:
            ops, macs = state.phase(phase)
            index = state.stack[-1].index
            ops[index] += value.ops
            macs[index] += value.macs
        else:
            index = state.stack[-1].index
            state.ops[index] += value.ops
            state.macs[index] += value.macs
            tally = state.by_operator.get(func)
            state.by_operator[func] = (
                (value.ops, value.macs, 1)
                if tally is None
                else (tally[0] + value.ops, tally[1] + value.macs, tally[2] + 1)
            )
        return result

    def _formula_error(
        self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], error: Exception
    ) -> FormulaError:
        where = ""
        if not self.tally:
            node = self.state.stack[-1]
            who = repr(node.name) if node.name else "(root)"
            where = f" called in {who} ({node.kind.__name__})"
        return FormulaError(
            f"the formula for {operator_name(func)}{where} failed on input shapes "
            f"{list(shapes_of((args, kwargs)))}: {type(error).__name__}: {error}"
        )


def price_calls(
    registry: Registry, fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Count, list[str]]:
    """Run ``fn(*args, **kwargs)`` and price every torch call it makes by ``registry``.

    Returns the total and the public names of the functions it called that have no
    formula. Meant for formulas built from parts, which run with torch functions
    disabled: handling is switched back on for this mode only.
    """
    mode = OperatorMode(registry.operator_table())
    with EnableTorchFunction(), mode:
        fn(*args, **kwargs)
    return mode.total, list(mode.state.unsupported)
