"""Every torch name flopcount reads that its oldest supported torch lacks, in one place.

Public names that newer torch releases added (``nn.LinearCrossEntropyLoss``) are looked up
with :func:`optional`: on an older torch the lookup gives an :class:`Absent` marker, the
registry skips it, and :func:`missing` lists it, so ``flopcount explain`` and the coverage
test can tell "not in this torch" from "not counted". Private names the engine needs at
run time are read with :func:`private`, which fails with one clear message naming the
name and the torch version if a release removed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

import torch

from ._errors import FlopcountError

TORCH_VERSION = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
"""(major, minor) of the running torch."""

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


def missing() -> tuple[str, ...]:
    """Torch names flopcount would count that the running torch lacks."""
    return tuple(_MISSING)
