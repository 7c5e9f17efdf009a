"""Distances and the losses built on them: PairwiseDistance, CosineSimilarity, cdist, pdist,
CosineEmbeddingLoss, TripletMarginLoss, TripletMarginWithDistanceLoss.

A p-norm of a vector of D elements is priced by :func:`..primitives.p_norm_ops` (2D for
p = 2; 2D − 1 for p ∈ {0, 1, ±inf}; 3D otherwise, a power being one op).
Distances are elementwise-and-reduce work, not the linear-algebra core: ``macs`` is 0,
even where PyTorch computes ``cdist`` through a matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._count import Count
from ..._registry import register, register_operator
from ..._shapes import arg, normalize_dim, numel
from ..primitives import p_norm_ops
from .reduction import reduce_ops, reduction_arg


def _rows(shape: Sequence[int], dim: int) -> tuple[int, int]:
    """(rows, length along ``dim``) of a tensor of ``shape``."""
    total = numel(shape)
    if total == 0:
        return 0, 0
    length = shape[normalize_dim(dim, len(shape))] if shape else 1
    return total // length, length


def pairwise_distance_count(shape1: Sequence[int], shape2: Sequence[int], p: float) -> Count:
    """``‖x₁ − x₂ + eps‖_p`` over the last dim of the broadcast shape: per row of D elements,
    D subtracts, D adds of eps and the p-norm. p = 2: 4D per row.
    """
    rows, d = _rows(torch.broadcast_shapes(tuple(shape1), tuple(shape2)), -1)
    return Count(rows * (2 * d + p_norm_ops(d, p)))


@register(nn.PairwiseDistance)
def pairwise_module(module: nn.PairwiseDistance, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.PairwiseDistance(p, eps, keepdim)``: see :func:`pairwise_distance_count`."""
    return pairwise_distance_count(inputs[0].shape, inputs[1].shape, float(module.norm))


