"""What a module's count depends on besides its inputs' shapes, checked cheaply.

The engine memoises each module's formula by (input shape, output shape) and keeps the
memo between profiles of the same model. A :class:`Fingerprint` says when the memo may no
longer describe the module: its class, its own attributes (hyper-parameters such as
``stride`` or ``dim``, the ``training`` flag), and which parameters and buffers it holds.

It is checked at a module's first call in every profile, on every module with a formula,
so it is built for that check: the attribute keys are fixed when the fingerprint is taken
and read in one C call (``operator.itemgetter``), torch's own bookkeeping (hook dicts,
``_modules``) is left out, plain values are compared by equality in one tuple comparison,
and everything else by identity.
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
"""Values compared by equality: ``conv.stride = (1, 1)`` rebound to an equal tuple keeps
the memo. Anything else (tensors, modules, functions...) is compared by identity: ``==``
on a tensor would compare values, allocate, and on a GPU wait for the device."""

Reader = Callable[[dict[str, Any]], tuple[Any, ...]]


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    return type(value) is tuple and all(isinstance(item, _PLAIN) for item in value)


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
        "kind",
        "objects",
        "parameters",
        "plain",
        "read_objects",
        "read_plain",
        "size",
        "training",
    )

    def __init__(self, module: nn.Module) -> None:
        attributes = module.__dict__
        keys = [key for key in attributes if key not in _TORCH_BOOKKEEPING]
        plain = [key for key in keys if _plain(attributes[key])]
        self.kind = type(module)
        self.size = len(attributes)
        self.training = attributes.get("training")
        self.parameters = bool(module._parameters)
        self.buffers = bool(module._buffers)
        self.read_plain = _reader(plain)
        self.read_objects = _reader([key for key in keys if key not in plain])
        self.plain = self.read_plain(attributes)
        self.objects = self._objects(module)

    def _objects(self, module: nn.Module) -> tuple[Any, ...]:
        found = self.read_objects(module.__dict__)
        if self.parameters:
            found += tuple(module._parameters.values())
        if self.buffers:
            found += tuple(module._buffers.values())
        return found

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
        attributes = module.__dict__
        if type(module) is not self.kind or len(attributes) != self.size:
            return False
        try:
            if self.read_plain(attributes) != self.plain:
                return False
            now = self._objects(module)
        except Exception:  # a key deleted (and another added), a plain value now a tensor
            return False
        objects = self.objects
        return len(now) == len(objects) and all(map(operator.is_, now, objects))
