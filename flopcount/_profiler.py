"""The profiler: one global pair of module hooks, filtered to the profiled model.

Why global hooks: registering a hook on every module costs more than the hooks do
(``register_forward_hook`` + removal on a 2,000-module MLP is 0.6x of a forward by
itself). ``torch.nn.modules.module.register_module_forward_hook`` is one registration
whatever the model's size; its body looks the module up in a dict built once per
profile and returns at once for modules of other models. The pre-hook, which keeps the
stack of running modules, is global only when operator counting needs that stack; a
pure hook profile registers per-module pre-hooks only on the root and on the few
modules whose formula covers children of theirs (MultiheadAttention, a registered
user block), which is all rule 1 of the design needs.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import warnings
import weakref
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import partial
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as _nn_module

from . import _distributed
from ._check import validate_budget
from ._compat import DisableTorchFunction, current_graph_task, register_global_forward_hook
from ._count import Count, as_count
from ._errors import DryRunError, FormulaError, UnsupportedError
from ._node import Node, SessionState, module_stats, totals
from ._operators import OperatorMode, operator_name
from ._registry import DEFAULT, Registry, using, zero_cost
from ._report import OperatorStats, Report
from ._shapes import shapes_of

_MISSING: Any = object()

# The forwards of pure containers, which do no arithmetic by construction: nn.Sequential's
# calls its children in turn; nn.ModuleList's and nn.ModuleDict's are nn.Module's own,
# which raises if called. A subclass that overrides forward is not among them.
_CONTAINER_FORWARDS = (nn.Sequential.forward, nn.Module.forward)


class UnsupportedWarning(UserWarning):
    """Something ran that no formula counts; it is listed in ``Report.unsupported``."""

    __module__ = "flopcount"


def _check_model(model: object) -> None:
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            f"flopcount cannot profile a TorchScript module ({type(model).__name__}): hooks "
            "cannot see inside compiled TorchScript code; profile the eager nn.Module instead"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"flopcount.profile() expects a torch.nn.Module, got {type(model).__name__}"
        )
    # torch._dynamo is imported lazily and only ever loaded by torch.compile: no need to pay
    # for importing it here when the user never compiled anything.
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    optimized = getattr(eval_frame, "OptimizedModule", None)
    if optimized is not None and isinstance(model, optimized):
        raise TypeError(
            "flopcount cannot profile a torch.compile'd module: compiled graphs run no "
            "module hooks; profile the eager module (compiled._orig_mod) instead"
        )


class profile:  # noqa: N801 - a context manager named like contextlib's
    """Count the operations of every forward pass of ``model`` run inside the block.

    ``operators=True`` also counts torch functions called directly in forwards of
    modules without a formula (``q @ k.T``, ``F.softmax``, ``x + y``); ``False`` is the
    faster pure hook profiler. ``strict=True`` raises :class:`UnsupportedError` at the end
    of the block if anything could not be counted. ``registry`` replaces the default
    registry for this profile only.

    The ``as`` target is the :class:`Report`, filled in when the block ends.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        operators: bool = True,
        strict: bool = False,
        registry: Registry | None = None,
    ) -> None:
        _check_model(model)
        if registry is not None and not isinstance(registry, Registry):
            raise TypeError(f"registry must be a flopcount.Registry, got {type(registry).__name__}")
        for option, value in (("operators", operators), ("strict", strict)):
            if not isinstance(value, bool):
                raise TypeError(f"{option} must be True or False, got {value!r}")
        self.model = model
        self.operators = bool(operators)
        self.strict = bool(strict)
        self.registry = DEFAULT if registry is None else registry
        self.report = Report()
        self._entered = False
        self._exit_stack: ExitStack | None = None

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> Report:
        if self._entered:
            raise RuntimeError("this flopcount.profile is already active; create a new one")
        self._entered = True
        self._session = _Session(self.model, self.registry, self.operators)
        with ExitStack() as stack:
            # composite formulas price their parts through the active registry
            stack.enter_context(using(self.registry))
            self._session.install(stack)
            self._exit_stack = stack.pop_all()
        return self.report

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._exit_stack is None:
            raise RuntimeError("flopcount.profile.__exit__ called without __enter__")
        self._exit_stack.close()
        root = self._session.finish()
        state = self._session.state
        self.report._fill(
            totals(root), partial(module_stats, root), state.unsupported, state.uncounted
        )
        self.report.by_operator = _by_operator(state.by_operator)
        # distributed: collectives per module; rows named past DDP/FSDP1/checkpoint wrappers
        _distributed.finish_report(self.report, self._session.nodes, state.collectives)
        if exc_type is not None:
            return
        unsupported, uncounted = self.report.unsupported, self.report.uncounted
        if not (unsupported or uncounted):
            return
        labels = {name: self.report.describe(name) for name in (*unsupported, *uncounted)}
        if self.strict:
            raise UnsupportedError(unsupported, uncounted, labels)
        warnings.warn(_not_counted_message(unsupported, uncounted, labels), UnsupportedWarning, 2)


