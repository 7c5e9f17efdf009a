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
import operator
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from functools import partial
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as _nn_module

from . import _distributed
from ._check import validate_budget
from ._compat import (
    DisableTorchFunction,
    current_graph_task,
    dispatch_stack_length,
    function_stack_at,
    function_stack_length,
    pop_function_mode,
    push_function_mode,
    register_global_forward_hook,
    register_optimizer_step_pre_hook,
    remove_dispatch_mode,
)
from ._count import Count, as_count
from ._errors import DryRunError, FormulaError, UnsupportedError
from ._fingerprint import Fingerprint
from ._node import Node, SessionState, module_stats
from ._operators import OperatorMode, operator_name
from ._registry import DEFAULT, Registry, using, zero_cost
from ._report import OperatorStats, Report, Step
from ._shapes import shapes_of
from ._training import BackwardMode, Training, next_node_number

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
        session = self._session
        root, state = session.finish()
        self.report._fill(
            state.phase_totals(),
            partial(module_stats, root, state),
            state.unsupported,
            state.uncounted,
        )
        self.report.by_operator = _by_operator(state.by_operator)
        self.report.steps = [Step(ops, macs, shapes) for ops, macs, shapes in state.steps]
        # distributed: collectives per module; rows named past DDP/FSDP1/checkpoint wrappers
        _distributed.finish_report(self.report, self.model, session.nodes, state.collectives)
        if exc_type is not None:
            return
        unsupported, uncounted = self.report.unsupported, self.report.uncounted
        if not (unsupported or uncounted):
            return
        if self.strict:
            labels = session.labels((*unsupported, *uncounted))
            raise UnsupportedError(unsupported, uncounted, labels)
        message = session.not_counted_message(unsupported, uncounted)
        warnings.warn(message, UnsupportedWarning, 2)


class _Tree:
    """A model's node tree, kept between profiles while nothing it depends on changed.

    Building it is one node per module; on a model profiled every step (training, decoding)
    that was most of a profile's fixed cost. It is reused while the registry is the same
    object at the same version and every module still has the same children under the
    same names. It never holds the model itself (the root node's module is set only while a
    profile runs), so a cache keyed weakly by the model lets the model be freed.
    """

    def __init__(self, model: nn.Module, registry: Registry) -> None:
        self.registry = registry
        self.version = registry.version
        self.nodes: dict[nn.Module, Node] = {}  # every module but the root
        self.order: list[Node] = []  # by index
        self.busy = False
        self.operators: bool | None = None  # the mode the per-mode flags were set for
        self.covering: list[Node] = []  # nodes whose formula covers children of theirs
        self._kinds: dict[str, str] | None = None
        self.messages: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        # Building one node per module allocates a few objects per module; on a model of
        # 100,000 modules the collector's full passes over everything torch has allocated
        # made the build 5x slower than linear. Pause it for the build only.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self.root = self._build(model)
        finally:
            if collecting:
                gc.enable()
        # what ``fits`` compares, read without an attribute lookup per module: each
        # module's children dict (kept), against a copy of it (``==`` on dicts is one C
        # call; modules compare by identity); the modules that had none, still none
        self.children = [module._modules for module in self.nodes if module._modules]
        self.copies = [dict(children) for children in self.children]
        self.leaves = [module._modules for module in self.nodes if not module._modules]
        self.root_children = dict(model._modules)
        self.root.module = None
        # nodes whose formula's counts are memoised (zero-cost ones never are)
        self.memoised = [node for node in self.order if node.formula not in (None, zero_cost)]

    def _build(self, model: nn.Module) -> Node:
        """One node per module, named exactly as ``model.named_modules()`` names it.

        Iterative pre-order walk: a module reachable twice keeps its first name.
        """
        nodes, order = self.nodes, self.order
        lookup = self.registry.lookup
        root = Node("", model, lookup(type(model)), None, 0)
        order.append(root)
        todo: list[tuple[Node, str, nn.Module | None]] = [
            (root, name, child) for name, child in reversed(model._modules.items())
        ]
        while todo:
            parent, name, module = todo.pop()
            if module is None or module is model or module in nodes:
                continue
            qualified = f"{parent.name}.{name}" if parent.name else name
            node = Node(qualified, module, lookup(type(module)), parent, len(order))
            nodes[module] = node
            order.append(node)
            parent.add_child(node)
            if module._modules:
                todo.extend(
                    (node, child_name, child)
                    for child_name, child in reversed(module._modules.items())
                )
        return root

    def release(self) -> None:
        """Drop every reference to the model's modules and tensors: the nodes link to each
        other (parents, children), so without this the submodules of a deleted model would
        wait for the cycle collector. Reports keep the names and types they need."""
        self.nodes.clear()
        self.children = self.copies = self.leaves = []
        self.memoised = []
        for node in self.order:
            node.module = None
            node.memo = node.fingerprint = None

    def check_fingerprints(self) -> None:
        """When a profile starts: forget the memo of every module rebound since its memo was
        filled (a new stride, ``dim``, weight...). One pass over the tree, so the hot path
        does not pay for it; see :meth:`_Session._first_call` for changes inside a block."""
        for node in self.memoised:
            known = node.fingerprint
            if known is not None and not known.matches(node.module):
                node.fingerprint = node.memo = None

    def kinds(self) -> dict[str, str]:
        """Type name of every module by qualified name (a copy; built once per tree)."""
        if self._kinds is None:
            self._kinds = {node.name: node.kind.__name__ for node in self.order}
        return dict(self._kinds)

    def fits(self, model: nn.Module, registry: Registry) -> bool:
        """Whether this tree still describes ``model`` under ``registry``."""
        if self.busy or registry is not self.registry or registry.version != self.version:
            return False
        if model._modules != self.root_children or any(self.leaves):
            return False
        return all(map(operator.eq, self.children, self.copies))


