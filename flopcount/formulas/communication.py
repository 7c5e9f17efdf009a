"""Communication and profiler markers: known, and never arithmetic.

Collectives (all-reduce, all-gather, reduce-scatter, all-to-all, broadcast...) move data
between ranks; a rank's count is the arithmetic on its own shards (design, attribution rule
7), so they cost zero ops. They are registered with :func:`flopcount._distributed.collective`
rather than ``zero_cost`` so that the engine can name them per module, with the elements
and bytes each rank sends (``Report.collectives``). A reduction inside a collective (the
adds of an all-reduce) is the communication library's, not the model's.

Registered: the functional collectives DTensor and FSDP2 issue
(``torch.ops._c10d_functional.*``, their ``_c10d_functional_autograd`` forms and the
``c10d_functional`` names of older releases) and the ``torch.distributed`` functions that
a torch-function mode can see (those that check for ``__torch_function__``). Waiting for an
asynchronous collective (``wait_tensor``), wrapping its result for autograd, and the
profiler's record-function markers (``torch.ops.profiler._record_function_enter_new``,
which FSDP and DDP emit around their hooks) do nothing a model computes: zero cost.
"""

from __future__ import annotations

from typing import Any

import torch

from .._distributed import collective
from .._registry import register_operator, zero_cost

_FUNCTIONAL = (
    "all_reduce", "all_reduce_", "all_reduce_coalesced", "all_reduce_coalesced_",
    "all_gather_into_tensor", "all_gather_into_tensor_out", "all_gather_into_tensor_coalesced",
    "reduce_scatter_tensor", "reduce_scatter_tensor_coalesced", "all_to_all_single",
    "broadcast", "broadcast_",
)  # fmt: skip
_FUNCTIONAL_NAMESPACES = ("_c10d_functional", "_c10d_functional_autograd", "c10d_functional")
_WAITS = ("wait_tensor",)
_C10D = (
    "all_reduce", "all_reduce_coalesced", "all_gather", "all_gather_coalesced",
    "all_gather_into_tensor", "all_gather_single", "reduce_scatter", "reduce_scatter_tensor",
    "reduce_scatter_single", "all_to_all",
    "all_to_all_single", "broadcast", "reduce", "gather", "scatter", "send", "recv",
    "isend", "irecv",
)  # fmt: skip
# FSDP2 stages its parameters into (and out of) the flat buffers it all-gathers and
# reduce-scatters: copies. DTensor wraps a collective's result for autograd: no arithmetic.
_FSDP_COPIES = ("all_gather_copy_in", "split_with_sizes_copy", "chunk_cat")
_MARKERS = ("_record_function_enter", "_record_function_enter_new", "_record_function_exit")


# Which of these exist depends on how torch was built and on its release (the
# c10d_functional namespace is gone in recent ones), not on flopcount's torch floor, so
# they are looked up here rather than through _compat.optional.
def _ops(namespace: str, names: tuple[str, ...]) -> list[Any]:
    """Each ``torch.ops.namespace.name`` present and every overload of it: a torch-function
    mode is handed the overload (``all_reduce.default``) or the packet, as it was called."""
    space = getattr(torch.ops, namespace)
    found: list[Any] = []
    for name in names:
        try:
            packet = getattr(space, name)
        except (AttributeError, RuntimeError):
            continue
        found.append(packet)
        found.extend(getattr(packet, overload) for overload in packet.overloads())
    return found


def _c10d(names: tuple[str, ...]) -> list[Any]:
    if not torch.distributed.is_available():
        return []
    return [f for f in (getattr(torch.distributed, name, None) for name in names) if f]


register_operator(
    *(op for namespace in _FUNCTIONAL_NAMESPACES for op in _ops(namespace, _FUNCTIONAL)),
    *_c10d(_C10D),
)(collective)

register_operator(
    *(op for namespace in _FUNCTIONAL_NAMESPACES for op in _ops(namespace, _WAITS)),
    *_ops("profiler", _MARKERS),
)(zero_cost)

# Defined in Python by torch.distributed modules that flopcount does not import (importing
# FSDP or DTensor takes 2 s): registered by name, found when the operator mode meets them.
register_operator(
    "torch.ops._c10d_functional._wrap_tensor_autograd",
    *(f"torch.ops.fsdp.{name}" for name in _FSDP_COPIES),
)(zero_cost)
