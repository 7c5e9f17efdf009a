"""What a module's count depends on besides its inputs' shapes, checked cheaply.

The engine memoises each module's formula by (input shape, output shape) and keeps the
memo between profiles of the same model. A :class:`Fingerprint` says when the memo may no
longer describe the module: its class, its own attributes (hyper-parameters such as
``stride`` or ``dim``, the ``training`` flag), and which parameters and buffers it holds.

It is compared when every profile starts, on every module with a formula (and in part at
each module's first call: see :meth:`Fingerprint.still`), so it is built for that check:
the attribute keys are fixed when the fingerprint is taken and read in one C call
(``operator.itemgetter``), torch's own bookkeeping (hook dicts, ``_modules``) is left out,
and every value is compared by identity in one C-level pass; only when that fails are the
values that differ compared again, plain values (numbers, strings, tuples of them) by
equality.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

_TORCH_BOOKKEEPING = frozenset(vars(nn.Module())) - {"training"}
"""Attributes every module has that no count depends on: its hook dicts, ``_modules``
(the node tree checks structure), the ``_parameters``/``_buffers`` dicts (their values
are compared); ``training`` stays in (dropout, batch norm count differently in eval)."""

_PLAIN = (bool, int, float, str, type(None), torch.dtype, torch.device)
"""Values that may also match by equality: ``conv.stride = (1, 1)`` rebound to an equal
tuple keeps the memo. Anything else (tensors, modules, functions...) matches by identity
only: ``==`` on a tensor would compare values, allocate, and on a GPU wait for it."""

Reader = Callable[[dict[str, Any]], tuple[Any, ...]]


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    return type(value) is tuple and all(isinstance(item, _PLAIN) for item in value)


def _built_in(kind: type) -> bool:
    return kind.__module__.startswith("torch.nn.modules.")


def _one(key: str, attributes: dict[str, Any]) -> tuple[Any, ...]:
    return (attributes[key],)


def _none(attributes: dict[str, Any]) -> tuple[Any, ...]:
    return ()


def _reader(keys: list[str]) -> Reader:
    """The values of ``keys`` as a tuple, in one call."""
    if len(keys) > 1:
        return operator.itemgetter(*keys)
    if keys:  # itemgetter of one key returns the value itself, not a tuple
        return partial(_one, keys[0])
    return _none


class Fingerprint:
    """A module's class, own attributes, parameters and buffers, as they were when taken.

    Rebinding an attribute to an unequal value (``conv.stride = (2, 2)``,
    ``softmax.dim = 0``, ``model.eval()``), binding a new weight or a buffer to None,
    adding or deleting an attribute all make :meth:`matches` false; updating a tensor in
    place (running statistics, an optimizer step) does not.

    A module that had no parameters (or no buffers) when the fingerprint was taken is not
    watched for new ones: its formula cannot read what its type does not have (optional
    ones, such as a bias, are registered as None and are watched). Each dict not read is a
    cache miss saved: the check runs on every module with a formula, for every profile,
    just after a forward has flushed the CPU's caches.
    """

    __slots__ = (
        "buffers",
        "by_input",
        "kind",
        "parameters",
        "read",
        "size",
        "training",
        "values",
    )

    def __init__(self, module: nn.Module) -> None:
        attributes = module.__dict__
        self.kind = type(module)
        self.size = len(attributes)
        self.training = attributes.get("training")
        self.parameters = bool(module._parameters)
        self.buffers = bool(module._buffers)
        self.read = _reader([key for key in attributes if key not in _TORCH_BOOKKEEPING])
        self.values = self._values(module)
        # Whether the memo may be keyed by the input's shape alone: a module of torch.nn's
        # own classes, with its class's forward, gives an output whose shape follows from
        # the input's shape and the attributes held here. Any other module's output may
        # depend on the input's values (a boolean mask, a top-k), so its key also holds
        # the output's shape (one ``.shape`` read more per call).
        self.by_input = _built_in(self.kind) and "forward" not in attributes

    def _values(self, module: nn.Module) -> tuple[Any, ...]:
        parameters = module._parameters.values() if self.parameters else ()
        buffers = module._buffers.values() if self.buffers else ()
        return (*self.read(module.__dict__), *parameters, *buffers)

    def still(self, module: nn.Module) -> bool:
        """The part of :meth:`matches` cheap enough for every module's first call in a
        profile: the class, the number of attributes, the ``training`` flag."""
        attributes = module.__dict__
        return (
            type(module) is self.kind
            and len(attributes) == self.size
            and attributes.get("training") is self.training
        )

    def matches(self, module: nn.Module) -> bool:
        """Whether ``module`` is still as it was (fast: this runs on every profile)."""
        if type(module) is not self.kind or len(module.__dict__) != self.size:
            return False
        try:
            now = self._values(module)
        except KeyError:  # an attribute deleted (and another added)
            return False
        before = self.values
        if len(now) != len(before):
            return False
        if all(map(operator.is_, now, before)):  # nothing rebound: the usual case
            return True
        return all(map(_same, now, before))


def _same(now: Any, before: Any) -> bool:
    """Identity, or equality of two plain values (never ``==`` on a tensor)."""
    return now is before or (_plain(now) and _plain(before) and bool(now == before))
