"""Linear algebra: Linear, Identity and the matrix-product core they share.

A dot product of length K costs K multiplies and K − 1 adds (2K − 1 ops) and K
multiply-accumulates; adding a bias turns it into 2K ops.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .._count import Count
from .._registry import register, zero_cost


def dot_products(count: int, length: int, bias: bool) -> Count:
    """``count`` dot products of ``length`` terms each, optionally plus a bias each.

    ops = count·(2·length − 1), or count·2·length with a bias; macs = count·length.
    An empty dot product (length 0) yields zeros (or the bias) with no arithmetic.
    """
    if count <= 0 or length <= 0:
        return Count(0)
    ops = count * (2 * length if bias else 2 * length - 1)
    return Count(ops, count * length)


def linear_count(input_shape: tuple[int, ...], out_features: int, bias: bool) -> Count:
    """``y = x Wᵀ (+ b)`` with x of ``input_shape`` (…, in): rows·out dot products of ``in``.

    rows = product of the leading dims (1 for an unbatched 1-d input).
    """
    in_features = input_shape[-1] if input_shape else 1
    rows = 1
    for size in input_shape[:-1]:
        rows *= size
    return dot_products(rows * out_features, in_features, bias)


@register(nn.Linear)
def linear_module(module: nn.Linear, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Linear``: ops rows·out·(2·in − 1), +rows·out with bias; macs rows·in·out."""
    return linear_count(tuple(inputs[0].shape), output.shape[-1], module.bias is not None)


register(nn.Identity)(zero_cost)