_TREES: dict[int, _Tree] = {}
"""The node tree of each model profiled, by ``id(model)``; an entry goes when its model
does (a ``weakref.finalize``), and takes its references to the submodules with it."""


def _tree_of(model: nn.Module, registry: Registry) -> _Tree:
    key = id(model)
    tree = _TREES.get(key)
    if tree is not None and tree.fits(model, registry):
        return tree
    if tree is None:
        weakref.finalize(model, _forget_tree, key)
    elif not tree.busy:
        tree.release()
    tree = _TREES[key] = _Tree(model, registry)
    return tree


def _forget_tree(key: int) -> None:
    tree = _TREES.pop(key, None)
    if tree is not None:
        tree.release()


class _Session:
    """Hook state of one active profile: the model's node tree, this profile's counters
    (:class:`SessionState`), the hooks."""

    def __init__(self, model: nn.Module, registry: Registry, operators: bool) -> None:
        self.model = model
        self.registry = registry
        self.operators = operators
        self.thread = threading.get_ident()
        tree = self.tree = _tree_of(model, registry)
        tree.busy = True
        self.root = tree.root
        self.root.module = model
        self.nodes = tree.nodes
        self.nodes[model] = self.root
        tree.check_fingerprints()
        self.dynamic: list[nn.Module] = []
        self.aliases: dict[tuple[Node, Node], Node] = {}
        self.state = SessionState(len(tree.order))
        self.dispatch_depth = dispatch_stack_length()
        self.mode: OperatorMode | None = None
        self.mode_off = False  # the operator mode is popped while a formula module runs
        self.replay: Node | None = None  # the outermost module a checkpoint recomputes
        self.replay_pushed = False
        self._code_free_types: dict[type, bool] = {}
        # a training step is possible: count backward, recomputation and optimizer steps
        self.training: Training | None = None
        if torch.is_grad_enabled() and any(p.requires_grad for p in model.parameters()):
            self.training = Training(
                self.state, tree.order, registry.operator_table(), self._optimizer_count
            )

    def install(self, stack: ExitStack) -> None:
        stack.callback(self._release)
        self.pre_hook, post_hook = self._make_hooks()
        register_global_forward_hook(post_hook, stack)
        tree = self.tree
        if tree.operators is not self.operators:
            self._set_flags()
        if self.training is not None:
            stack.callback(self._end_training)
            stack.enter_context(register_optimizer_step_pre_hook(self.training.optimizer_step))
        if self.operators or self.training is not None:
            # every module is pushed; a formula-less leaf is counted by its operators
            stack.enter_context(_nn_module.register_module_forward_pre_hook(self.pre_hook))
        if self.operators:
            self.mode = OperatorMode(self.registry.operator_table(), self.state)
            stack.enter_context(self.mode)
            stack.callback(self._restore_mode)  # runs before the mode's own exit
            return
        if self.training is not None:  # the global pre-hook above pushes every module
            return
        for node in tree.covering:
            stack.enter_context(node.module.register_forward_pre_hook(self.pre_hook, prepend=True))  # type: ignore[union-attr]
        if self.root.formula is None:  # the root's push marks "inside the model" for new modules
            stack.enter_context(self.model.register_forward_pre_hook(self.pre_hook, prepend=True))

    def _set_flags(self) -> None:
        """Per-mode facts of the tree's nodes, set when the mode differs from last time.

        Hooks only: a formula-less leaf is unsupported (nothing of it is counted) and a
        formula-less block that runs code of its own is uncounted (its children are);
        the blocks whose formula covers children of theirs get a pre-hook. With operators
        every module is pushed and counted by its torch calls: no flags."""
        tree = self.tree
        code_free = self._code_free
        tree.covering = []
        for node in tree.order:
            node.unsupported = node.uncounted = False
            if self.operators:
                continue
            if node.formula is None:
                if not code_free(node.kind):
                    node.unsupported = not node.children
                    node.uncounted = not node.unsupported
            elif node.children and node is not self.root:
                tree.covering.append(node)
        if not self.operators and self.root.formula is not None and self.root.children:
            tree.covering.append(self.root)
        tree.operators = self.operators

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

    def start_replay(self, node: Node) -> None:
        """A module starts during backward: activation checkpointing recomputes it. The
        autograd engine runs it without the caller's torch-function modes, so put the
        operator mode back for the call (its own torch calls count as ``recompute``)."""
        self.replay = node
        mode = self.mode
        length = function_stack_length()
        self.replay_pushed = not (length and function_stack_at(length - 1) is mode)
        if self.replay_pushed:
            push_function_mode(mode)

    def end_replay(self) -> None:
        if self.replay_pushed:
            pop_function_mode(self.mode)
        self.replay = None
        self.replay_pushed = False

    def await_backward(self) -> None:
        """The model returned to the block: if it built an autograd graph, a backward may
        follow; push the mode that counts it (once), unless the user's own dispatch mode
        entered since the block began would sit under it."""
        training = self.training
        if training is None or not training.intervals.recorded:
            return
        if dispatch_stack_length() != self.dispatch_depth:
            return
        training.mode = BackwardMode(training)
        training.mode.__enter__()

    def _end_training(self) -> None:
        """Stop counting training work and take the backward mode off the stack (a mode
        the user entered after it stays where it was)."""
        training = self.training
        if training is None:
            return
        training.active = False
        if training.mode is not None:
            remove_dispatch_mode(training.mode)
            training.mode = None  # mode and training refer to each other

    def _optimizer_count(self, optimizer: Any, group: Mapping[str, Any], parameter: Any) -> Count:
        """One step of ``optimizer`` on ``parameter``, by the optimizer's registered formula
        (``register_optimizer``); an optimizer without one is named in ``unsupported``."""
        from . import _registry

        lookup = getattr(_registry, "lookup_optimizer", None)
        formula = lookup(type(optimizer)) if lookup is not None else None
        if formula is None:
            kind = type(optimizer)
            self.state.count_unsupported(f"{kind.__module__}.{kind.__qualname__}.step")
            return Count(0)
        first_step = not optimizer.state.get(parameter)
        return as_count(formula(group, parameter.numel(), first_step))

    def _restore_mode(self) -> None:
        """Put the operator mode back on the stack if a forward raised while it was off."""
        if self.mode_off:
            push_function_mode(self.mode)
            self.mode_off = False

    def _release(self) -> None:
        """Give the tree back for the next profile: without the model and this profile's
        modules built during forward (the report keeps what it needs of them)."""
        for module in self.dynamic:
            self.nodes.pop(module, None)
        self.nodes.pop(self.model, None)
        self.dynamic.clear()
        self.tree.busy = False
        self.pre_hook = None  # the hooks close over this session: no cycle outlives it
        self.training = None  # its optimizer formula is a method of this session

    def finish(self) -> tuple[Node, SessionState]:
        self.state.stack.clear()
        root = self.root
        root.module = None
        return root, self.state

    def not_counted_message(
        self, unsupported: Mapping[str, int], uncounted: Mapping[str, int]
    ) -> str:
        """The warning for what this profile could not count; a model profiled every step
        usually misses the same modules each time, so the tree keeps the text."""
        key = (tuple(unsupported), tuple(uncounted))
        messages = self.tree.messages
        mine = bool(self.state.extra)  # names of this profile's own nodes may not recur
        message = None if mine else messages.get(key)
        if message is None:
            labels = self.labels(key[0] + key[1])
            message = _not_counted_message(unsupported, uncounted, labels)
            if not mine:
                messages[key] = message
        return message

    def labels(self, names: Iterable[str]) -> dict[str, str]:
        """How messages name each of ``names``: ``'encoder.0' (Block)``, ``(root) (Model)``;
        an operator (no module of that name) by its public name."""
        kinds = self.tree.kinds()
        for added in self.state.extra.values():
            kinds.update((node.name, node.kind.__name__) for node in added)
        return {
            name: f"{repr(name) if name else '(root)'} ({kinds[name]})" if name in kinds else name
            for name in names
        }

    # -- the hot path ----------------------------------------------------------------
    def _make_hooks(self) -> tuple[Any, Any]:
        """The two hooks as closures over locals: they run once per module call."""
        state = self.state
        nodes_get = self.nodes.get
        stack = state.stack
        calls = state.calls
        thread = self.thread
        get_ident = threading.get_ident
        add_dynamic = self._add_dynamic
        place = self._place
        graph_task = current_graph_task
        first_call, evaluate, end_step = self._first_call, self._evaluate, self._end_step
        operators = self.operators
        if operators:  # shape reads must not reach the operator mode
            first_call, end_step = _guarded(first_call), _guarded(end_step)
        pop_mode, push_mode = pop_function_mode, push_function_mode
        session = self
        root = self.root
        training = self.training
        starts = state.starts
        next_number = next_node_number
        replaying = operators and training is not None
        forward_ops, forward_macs = state.ops, state.macs
        shapes = state.shapes
        memo_get = dict.get
        Tensor = torch.Tensor  # noqa: N806 - a local alias read on every call

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
            if training is not None:
                starts.append(next_number())
                if replaying and session.replay is None and graph_task() != -1:
                    session.start_replay(node)
            if node.formula is not None:
                state.suppress += 1
                # the formula covers everything inside: nothing in it needs intercepting
                if operators and state.suppress == 1:
                    session.mode_off = pop_mode(session.mode)

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
            resume = False
            if stack:  # only pushed nodes are ever on the stack
                top = stack[-1]
                if top is node or top.original is node:
                    node = stack.pop()  # the alias, when a non-owner called the module
                    if node.formula is not None:
                        state.suppress -= 1
                        resume = not state.suppress and session.mode_off
                    if training is not None:  # the autograd nodes this call made are its own
                        start = starts.pop()
                        if not state.suppress:
                            training.intervals.add(start, next_number(), node.index)
            try:
                if output is _MISSING:  # the forward raised (always_call hooks get no kwargs)
                    if state.raised_in is None:
                        state.raised_in = node
                    return
                if state.suppress:
                    return
                # the memo's key: the shapes of a call with one plain tensor in and one out
                # (the output's only where it may not follow from the input's: Fingerprint)
                key: tuple[torch.Size, torch.Size | None] | None = None
                if type(output) is Tensor and not kwargs and len(args) == 1:
                    if type(args[0]) is Tensor:
                        known = node.fingerprint
                        try:
                            if known is not None and known.by_input:
                                key = (args[0].shape, None)
                            else:
                                key = (args[0].shape, output.shape)
                        except RuntimeError:  # a nested tensor has no single shape
                            pass
                if graph_task() != -1:  # checkpointing recomputes a forward during backward
                    if node.formula is not None and node.formula is not zero_cost:
                        evaluate(node, module, args, kwargs, output, key, "recompute")
                    return
                index = node.index
                count = calls[index] = calls[index] + 1
                formula = node.formula
                if count == 1:
                    known = node.fingerprint
                    if key is not None and known is not None and known.still(module):
                        shapes[index] = (key[0],)  # the usual first call, inline: memo valid
                    else:
                        first_call(node, module, args, kwargs, output, key)
                        formula = node.formula  # a DTensor module's is wrapped on its shards
                if formula is None:
                    if node.unsupported:
                        state.count_unsupported(node.name)
                    elif node.uncounted:
                        state.count_uncounted(node.name)
                elif formula is not zero_cost:
                    value = memo_get(node.memo, key) if key is not None else None  # type: ignore[arg-type]
                    if value is None:  # a new shape, or a call the memo does not hold
                        evaluate(node, module, args, kwargs, output, key)
                    else:
                        forward_ops[index] += value[0]
                        forward_macs[index] += value[1]
                if node is root and not stack:
                    end_step(count, args, kwargs)
                    if training is not None and training.mode is None:
                        session.await_backward()
            finally:
                if resume:
                    session.mode_off = False
                    push_mode(session.mode)
                if session.replay is node:
                    session.end_replay()

        return pre_hook, post_hook

    def _first_call(
        self,
        node: Node,
        module: nn.Module,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        output: Any,
        key: tuple[torch.Size, torch.Size | None] | None,
    ) -> None:
        """A module's first call in this profile: its input shapes for the table, and the
        check that its formula's memo still describes it. ``key`` is the call's memo key,
        when it has one (its first shape is the input's)."""
        shapes: Any = None
        if key is not None:
            shapes = (key[0],)
        elif not kwargs:  # plain tensors in (torch.Size is an immutable tuple)
            for arg in args:
                if type(arg) is not torch.Tensor:
                    break
            else:
                try:
                    shapes = tuple([arg.shape for arg in args])
                except RuntimeError:  # a nested tensor has no single shape
                    pass
        if shapes is None or len(args) != 1:
            if shapes is None:
                shapes = shapes_of((args, kwargs))
            # distributed: a module computing on DTensors is priced on its local shards
            local = _distributed.localize_on_first_call(node, module, args, kwargs, output)
            if local is not None:
                shapes = local
        self.state.shapes[node.index] = shapes
        if node.formula is None:
            return
        if type(module) is not node.kind:  # LazyLinear becomes Linear on its first call
            node.kind = type(module)
        # The whole fingerprint was compared when the profile started; inside the block only
        # what a forward's caller is likely to change right before it is compared again:
        # ``model.eval()`` / ``train()``, an attribute added or deleted, the class.
        known = node.fingerprint
        if known is None or not known.still(module):
            node.fingerprint = Fingerprint(module)
            node.memo = {}

    def _end_step(self, calls: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A call of the root from outside the model returned: one entry of ``steps``."""
        state = self.state
        state.end_step(state.shapes[0] if calls == 1 else shapes_of((args, kwargs or {})))

    def _evaluate(
        self,
        node: Node,
        module: nn.Module,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        output: Any,
        key: tuple[torch.Size, torch.Size | None] | None,
        phase: str | None = None,
    ) -> None:
        """Add the formula's count for one call to the forward (or ``phase``): from the
        node's memo under ``key`` (the hook's, None for a call it cannot memoise), else by
        the formula, remembered under ``key``."""
        memo = node.memo
        value = memo.get(key) if key is not None and memo is not None else None
        if value is None:
            if kwargs:
                args = _bind(module, args, kwargs)
            value = self._apply(node, module, args, output)
            if key is not None and memo is not None:
                memo[key] = value
        index = node.index
        state = self.state
        ops, macs = (state.ops, state.macs) if phase is None else state.phase(phase)
        ops[index] += value.ops
        macs[index] += value.macs

    def _apply(self, node: Node, module: nn.Module, args: tuple[Any, ...], output: Any) -> Count:
        """The formula's count, checked; torch-function modes off while it runs."""
        with DisableTorchFunction():
            try:
                value = node.formula(module, args, output)  # type: ignore[misc]
            except Exception as error:
                raise self.formula_error(node, module, args, error) from error
            if type(value) is not Count or value.ops < 0 or value.macs < 0:
                value = self.checked(node, module, args, value)
        return value

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
            alias = self.state.new_node(name, node.module, node.formula, caller)  # type: ignore[arg-type]
            alias.original = node
            alias.kind = node.kind
            alias.memo, alias.fingerprint = node.memo, node.fingerprint
            alias.unsupported, alias.uncounted = node.unsupported, node.uncounted
            self.aliases[key] = alias
        return alias

    def _add_dynamic(self, module: nn.Module) -> Node:
        """A module the model creates or swaps in during forward: a child of the caller."""
        state = self.state
        parent = state.stack[-1]
        index = sum(1 for c in state.extra.get(parent, ()) if c.dynamic)
        prefix = parent.name + "." if parent.name else ""
        node = state.new_node(
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
        self.nodes[module] = node
        self.dynamic.append(module)
        return node


def _by_operator(counted: Mapping[Any, tuple[int, int, int]]) -> dict[str, OperatorStats]:
    """Per public name (``torch.matmul``), heaviest first."""
    if not counted:
        return {}
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
    phase: str | None = None,
    operators: bool = True,
    strict: bool = False,
    registry: Registry | None = None,
) -> Iterator[Report]:
    """Profile the block and raise :class:`BudgetExceeded` at its end if over budget.

    An exception raised by the block itself propagates unchanged (no budget check then).
    """
    validate_budget(max_ops, max_macs, modules, phase)
    with profile(model, operators=operators, strict=strict, registry=registry) as report:
        yield report
    report.check(max_ops=max_ops, max_macs=max_macs, modules=modules, phase=phase)


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
