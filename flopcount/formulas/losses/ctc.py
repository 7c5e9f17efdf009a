"""CTC loss: the forward (alpha) recursion over the alignment lattice, in log space.

The one formula of the library that reads tensor VALUES: ``input_lengths`` and
``target_lengths`` are small integer metadata that fix the size of each sample's lattice,
so they are read (tensors, Python ints or lists). Where they cannot be read (``meta``
tensors) the full lengths are assumed: T_b = T, and L_b = S for padded (N, S) targets or
an even split of the concatenated targets.

Per sample with T_b frames and L_b labels, the lattice has S_b = 2·L_b + 1 states (blanks
around every label). Row t = 0 is initialised by copies (free). Every later cell (t, s)
is ``log Σ_k exp(α[t−1, s−k]) + log p_t(l'_s)`` over its k predecessors, priced without
the stabilising max (the Softmax specification's convention): k exps, k − 1 adds, 1 log
(nothing when k = 1) and 1 add of the emission. k = 1 for s = 0; 2 for s = 1 and the blank
states; 3 for label states s ≥ 3 — value-independently, as if consecutive labels always
differed (a repeated label's skip term is a −inf that costs the same). A row costs
``1 + 5 + 5·L + 7·(L − 1) = 12L − 1`` (1 when L = 0). The loss is
``−log(exp α[T−1, 2L] + exp α[T−1, 2L−1])`` (5; 1 when L = 0).

Reduction over the N samples: 'mean' divides each by its target length (N) and takes the
mean (N − 1 adds + 1 divide); 'sum' N − 1 adds. ``zero_infinity`` adds one compare per
sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._count import Count
from ..._registry import register, register_operator
from ..._shapes import arg
from .reduction import reduce_ops, reduction_arg


def read_lengths(lengths: Any, batch: int) -> list[int] | None:
    """Integer lengths from a tensor, an int or a sequence; ``None`` when unreadable."""
    if isinstance(lengths, Tensor):
        if lengths.is_meta or lengths.device.type == "meta":
            return None
        try:
            values = lengths.reshape(-1).tolist()
        except (RuntimeError, NotImplementedError):  # fake or otherwise data-less tensors
            return None
    elif isinstance(lengths, int):
        values = [lengths]
    else:
        values = [int(v) for v in lengths]
    values = [int(v) for v in values]
    return values if len(values) == batch else (values * batch)[:batch]


def ctc_row_ops(labels: int) -> int:
    """Ops of one lattice row (one time step) for ``labels`` target labels: 12L − 1."""
    return 1 if labels <= 0 else 12 * labels - 1


def ctc_sample_ops(frames: int, labels: int) -> int:
    """(T − 1) rows plus the final log-sum-exp and negate of one sample."""
    if frames <= 0:
        return 0
    return (frames - 1) * ctc_row_ops(labels) + (1 if labels <= 0 else 5)


def ctc_count(
    log_probs_shape: Sequence[int],
    targets_shape: Sequence[int],
    input_lengths: Any,
    target_lengths: Any,
    reduction: str,
    zero_infinity: bool,
) -> Count:
    """Sum of :func:`ctc_sample_ops` over the batch, then the reduction (see module doc)."""
    batched = len(log_probs_shape) == 3
    frames = log_probs_shape[0]
    batch = log_probs_shape[1] if batched else 1
    if batch == 0:
        return Count(0)
    t_lengths = read_lengths(input_lengths, batch) or [frames] * batch
    l_lengths = read_lengths(target_lengths, batch)
    if l_lengths is None:
        if batched and len(targets_shape) == 2:
            l_lengths = [targets_shape[1]] * batch
        else:
            total = targets_shape[0] if targets_shape else 0
            l_lengths = [total // batch + (b < total % batch) for b in range(batch)]
    ops = sum(ctc_sample_ops(t, s) for t, s in zip(t_lengths, l_lengths, strict=True))
    ops += batch if zero_infinity else 0
    if reduction == "mean":
        ops += batch
    return Count(ops + reduce_ops(batch, reduction))


@register(nn.CTCLoss)
def ctc_module(module: nn.CTCLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.CTCLoss(blank, reduction, zero_infinity)``: see :func:`ctc_count`."""
    log_probs, targets, input_lengths, target_lengths = inputs[:4]
    return ctc_count(
        log_probs.shape,
        targets.shape,
        input_lengths,
        target_lengths,
        module.reduction,
        module.zero_infinity,
    )


@register_operator(F.ctc_loss)
def ctc_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
    zero_infinity)``.
    """
    return ctc_count(
        args[0].shape,
        torch.Size(args[1].shape),
        arg(args, kwargs, 2, "input_lengths"),
        arg(args, kwargs, 3, "target_lengths"),
        reduction_arg(args, kwargs, 5),
        bool(arg(args, kwargs, 6, "zero_infinity", False)),
    )
