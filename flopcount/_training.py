"""Training steps: the backward pass, checkpoint recomputation and the optimizer step.

How a backward operation finds its module, without a hook on the autograd graph:
autograd numbers every node it creates, per thread, in creation order
(``torch._C._autograd._get_sequence_nr()`` reads the next number). The module hooks read
that counter when a module starts and when it returns, so each module call owns an
interval of node numbers, nested like the calls themselves. During backward a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every ATen operation the
engine runs, asks which node is running (``torch._C._current_autograd_node()``) and
charges the operation to the innermost module whose interval holds that node's number.
A module with a formula owns its descendants' intervals (rule 1, as in the forward).
Accumulating a parameter's gradient (``AccumulateGrad``, numbered apart) goes to the
module that owns the parameter. Nodes made outside the profiled model (the loss) are not
counted, as their forward is not.

The dispatch mode is pushed when the first forward that built a graph returns (a forward
under ``no_grad`` never pays for it), counts only inside an autograd graph task with grad
mode off (a checkpoint's recomputation runs with grad mode on, and is counted by the
module hooks as ``recompute`` instead), and is popped when the block ends. It reads no
tensor values: no host-device synchronisation. Nothing is attached to the graph or to the
model, so a backward run after the block is not counted and finds nothing of flopcount.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ._compat import current_autograd_node, current_graph_task, next_autograd_number
from ._count import Count, as_count
from ._errors import FormulaError
from ._registry import zero_cost
from ._shapes import shapes_of

if TYPE_CHECKING:
    from torch import nn

    from ._node import Node, SessionState
    from ._registry import OperatorFormula

_ACCUMULATE = "AccumulateGrad"


def next_node_number() -> int:
    """The number autograd gives the next node it creates on this thread."""
    return int(next_autograd_number())


class Intervals:
    """Which module call created autograd node number ``n``: the innermost recorded
    interval ``[start, end)`` holding ``n``. Built into a sorted paint on first lookup."""

    def __init__(self) -> None:
        self.recorded: list[tuple[int, int, int]] = []  # (start, end, node index)
        self._starts: list[int] = []
        self._owners: list[int] = []  # node index from each start on, -1 for none
        self._painted = 0

    def add(self, start: int, end: int, index: int) -> None:
        if end > start:
            self.recorded.append((start, end, index))

    def owner(self, number: int) -> int:
        if self._painted != len(self.recorded):
            self._paint()
        at = bisect.bisect_right(self._starts, number) - 1
        return self._owners[at] if at >= 0 else -1

    def _paint(self) -> None:
        """Lay the intervals on the number line, outer first so inner ones paint over."""
        order = sorted(self.recorded, key=lambda item: (item[0], -item[1]))
        bounds: dict[int, int] = {}
        # a sweep with a stack of open intervals: at each boundary, the innermost open one
        events = sorted({point for start, end, _ in order for point in (start, end)})
        opened: list[tuple[int, int, int]] = []
        position = 0
        for point in events:
            while position < len(order) and order[position][0] == point:
                opened.append(order[position])
                position += 1
            opened = [item for item in opened if item[1] > point]
            # nested calls: the innermost open one starts last and, from the same
            # number, ends first
            bounds[point] = max(opened, key=lambda item: (item[0], -item[1]))[2] if opened else -1
        self._starts = list(bounds)
        self._owners = list(bounds.values())
        self._painted = len(self.recorded)


class BackwardMode(TorchDispatchMode):
    """Prices every ATen operation of a backward pass into its module's backward phase."""

    def __init__(self, training: Training) -> None:
        super().__init__()
        self.training = training

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        training = self.training
        if training.active and current_graph_task() != -1 and not torch.is_grad_enabled():
            training.price(func, args, kwargs, out)
        return out


class Training:
    """The training-step side of one profile: intervals, the backward mode, the optimizer
    hook; it counts into the profile's :class:`SessionState` phases."""

    def __init__(
        self,
        state: SessionState,
        order: list[Node],
        table: Mapping[Any, OperatorFormula],
        optimizer_formula: Callable[[Any, Any, Any], Count],
    ) -> None:
        self.state = state
        self.order = order
        self.table = table
        self.optimizer_formula = optimizer_formula
        self.intervals = Intervals()
        self.active = True
        self.mode: BackwardMode | None = None
        self._owners: dict[int, int] | None = None  # id(parameter) -> node index

    # -- backward ------------------------------------------------------------------
    def price(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        index = self.owner_of_running_node()
        if index < 0:
            return
        formula = self.table.get(func)
        if formula is None:
            formula = self.table.get(getattr(func, "overloadpacket", None))
        if formula is zero_cost:
            return
        state = self.state
        if formula is None:
            state.count_unsupported(_aten_name(func))
            return
        try:
            value = formula(args, kwargs, out)
            if type(value) is not Count or value.ops < 0 or value.macs < 0:
                value = as_count(value)
        except Exception as error:
            node = self.order[index] if index < len(self.order) else None
            where = f" in the backward of {node.label!r}" if node is not None else ""
            raise FormulaError(
                f"the formula for {_aten_name(func)}{where} failed on input shapes "
                f"{list(shapes_of((args, kwargs)))}: {type(error).__name__}: {error}"
            ) from error
        ops, macs = state.phase("backward")
        ops[index] += value.ops
        macs[index] += value.macs

    def owner_of_running_node(self) -> int:
        """Node index of the module whose forward made the autograd node now running."""
        node = current_autograd_node()
        if node is None:
            return -1
        if type(node).__name__ == _ACCUMULATE:
            variable = getattr(node, "variable", None)
            return -1 if variable is None else self.owner_of_parameter(variable)
        return self.intervals.owner(node._sequence_nr())

    def owner_of_parameter(self, parameter: torch.Tensor) -> int:
        if self._owners is None:
            self._owners = {}
            for node in self.order:
                module: nn.Module | None = node.module
                if module is None:
                    continue
                for tensor in module._parameters.values():
                    if tensor is not None:
                        self._owners.setdefault(id(tensor), self.covering_index(node))
        return self._owners.get(id(parameter), -1)

    def covering_index(self, node: Node) -> int:
        """The outermost ancestor with a formula (it covers ``node``), else ``node``."""
        found = node
        ancestor = node.parent
        while ancestor is not None:
            if ancestor.formula is not None:
                found = ancestor
            ancestor = ancestor.parent
        return found.index

    # -- optimizer -----------------------------------------------------------------
    def optimizer_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        """Global optimizer pre-hook: price the step per parameter, into its module."""
        if not self.active:
            return
        ops, macs = self.state.phase("optimizer")
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                index = self.owner_of_parameter(parameter)
                if index < 0:
                    continue
                value = self.optimizer_formula(optimizer, group, parameter)
                ops[index] += value.ops
                macs[index] += value.macs


def _aten_name(func: Any) -> str:
    """``torch.ops.aten.mm.default`` as users write it."""
    return f"torch.ops.{func}" if not str(func).startswith("torch.") else str(func)