class _Session:
    """Hook state of one active profile: the node map, the shared state, the hooks."""

    def __init__(self, model: nn.Module, registry: Registry, operators: bool) -> None:
        self.model = model
        self.registry = registry
        self.operators = operators
        self.thread = threading.get_ident()
        self.nodes: dict[nn.Module, Node] = {}
        self.aliases: dict[tuple[Node, Node], Node] = {}
        self.state = SessionState()
        self._code_free_types: dict[type, bool] = {}
        # Building one node per module allocates a few objects per module; on a model of
        # 100,000 modules the collector's full passes over everything torch has allocated
        # made registration 5x slower than linear. Pause it for the build only.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self.root = self._add_tree(model)
        finally:
            if collecting:
                gc.enable()

    def _add_tree(self, model: nn.Module) -> Node:
        """One node per module, named exactly as ``model.named_modules()`` names it.

        Iterative pre-order walk: a module reachable twice keeps its first name.
        """
        nodes = self.nodes
        lookup = self.registry.lookup
        root = Node("", model, lookup(type(model)), None)
        nodes[model] = root
        todo: list[tuple[Node, str, nn.Module | None]] = [
            (root, name, child) for name, child in reversed(model._modules.items())
        ]
        while todo:
            parent, name, module = todo.pop()
            if module is None or module in nodes:
                continue
            qualified = f"{parent.name}.{name}" if parent.name else name
            node = Node(qualified, module, lookup(type(module)), parent)
            nodes[module] = node
            parent.add_child(node)
            if module._modules:
                todo.extend(
                    (node, child_name, child)
                    for child_name, child in reversed(module._modules.items())
                )
        return root

    def install(self, stack: ExitStack) -> None:
        self.pre_hook, post_hook = self._make_hooks()
        register_global_forward_hook(post_hook, stack)
        if self.operators:
            # every module is pushed; a formula-less leaf is counted by its operators
            stack.enter_context(_nn_module.register_module_forward_pre_hook(self.pre_hook))
            stack.enter_context(OperatorMode(self.registry.operator_table(), self.state))
            return
        code_free = self._code_free
        for node in self.nodes.values():
            if node.formula is None:
                if not code_free(type(node.module)):
                    # a leaf: nothing of it is counted; a block: its children are
                    node.unsupported = not node.children
                    node.uncounted = not node.unsupported
            elif node.children:
                stack.enter_context(
                    node.module.register_forward_pre_hook(self.pre_hook, prepend=True)
                )
        if self.root.formula is None:  # the root's push marks "inside the model" for new modules
            stack.enter_context(
                self.root.module.register_forward_pre_hook(self.pre_hook, prepend=True)
            )

    def _code_free(self, module_type: type) -> bool:
        """Whether a formula-less module type runs no arithmetic of its own, so that hooks
        alone miss nothing of it: a pure container that keeps its container's forward
        (``nn.Sequential`` calls its children in turn; ``nn.ModuleList``'s and
        ``nn.ModuleDict``'s cannot even be called), or a registered composite
        (``register_composite``: declared to be its children and nothing else)."""
        try:
            return self._code_free_types[module_type]
        except KeyError:
            pass
        forward = getattr(module_type, "forward", None)
        free = forward in _CONTAINER_FORWARDS or self.registry.covers(module_type)
        self._code_free_types[module_type] = free
        return free

    def finish(self) -> Node:
        self.state.stack.clear()
        return self.root

    # -- the hot path ----------------------------------------------------------------
    def _make_hooks(self) -> tuple[Any, Any]:
        """The two hooks as closures over locals: they run once per module call."""
        state = self.state
        nodes_get = self.nodes.get
        stack = state.stack
        thread = self.thread
        get_ident = threading.get_ident
        add_dynamic = self._add_dynamic
        place = self._place
        graph_task = current_graph_task
        first_call, evaluate = self._first_call, self._evaluate
        if self.operators:  # shape reads and formulas must not reach the operator mode
            first_call, evaluate = _guarded(first_call), _guarded(evaluate)

        def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            node = nodes_get(module)
            if node is None:
                if not stack or get_ident() != thread:
                    return
                node = add_dynamic(module)
            elif get_ident() != thread:
                return
            if stack:
                caller = stack[-1]
                if caller is not node.parent and node.trusted is not caller:
                    node = place(node, caller)
            stack.append(node)
            if node.formula is not None:
                state.suppress += 1

        def post_hook(
            module: nn.Module, args: tuple[Any, ...], kwargs: Any, output: Any = _MISSING
        ) -> None:
            node = nodes_get(module)
            if node is None:
                if not stack or get_ident() != thread:
                    return
                node = add_dynamic(module)
            elif get_ident() != thread:
                return
            if stack:  # only pushed nodes are ever on the stack
                top = stack[-1]
                if top is node or top.original is node:
                    node = stack.pop()  # the alias, when a non-owner called the module
                    if node.formula is not None:
                        state.suppress -= 1
            if output is _MISSING:  # the forward raised (always_call hooks get no kwargs then)
                if state.raised_in is None:
                    state.raised_in = node
                return
            if state.suppress or graph_task() != -1:
                return  # inside a graph task: checkpointing recomputes a forward in backward
            calls = node.calls = node.calls + 1
            if calls == 1:
                first_call(node, args, kwargs, output)
            formula = node.formula
            if formula is None:
                if node.unsupported:
                    state.count_unsupported(node.name)
                elif node.uncounted:
                    state.count_uncounted(node.name)
            elif formula is zero_cost:
                return
            else:
                evaluate(node, module, args, kwargs, output)

        return pre_hook, post_hook

    def _first_call(
        self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        if len(args) == 1 and not kwargs and type(args[0]) is torch.Tensor:
            node.shapes = (args[0].shape,)  # the common case; torch.Size is an immutable tuple
        else:
            node.shapes = shapes_of((args, kwargs))
            # distributed: a module computing on DTensors is priced on its local shards
            _distributed.localize_on_first_call(node, args, kwargs, output)

    def _evaluate(
        self,
        node: Node,
        module: nn.Module,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        output: Any,
    ) -> None:
        if kwargs:
            args = _bind(module, args, kwargs)
        try:
            value = node.formula(module, args, output)  # type: ignore[misc]
        except Exception as error:
            raise self.formula_error(node, module, args, error) from error
        if type(value) is not Count or value.ops < 0 or value.macs < 0:
            value = self.checked(node, module, args, value)
        node.self_ops += value.ops
        node.self_macs += value.macs

    def formula_error(
        self, node: Node, module: nn.Module, args: tuple[Any, ...], error: Exception
    ) -> FormulaError:
        who = repr(node.name) if node.name else "(root)"
        return FormulaError(
            f"the formula for {who} ({type(module).__name__}) failed on input "
            f"shapes {list(shapes_of(args))}: {type(error).__name__}: {error}"
        )

    def checked(self, node: Node, module: nn.Module, args: tuple[Any, ...], value: Any) -> Count:
        """A formula's ``int`` (or bad) return value as a :class:`Count`, or a FormulaError."""
        try:
            return as_count(value)
        except (TypeError, ValueError) as error:
            raise self.formula_error(node, module, args, error) from error

    def _place(self, node: Node, caller: Node) -> Node:
        """The row a call of ``node``'s module from ``caller`` counts into.

        Called by one of its ancestors (a model calling ``self.layers[0]`` through a
        ModuleList it owns): its own row. Called from a block that does not own it (a
        module shared by the root and a block): an alias row under the caller, named
        ``caller.<name>``, so the calling block's row holds the work and rows still add
        up (self + children); the alias's own children mirror the module's.
        """
        owner = caller.original or caller
        ancestor = node.parent
        while ancestor is not None and ancestor is not owner:
            ancestor = ancestor.parent
        if ancestor is owner and caller.original is None:
            node.trusted = caller
            return node
        key = (node, caller)
        alias = self.aliases.get(key)
        if alias is None:
            if ancestor is owner:  # inside an alias: mirror the module's own subtree
                suffix = node.name[len(owner.name) + 1 :] if owner.name else node.name
                name = f"{caller.name}.{suffix}"
            else:
                name = f"{caller.name}.<{node.name}>" if caller.name else f"<{node.name}>"
            alias = Node(name, node.module, node.formula, caller)
            alias.original = node
            alias.unsupported, alias.uncounted = node.unsupported, node.uncounted
            caller.add_child(alias)
            self.aliases[key] = alias
        return alias

    def _add_dynamic(self, module: nn.Module) -> Node:
        """A module the model creates or swaps in during forward: a child of the caller."""
        parent = self.state.stack[-1]
        index = sum(1 for c in parent.children if c.dynamic)
        prefix = parent.name + "." if parent.name else ""
        node = Node(
            f"{prefix}<{type(module).__name__}#{index}>",
            module,
            self.registry.lookup(type(module)),
            parent,
        )
        node.dynamic = True
        if node.formula is None and not self.operators and not self._code_free(type(module)):
            # as for the modules built with the tree: a leaf is unsupported, a block uncounted
            node.unsupported = not module._modules
            node.uncounted = not node.unsupported
        parent.add_child(node)
        self.nodes[module] = node
        return node


def _by_operator(counted: Mapping[Any, tuple[int, int, int]]) -> dict[str, OperatorStats]:
    """Per public name (``torch.matmul``), heaviest first."""
    named: dict[str, OperatorStats] = {}
    for function, (ops, macs, calls) in counted.items():
        name = operator_name(function)
        seen = named.get(name, OperatorStats(0, 0, 0))
        named[name] = OperatorStats(seen.ops + ops, seen.macs + macs, seen.calls + calls)
    return dict(sorted(named.items(), key=lambda item: -item[1].ops))


def _not_counted_message(
    unsupported: Mapping[str, int], uncounted: Mapping[str, int], labels: Mapping[str, str]
) -> str:
    def listed(names: Mapping[str, int]) -> str:
        shown = ", ".join(labels[name] for name in sorted(names)[:8])
        return shown + ("" if len(names) <= 8 else f" and {len(names) - 8} more")

    parts = []
    if unsupported:
        parts.append(f"flopcount could not count {listed(unsupported)}; see Report.unsupported")
    if uncounted:
        parts.append(
            f"with operators=False flopcount cannot see the own code of {listed(uncounted)} "
            "(only their children are counted); see Report.uncounted"
        )
    return "; ".join(parts)


def _guarded(method: Any) -> Any:
    """``method`` run with torch-function modes (our operator mode among them) switched off."""

    def run(*args: Any) -> None:
        with DisableTorchFunction():
            method(*args)

    return run


_SIGNATURES: dict[type, Any] = {}


def _bind(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Positional view of a call made with keyword arguments, in ``forward``'s order."""
    import inspect

    cls = type(module)
    signature = _SIGNATURES.get(cls)
    if signature is None:
        signature = _SIGNATURES[cls] = inspect.signature(module.forward)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return tuple(bound.arguments.values())


def count(
    model: nn.Module,
    *args: Any,
    operators: bool = True,
    strict: bool = False,
    registry: Registry | None = None,
    dry_run: bool = False,
    **kwargs: Any,
) -> Report:
    """Run ``model(*args, **kwargs)`` once under :class:`profile` and return the report.

    ``dry_run=True`` counts without computing: parameters, buffers and inputs are replaced
    by fake tensors (shapes and dtypes, no data) for the duration of the call, so the
    arithmetic never runs, no memory is allocated for activations, and the model's own
    tensors are never written (a training-mode BatchNorm does not update its statistics).
    Formulas only read shapes, so the counts equal a real run's unless the forward branches
    on tensor values (fake tensors have none); an operation whose output shape depends on
    values stops the dry run with :class:`DryRunError`. Python attributes the forward sets
    are restored afterwards.
    ``operators``, ``strict``, ``registry`` and ``dry_run`` are reserved keyword names.
    """
    session = profile(model, operators=operators, strict=strict, registry=registry)
    with session as report:
        if not dry_run:
            model(*args, **kwargs)
        else:
            try:
                _run_fake(model, args, kwargs)
            except Exception as error:
                node = session._session.state.raised_in
                where = f"{node.label} ({type(node.module).__name__})" if node else "the model"
                if isinstance(error, _data_dependent_errors()):
                    raise DryRunError(
                        f"dry_run cannot count {where}: {_operation(error)} needs tensor values "
                        "(its output depends on them) and a dry run has none; count this model "
                        "without dry_run=True"
                    ) from error
                operation = _fake_kernel_operation(error)
                if operation is None:
                    raise  # the model's own error, as a real run would raise it
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise DryRunError(
                    f"dry_run cannot count {where}: the fake-tensor kernel of {operation} "
                    f"refused it ({type(error).__name__}: {first_line}); count this model "
                    "without dry_run=True"
                ) from error
    return report


def _data_dependent_errors() -> tuple[type[Exception], ...]:
    """What fake tensors raise for an operation whose result needs real values."""
    from torch._subclasses import fake_tensor

    names = (
        "DynamicOutputShapeException",
        "DataDependentOutputException",
        "UnsupportedOperatorException",
    )
    found = tuple(getattr(fake_tensor, name, None) for name in names)
    from torch.fx.experimental import symbolic_shapes

    guard = getattr(symbolic_shapes, "GuardOnDataDependentSymNode", None)
    return tuple(e for e in (*found, guard) if isinstance(e, type))


def _fake_kernel_operation(error: BaseException) -> str | None:
    """The operator whose fake (meta) kernel raised ``error``, or None when the error was
    not raised inside fake-tensor dispatch (then it is the model's own)."""
    tb = error.__traceback__
    operation = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.endswith(("fake_tensor.py", "_meta_registrations.py")):
            func = tb.tb_frame.f_locals.get("func")
            if func is not None and operation is None:
                operation = str(func)
        tb = tb.tb_next
    return operation


def _operation(error: Exception) -> str:
    func = error.args[0] if error.args else None
    if func is None or isinstance(func, str):  # a guard's message, not an operator
        return f"an operation ({type(error).__name__})"
    return f"the operation {func}"  # an OpOverload prints as aten.nonzero.default


@contextmanager
def budget(
    model: nn.Module,
    *,
    max_ops: float | None = None,
    max_macs: float | None = None,
    modules: Mapping[str, float] | None = None,
    operators: bool = True,
    strict: bool = False,
    registry: Registry | None = None,
) -> Iterator[Report]:
    """Profile the block and raise :class:`BudgetExceeded` at its end if over budget.

    An exception raised by the block itself propagates unchanged (no budget check then).
    """
    validate_budget(max_ops, max_macs, modules)
    with profile(model, operators=operators, strict=strict, registry=registry) as report:
        yield report
    report.check(max_ops=max_ops, max_macs=max_macs, modules=modules)


_FAKE_STATES: weakref.WeakKeyDictionary[nn.Module, tuple[Any, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
"""Per model: its fake-tensor mode and the fakes of its parameters and buffers."""


def _run_fake(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    from itertools import chain

    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.func import functional_call
    from torch.utils._pytree import tree_map_only

    cached = _FAKE_STATES.get(model)
    if cached is None:
        cached = _FAKE_STATES[model] = (FakeTensorMode(allow_non_fake_inputs=True), {})
    mode, fakes = cached
    tensors = chain(
        model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False)
    )
    state: dict[str, torch.Tensor] = {}
    for name, tensor in tensors:
        # Converting a tensor costs ~0.3 ms (half of a ResNet-50 dry run): keep the fake of
        # every parameter and buffer whose metadata has not changed since the last dry run.
        key = (id(tensor), tensor.shape, tensor.stride(), tensor.dtype, tensor.requires_grad)
        found = fakes.get(name)
        if found is None or found[0] != key or found[1].shape != tensor.shape:
            found = fakes[name] = (key, mode.from_tensor(tensor))
        state[name] = found[1]
    fake_args, fake_kwargs = tree_map_only(torch.Tensor, mode.from_tensor, (args, kwargs))
    saved = _save_attributes(model)
    # fake tensors log a traceback before raising when a meta kernel refuses an input; the
    # error itself reaches the caller, once
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")
    level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)
    try:
        with mode:
            functional_call(model, state, fake_args, fake_kwargs, strict=False)
    finally:
        fake_log.setLevel(level)
        _restore_attributes(saved)


# functional_call swaps and restores these itself
_SWAPPED = frozenset(("_parameters", "_buffers"))
_Saved = list[tuple[nn.Module, dict[str, Any], dict[str, Any]]]


def _save_attributes(model: nn.Module) -> _Saved:
    """Every module's Python attributes, and the contents of those that are containers:
    a dry run's forward may set a flag (RWKV's ``layers_are_rescaled``) that only the
    fake tensors' state would justify."""
    saved: _Saved = []
    for module in model.modules():
        attributes = {k: v for k, v in vars(module).items() if k not in _SWAPPED}
        contents = {k: v.copy() for k, v in attributes.items() if isinstance(v, (list, dict, set))}
        saved.append((module, attributes, contents))
    return saved


def _restore_attributes(saved: _Saved) -> None:
    """Rebind what was rebound, drop what was added, refill containers in place (hook
    handles hold their dicts by reference, so a dict is never replaced by a copy)."""
    for module, attributes, contents in saved:
        current = vars(module)
        for key in [k for k in current if k not in attributes and k not in _SWAPPED]:
            del current[key]
        for key, value in attributes.items():
            if current.get(key, _MISSING) is not value:
                current[key] = value
            before = contents.get(key)
            if before is not None and not _same_items(value, before):
                value.clear()
                if isinstance(value, list):
                    value.extend(before)
                else:
                    value.update(before)


def _same_items(now: Any, before: Any) -> bool:
    """Item by item identity: ``==`` on containers of tensors would compare tensors."""
    if len(now) != len(before):
        return False
    if isinstance(now, dict):
        return all(k in now and now[k] is v for k, v in before.items())
    if isinstance(now, set):
        return all(any(x is y for y in now) for x in before)
    return all(x is y for x, y in zip(now, before, strict=True))
