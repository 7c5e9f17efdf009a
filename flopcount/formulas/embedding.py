"""Embeddings: lookups (free) and EmbeddingBag's per-bag reductions.

``macs`` is always zero (a lookup is not a product). Two value-dependent effects are not
visible from shapes and are not counted: ``max_norm`` renormalisation (it rescales, in
place, the weight rows of the distinct indices looked up whose norm exceeds ``max_norm``)
and ``padding_idx`` entries skipped by EmbeddingBag.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator, zero_cost
from .._shapes import arg, first_tensor

_MODES = {0: "sum", 1: "mean", 2: "max"}

register(nn.Embedding)(zero_cost)
# torch.ao's QAT and reference embeddings override forward only to fake-quantize (or quantize
# and dequantize) the weight first: the same lookups and bag reductions.
register(
    optional("torch.ao.nn.qat.Embedding"), optional("torch.ao.nn.quantized.reference.Embedding")
)(zero_cost)
register_operator(F.embedding, torch.embedding)(zero_cost)


def embedding_bag_count(items: int, bags: int, dim: int, mode: str, weighted: bool) -> Count:
    """``items`` looked-up rows of width ``dim`` reduced into ``bags`` bags.

    A bag of n rows costs per feature: sum n − 1 adds (plus n multiplies by
    ``per_sample_weights``), mean n − 1 adds + 1 divide = n, max n − 1 compares. Summed
    over bags, assuming no bag is empty: sum ``D·(items − bags)`` (+ ``D·items``), mean
    ``D·items`` (exact even with empty bags), max ``D·(items − bags)``; never negative.
    """
    if items <= 0 or bags <= 0 or dim <= 0:
        return Count(0)
    if mode == "mean":
        return Count(dim * items)
    ops = dim * max(0, items - bags)
    if weighted:
        ops += dim * items
    return Count(ops)


@register(nn.EmbeddingBag)
def embedding_bag_module(module: nn.EmbeddingBag, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.EmbeddingBag(input, offsets, per_sample_weights)``: see :func:`embedding_bag_count`."""
    weighted = len(inputs) > 2 and inputs[2] is not None
    return embedding_bag_count(
        inputs[0].numel(), output.shape[0], output.shape[1], module.mode, weighted
    )


register(
    optional("torch.ao.nn.qat.EmbeddingBag"),
    optional("torch.ao.nn.quantized.reference.EmbeddingBag"),
)(embedding_bag_module)


@register_operator(F.embedding_bag)
def embedding_bag_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.embedding_bag(input, weight, offsets, ..., mode, ..., per_sample_weights, ...)``."""
    mode = arg(args, kwargs, 6, "mode", "mean")
    weighted = arg(args, kwargs, 8, "per_sample_weights") is not None
    return embedding_bag_count(args[0].numel(), output.shape[0], output.shape[1], mode, weighted)


@register_operator(torch.embedding_bag)
def torch_embedding_bag_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``torch.embedding_bag(weight, indices, offsets, scale_grad, mode, sparse, psw, ...)``
    (mode 0 sum, 1 mean, 2 max); returns ``(output, offset2bag, bag_size, max_indices)``."""
    out = first_tensor(output)
    mode = _MODES[int(arg(args, kwargs, 4, "mode", 0))]
    weighted = arg(args, kwargs, 6, "per_sample_weights") is not None
    return embedding_bag_count(args[1].numel(), out.shape[0], out.shape[1], mode, weighted)
