"""Every torch name flopcount reads that its oldest supported torch lacks, in one place.

Public names that newer torch releases added (``nn.LinearCrossEntropyLoss``) are looked up
with :func:`optional`: on an older torch the lookup gives an :class:`Absent` marker, the
registry skips it, and :func:`missing` lists it, so ``flopcount explain`` and the coverage
test can tell "not in this torch" from "not counted". Private names the engine needs at
run time are read with :func:`private`, which fails with one clear message naming the
name and the torch version if a release removed it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

import torch
from torch.nn.modules import module as _nn_module

from ._errors import FlopcountError

if TYPE_CHECKING:
    from contextlib import ExitStack

FLOOR = (2, 6)
"""The oldest torch release flopcount supports and tests (pyproject: ``torch>=2.6``).

torch 2.4 and 2.5 cannot pass keyword arguments to a global module forward hook
(``register_module_forward_hook(with_kwargs=True)``, new in 2.6); the engine needs them to
read a forward's keyword inputs (``mha(q, k, v, attn_mask=m)``) with one global hook.
"""

TORCH_VERSION = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
"""(major, minor) of the running torch."""

_REQUESTED: list[str] = []
_MISSING: list[str] = []


class TorchCompatibilityError(FlopcountError, RuntimeError):
    """A private torch name the engine relies on is not in the running torch."""


@dataclass(frozen=True, slots=True)
class Absent:
    """A torch name the running release does not have; registrations skip it."""

    name: str

    def __bool__(self) -> bool:
        return False


def _resolve(path: str) -> Any:
    module_name, _, rest = path.partition(".")
    obj: Any = import_module(module_name)
    for attr in rest.split(".") if rest else ():
        obj = getattr(obj, attr)
    return obj


def optional(path: str) -> Any:
    """``torch.a.b`` if the running torch has it, else an :class:`Absent` marker."""
    if path not in _REQUESTED:
        _REQUESTED.append(path)
    try:
        return _resolve(path)
    except AttributeError:
        if path not in _MISSING:
            _MISSING.append(path)
        return Absent(path)


def private(path: str) -> Any:
    """A private torch name the engine needs; a clear error if this torch lacks it."""
    try:
        return _resolve(path)
    except AttributeError:
        raise TorchCompatibilityError(
            f"flopcount needs {path}, which torch {torch.__version__} does not have; "
            "please report this with your torch version"
        ) from None


def _private_or_stub(path: str) -> Any:
    """A private name read on every call of the engine, resolved once at import: if this
    torch lacks it, a stub that raises :class:`TorchCompatibilityError` when used, so that
    importing flopcount (and the pytest plugin with it) never fails."""
    try:
        return _resolve(path)
    except AttributeError:

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            private(path)  # raises, naming the name and the torch version

        return unavailable


DisableTorchFunction: Any = _private_or_stub("torch._C.DisableTorchFunction")
"""Context manager: torch-function modes (flopcount's operator mode among them) off."""
EnableTorchFunction: Any = _private_or_stub("torch._C._EnableTorchFunction")
"""Context manager: torch-function handling back on inside a disabled region."""


function_stack_length: Callable[[], int] = _private_or_stub("torch._C._len_torch_function_stack")
function_stack_at: Callable[[int], Any] = _private_or_stub("torch._C._get_function_stack_at")
_pop_function_mode: Callable[[], Any] = _private_or_stub("torch._C._pop_torch_function_stack")
push_function_mode: Callable[[Any], None] = _private_or_stub(
    "torch._C._push_on_torch_function_stack"
)
"""Put a mode popped with :func:`pop_function_mode` back on top of the stack."""


def pop_function_mode(mode: Any) -> bool:
    """Take ``mode`` off the torch-function mode stack if it is on top (C calls, no
    context-manager machinery: this runs on the engine's hot path); False if it is not."""
    length = function_stack_length()
    if length and function_stack_at(length - 1) is mode:
        _pop_function_mode()
        return True
    return False


dispatch_stack_length: Callable[[], int] = _private_or_stub("torch._C._len_torch_dispatch_stack")
_dispatch_stack_at: Callable[[int], Any] = _private_or_stub("torch._C._get_dispatch_stack_at")
_pop_dispatch: Callable[[], Any] = _private_or_stub("torch._C._pop_torch_dispatch_stack")
_push_dispatch: Callable[[Any], None] = _private_or_stub("torch._C._push_on_torch_dispatch_stack")


def remove_dispatch_mode(mode: Any) -> None:
    """Take ``mode`` (entered with ``mode.__enter__()`` from a hook, where no ``with``
    block could hold it) off the dispatch mode stack: by its own ``__exit__`` when it is on
    top, else by lifting the modes above it off and putting them back in order."""
    length = dispatch_stack_length()
    if length and _dispatch_stack_at(length - 1) is mode:
        mode.__exit__(None, None, None)
        return
    above = []
    while dispatch_stack_length():
        top = _pop_dispatch()
        if top is mode:
            break
        above.append(top)
    else:  # not on the stack at all: put everything back
        pass
    for top in reversed(above):
        _push_dispatch(top)


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> Any:
    """One global pre-hook on every ``torch.optim.Optimizer.step`` (a removable handle)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook as register

    return register(hook)


next_autograd_number: Callable[[], int] = _private_or_stub("torch._C._autograd._get_sequence_nr")
"""The number autograd gives the next node it creates on this thread (creation order)."""
current_autograd_node: Callable[[], Any] = _private_or_stub("torch._C._current_autograd_node")
"""The autograd node whose backward is running on this thread, or None."""


def _no_graph_task() -> int:
    return -1


current_graph_task: Callable[[], int] = getattr(torch._C, "_current_graph_task_id", _no_graph_task)
"""The id of the autograd graph task running on this thread, -1 outside a backward pass.

A forward that runs while it is not -1 is a recomputation by activation checkpointing
(``torch.utils.checkpoint`` re-runs the forward during backward): not forward work.
"""


@functools.cache
def _takes_kwargs(register: Callable[..., Any]) -> bool:
    """Read once per function: ``inspect.signature`` costs more than the rest of a
    profile's setup."""
    return "with_kwargs" in inspect.signature(register).parameters


def register_global_forward_hook(hook: Callable[..., Any], stack: ExitStack) -> None:
    """One global forward hook that receives keyword arguments and runs also when the
    forward raises, removed (with every trace of it) when ``stack`` closes."""
    if not _takes_kwargs(_nn_module.register_module_forward_hook):
        raise TorchCompatibilityError(
            f"flopcount needs torch >= {FLOOR[0]}.{FLOOR[1]} (global forward hooks with keyword "
            f"arguments); this is torch {torch.__version__}"
        )
    with_kwargs: dict[int, bool] | None = getattr(
        _nn_module, "_global_forward_hooks_with_kwargs", None
    )
    if with_kwargs is None:  # read on every profile: one getattr, not a path resolution
        with_kwargs = private("torch.nn.modules.module._global_forward_hooks_with_kwargs")
    handle = _nn_module.register_module_forward_hook(hook, with_kwargs=True, always_call=True)

    def remove() -> None:
        handle.remove()
        # RemovableHandle forgets the with_kwargs flag: drop that entry ourselves
        with_kwargs.pop(handle.id, None)

    stack.callback(remove)


def missing() -> tuple[str, ...]:
    """Torch names flopcount would count that the running torch lacks."""
    return tuple(_MISSING)


def optional_names() -> tuple[str, ...]:
    """Every torch name flopcount looks up with :func:`optional` (present or not)."""
    return tuple(_REQUESTED)