@register_operator(*{F.pairwise_distance, torch.pairwise_distance})
def pairwise_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.pairwise_distance(x1, x2, p, eps, keepdim)`` (the same object as torch's)."""
    p = float(arg(args, kwargs, 2, "p", 2.0))
    return pairwise_distance_count(args[0].shape, args[1].shape, p)


def cosine_similarity_count(shape1: Sequence[int], shape2: Sequence[int], dim: int) -> Count:
    """``x₁·x₂ / (max(‖x₁‖, eps)·max(‖x₂‖, eps))`` along ``dim`` of the broadcast shape.

    Per row of D elements: dot product 2D − 1, two 2-norms 2D each, 2 clamps, 1 multiply,
    1 divide: 6D + 3.
    """
    rows, d = _rows(torch.broadcast_shapes(tuple(shape1), tuple(shape2)), dim)
    return Count(rows * (6 * d + 3))


@register(nn.CosineSimilarity)
def cosine_module(module: nn.CosineSimilarity, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.CosineSimilarity(dim, eps)``: see :func:`cosine_similarity_count`."""
    return cosine_similarity_count(inputs[0].shape, inputs[1].shape, module.dim)


@register_operator(*{F.cosine_similarity, torch.cosine_similarity})
def cosine_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.cosine_similarity(x1, x2, dim=1, eps=1e-8)``."""
    return cosine_similarity_count(
        args[0].shape, args[1].shape, int(arg(args, kwargs, 2, "dim", 1))
    )


def cdist_count(shape1: Sequence[int], shape2: Sequence[int], p: float) -> Count:
    """``torch.cdist``: x₁ (…, P, M), x₂ (…, R, M); for each of the batch·P·R pairs, M
    subtracts and the p-norm (p = 2: 3M), always by the direct formula.
    """
    batch = numel(torch.broadcast_shapes(tuple(shape1[:-2]), tuple(shape2[:-2])))
    m = shape1[-1]
    pairs = batch * shape1[-2] * shape2[-2]
    return Count(pairs * (m + p_norm_ops(m, p)))


@register_operator(torch.cdist)
def cdist_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``torch.cdist(x1, x2, p=2, compute_mode)``."""
    return cdist_count(args[0].shape, args[1].shape, float(arg(args, kwargs, 2, "p", 2.0)))


def pdist_count(shape: Sequence[int], p: float) -> Count:
    """``F.pdist``: x (N, M), the N·(N − 1)/2 distances of distinct rows, each M subtracts
    and the p-norm.
    """
    n, m = shape[0], shape[1]
    return Count(n * (n - 1) // 2 * (m + p_norm_ops(m, p)))


@register_operator(*{F.pdist, torch.pdist})
def pdist_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.pdist(input, p=2)``."""
    return pdist_count(args[0].shape, float(arg(args, kwargs, 1, "p", 2.0)))


COSINE_EMBEDDING_BRANCH_OPS = 4
"""``1 − cos`` (1), ``max(0, cos − margin)`` (2), one compare of y selects (1)."""


def cosine_embedding_count(shape1: Sequence[int], shape2: Sequence[int], reduction: str) -> Count:
    """Cosine of each row pair along the last dim (6D + 3) and both branches (4), reduced."""
    sim = cosine_similarity_count(shape1, shape2, -1)
    rows = _rows(torch.broadcast_shapes(tuple(shape1), tuple(shape2)), -1)[0]
    return sim + Count(rows * COSINE_EMBEDDING_BRANCH_OPS + reduce_ops(rows, reduction))


@register(nn.CosineEmbeddingLoss)
def cosine_embedding_module(
    module: nn.CosineEmbeddingLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """``nn.CosineEmbeddingLoss(margin)``: see :func:`cosine_embedding_count`."""
    return cosine_embedding_count(inputs[0].shape, inputs[1].shape, module.reduction)


@register_operator(F.cosine_embedding_loss)
def cosine_embedding_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.cosine_embedding_loss(input1, input2, target, margin, ...)``."""
    red = reduction_arg(args, kwargs, 6, 4, 5)
    return cosine_embedding_count(args[0].shape, args[1].shape, red)


def _distance_of(function: Any) -> Any:
    """A ``(shape1, shape2) -> Count`` pricing a known distance callable, or ``None``."""
    if function is None or function is torch.pairwise_distance:
        return lambda s1, s2: pairwise_distance_count(s1, s2, 2.0)
    if isinstance(function, nn.PairwiseDistance):
        return lambda s1, s2: pairwise_distance_count(s1, s2, float(function.norm))
    if function is torch.cosine_similarity:
        return lambda s1, s2: cosine_similarity_count(s1, s2, 1)
    if isinstance(function, nn.CosineSimilarity):
        return lambda s1, s2: cosine_similarity_count(s1, s2, function.dim)
    return None


def triplet_count(
    anchor: Sequence[int],
    positive: Sequence[int],
    negative: Sequence[int],
    distance: Any,
    swap: bool,
    reduction: str,
) -> Count:
    """d(a, p), d(a, n) and with ``swap`` d(p, n) and a min (1); then per triplet
    ``max(margin + d⁺ − d⁻, 0)`` (3), reduced. ``distance=None``: an unknown callable, its
    distances cost 0 and one distance per vector of the last dim is assumed.
    """
    rows = _rows(torch.broadcast_shapes(tuple(anchor), tuple(positive), tuple(negative)), -1)[0]
    if rows == 0:
        return Count(0)
    ops = Count(rows * (3 + swap) + reduce_ops(rows, reduction))
    if distance is not None:
        ops = ops + distance(anchor, positive) + distance(anchor, negative)
        if swap:
            ops = ops + distance(positive, negative)
    return ops


@register(nn.TripletMarginLoss)
def triplet_module(module: nn.TripletMarginLoss, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.TripletMarginLoss(margin, p, eps, swap)``: see :func:`triplet_count`."""
    p = float(module.p)
    a, pos, neg = (t.shape for t in inputs[:3])
    return triplet_count(
        a,
        pos,
        neg,
        lambda s1, s2: pairwise_distance_count(s1, s2, p),
        module.swap,
        module.reduction,
    )


@register_operator(F.triplet_margin_loss)
def triplet_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, ...)``."""
    p = float(arg(args, kwargs, 4, "p", 2.0))
    swap = bool(arg(args, kwargs, 6, "swap", False))
    red = reduction_arg(args, kwargs, 9, 7, 8)
    a, pos, neg = (t.shape for t in args[:3])
    return triplet_count(a, pos, neg, lambda s1, s2: pairwise_distance_count(s1, s2, p), swap, red)


@register(nn.TripletMarginWithDistanceLoss)
def triplet_distance_module(
    module: nn.TripletMarginWithDistanceLoss, inputs: tuple[Any, ...], output: Tensor
) -> Count:
    """Default distance (pairwise, p = 2) exactly; known distance modules/functions by their
    formula; any other callable's own arithmetic is not visible and counts 0.
    """
    a, pos, neg = (t.shape for t in inputs[:3])
    distance = _distance_of(module.distance_function)
    return triplet_count(a, pos, neg, distance, module.swap, module.reduction)


@register_operator(F.triplet_margin_with_distance_loss)
def triplet_distance_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor
) -> Count:
    """``F.triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function,
    margin, swap, reduction)``.
    """
    a, pos, neg = (t.shape for t in args[:3])
    distance = _distance_of(kwargs.get("distance_function"))
    red = reduction_arg(args, kwargs, 99)
    return triplet_count(a, pos, neg, distance, bool(kwargs.get("swap", False)), red)
