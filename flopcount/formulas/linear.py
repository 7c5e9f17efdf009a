"""Linear algebra: Linear, Bilinear, Identity and the matrix-product core they share.

A dot product of length K costs K multiplies and K − 1 adds (2K − 1 ops) and K
multiply-accumulates; adding a bias turns it into 2K ops. Embeddings are in
:mod:`.embedding`.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator, zero_cost
from .._shapes import arg, numel
from .primitives import dot_products


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
    """``nn.Linear``: ops rows·out·(2·in − 1), +rows·out with bias; macs rows·in·out.

    The hot path of most models: rows·out is read as the output's element count instead
    of multiplying out the leading dims (the same number, one C call).
    """
    shape = inputs[0].shape
    # _parameters first: nn.Module.__getattr__ costs more than the rest of this formula
    params = module._parameters
    bias = params["bias"] if "bias" in params else getattr(module, "bias", None)
    return dot_products(output.numel(), shape[-1] if shape else 1, bias is not None)


# torch.ao's QAT and reference Linear override forward only to fake-quantize (or quantize
# and dequantize) the weight first: the same product, so the same formula.
register(optional("torch.ao.nn.qat.Linear"), optional("torch.ao.nn.quantized.reference.Linear"))(
    linear_module
)

register(nn.Identity)(zero_cost)


@register_operator(F.linear)  # the same object as torch._C._nn.linear
def linear_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.linear(input, weight, bias)``; a 1-d weight (in,) gives one output feature."""
    weight = arg(args, kwargs, 1, "weight")
    out_features = weight.shape[0] if weight.dim() == 2 else 1
    bias = arg(args, kwargs, 2, "bias") is not None
    return linear_count(tuple(args[0].shape), out_features, bias)


def bilinear_count(
    input1_shape: tuple[int, ...], in2_features: int, out_features: int, bias: bool
) -> Count:
    """``y_k = x1ᵀ A_k x2 (+ b_k)`` for rows of x1 (…, I1), x2 (…, I2), A (O, I1, I2).

    Evaluated in PyTorch's order: first ``u_kj = Σ_i x1_i A_kij`` (rows·O·I2 dot products
    of length I1), then ``y_k = Σ_j u_kj x2_j (+ b_k)`` (rows·O dot products of length I2).
    ops = rows·O·(I2·(2·I1 − 1) + 2·I2 − 1) (+ rows·O with a bias);
    macs = rows·O·I2·(I1 + 1). Any empty dimension costs 0.
    """
    in1_features = input1_shape[-1] if input1_shape else 1
    rows = numel(input1_shape[:-1])
    if min(rows, in1_features, in2_features, out_features) <= 0:
        return Count(0)
    first = dot_products(rows * out_features * in2_features, in1_features, False)
    return first + dot_products(rows * out_features, in2_features, bias)


@register(nn.Bilinear)
def bilinear_module(module: nn.Bilinear, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """``nn.Bilinear``: see :func:`bilinear_count`."""
    return bilinear_count(
        tuple(inputs[0].shape), inputs[1].shape[-1], output.shape[-1], module.bias is not None
    )


@register_operator(F.bilinear)  # the same object as torch.bilinear
def bilinear_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.bilinear(input1, input2, weight, bias)`` / ``torch.bilinear``."""
    weight = arg(args, kwargs, 2, "weight")
    bias = arg(args, kwargs, 3, "bias") is not None
    return bilinear_count(tuple(args[0].shape), weight.shape[2], weight.shape[0], bias)
