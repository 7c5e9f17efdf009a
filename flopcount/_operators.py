"""Operator counting: torch functions called directly inside forwards.

Why a :class:`~torch.overrides.TorchFunctionMode` and not a dispatch mode: it sees calls at
the level of the public API (``F.softmax``, ``torch.matmul``, ``Tensor.add``) where the
module formulas' math lives, so ``nn.Softmax`` and ``F.softmax`` share a formula and a
fused kernel (CPU attention, ``mkldnn`` LSTM) is priced by its math rather than ignored.
While the mode handles a call it is popped off the stack, so a function's insides are
never counted twice. It is thread-local, so another thread's work is never seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from ._count import Count, as_count
from ._errors import FormulaError
from ._registry import zero_cost
from ._shapes import shapes_of

if TYPE_CHECKING:
    from ._profiler import _Session


def operator_name(func: Any) -> str:
    """A readable, stable name for a torch function, method or property getter."""
    self_obj = getattr(func, "__self__", None)
    if self_obj is not None and not isinstance(self_obj, type) and hasattr(self_obj, "__objclass__"):
        # property getters arrive as ``Tensor.shape.__get__``
        return f"torch.Tensor.{self_obj.__name__}"
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    if module in ("torch._C._VariableFunctions", "torch._C._VariableFunctionsClass") or not module:
        owner = getattr(func, "__objclass__", None)
        if owner is not None and owner.__name__ in ("TensorBase", "Tensor"):
            return f"torch.Tensor.{func.__name__}"
        module = "torch"
    if module.startswith("torch._C._nn"):
        module = "torch._C._nn"
    if module.startswith("torch._tensor") or qualname.startswith("_TensorBase."):
        return f"torch.Tensor.{qualname.split('.')[-1]}"
    return f"{module}.{qualname}"


class OperatorMode(TorchFunctionMode):
    """Counts each intercepted call into the innermost running module without a formula."""

    def __init__(self, session: _Session) -> None:
        super().__init__()
        self.session = session
        self.table = session.registry.operator_table()

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if kwargs is None:
            kwargs = {}
        out = func(*args, **kwargs)
        session = self.session
        if session.suppress or not session.stack:
            return out
        try:
            formula = self.table.get(func)
        except TypeError:  # an unhashable callable
            formula = None
        if formula is zero_cost:
            return out
        if formula is None:
            session.count_unsupported(operator_name(func))
            return out
        with torch._C.DisableTorchFunction():
            try:
                value = formula(args, kwargs, out)
            except Exception as error:
                node = session.stack[-1]
                raise FormulaError(
                    f"the formula for {operator_name(func)} called in {node.label} "
                    f"({type(node.module).__name__}) failed on input shapes "
                    f"{list(shapes_of((args, kwargs)))}: {error}"
                ) from error
        if type(value) is not Count:
            value = as_count(value)
        node = session.stack[-1]
        node.self_ops += value.ops
        node.self_macs += value.macs
        return out
