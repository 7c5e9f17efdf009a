"""Small helpers formulas share: sizes, argument lookup, finding tensors in nested data."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch

prod = math.prod


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of ``shape`` (1 for a 0-d tensor)."""
    return math.prod(shape)


def arg(
    args: Sequence[Any], kwargs: dict[str, Any], index: int, name: str, default: Any = None
) -> Any:
    """Argument ``name`` of a call, whether it was passed by position or by keyword."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``obj`` (tensors, sequences, dicts, PackedSequence), in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item)


def first_tensor(obj: Any) -> torch.Tensor:
    """The first tensor in ``obj``; ``TypeError`` if there is none."""
    for tensor in iter_tensors(obj):
        return tensor
    raise TypeError(f"expected a tensor, got {type(obj).__name__}")


def shapes_of(obj: Any) -> tuple[tuple[int, ...], ...]:
    """Shapes of every tensor in ``obj`` (used for the table's input column)."""
    # a nested (ragged) tensor has no single shape: record its number of components
    return tuple((t.size(0),) if t.is_nested else tuple(t.shape) for t in iter_tensors(obj))


def normalize_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index; a 0-d tensor accepts dims 0 and -1."""
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"dim {dim} is out of range for a {ndim}-d tensor")
    return dim % rank
