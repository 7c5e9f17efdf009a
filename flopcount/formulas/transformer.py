"""Transformer layers, priced whole, and the plumbing of the Transformer containers.

``nn.TransformerEncoderLayer`` in eval mode under ``no_grad`` runs one fused kernel
(``torch._transformer_encoder_layer_fwd``) and none of its children's hooks fire, so the
layers have formulas of their own that add up the same parts the eager path runs:
attention (:func:`.attention.mha_module_count`), feed-forward, dropouts, residual adds and
norms. The children that belong to other families (norms, activations, dropout, linear)
are priced by the formula their family registered, evaluated on ``meta`` tensors of the
shapes the eager path would give them, so a layer always counts what its children would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._count import Count, as_count
from .._operators import price_calls
from .._registry import active_registry, register, register_composite, register_operator, zero_cost
from .attention import mha_module_count, sequence_dims

Shape = tuple[int, ...]


def _meta(shape: Shape) -> Tensor:
    return torch.empty(shape, device="meta")


def child_count(module: nn.Module, in_shape: Shape, out_shape: Shape) -> Count:
    """What the registered formula of ``module`` gives for one call on ``in_shape``."""
    formula = active_registry().lookup(type(module))
    if formula is None:
        raise LookupError(f"no formula is registered for {type(module).__name__}")
    if formula is zero_cost:
        return Count(0)
    return as_count(formula(module, (_meta(in_shape),), _meta(out_shape)))


def activation_count(activation: Callable[[Tensor], Tensor], shape: Shape) -> Count:
    """The layer's activation on a tensor of ``shape``: a module by its module formula, a
    function by its operator formula, any other callable by the torch calls it makes."""
    if isinstance(activation, nn.Module):
        return child_count(activation, shape, shape)
    x = _meta(shape)
    try:
        formula = active_registry().lookup_operator(activation)
    except TypeError:  # an unhashable callable
        formula = None
    if formula is not None:
        return as_count(formula((x,), {}, x))
    total, missing = price_calls(active_registry(), activation, x)
    if missing:
        raise LookupError(f"no operator formula for {', '.join(missing)} in the activation")
    return total


def feedforward_count(
    layer: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer,
    shape: Shape,
    last_dropout: nn.Module,
) -> Count:
    """``last_dropout(linear2(dropout(activation(linear1(x)))))`` for x of ``shape``."""
    hidden = (*shape[:-1], layer.linear1.weight.shape[0])
    out = (*shape[:-1], layer.linear2.weight.shape[0])
    return (
        child_count(layer.linear1, shape, hidden)
        + activation_count(layer.activation, hidden)
        + child_count(layer.dropout, hidden, hidden)
        + child_count(layer.linear2, hidden, out)
        + child_count(last_dropout, out, out)
    )


def _get(inputs: tuple[Any, ...], index: int, default: Any = None) -> Any:
    return inputs[index] if len(inputs) > index else default


def _attention(
    attn: nn.MultiheadAttention, query: Tensor, memory: Tensor, mask: Any, kpm: Any, causal: Any
) -> Count:
    has_mask, has_kpm = mask is not None, kpm is not None
    return mha_module_count(
        attn,
        query,
        memory,
        memory,
        masked=has_mask or has_kpm or bool(causal),
        merge_masks=has_mask and has_kpm,
        need_weights=False,
        average_weights=False,
    )


@register(nn.TransformerEncoderLayer)
def encoder_layer_module(
    module: nn.TransformerEncoderLayer, inputs: tuple[Any, ...], output: Any
) -> Count:
    """Self-attention + dropout1 + residual add + feed-forward (+ dropout2) + residual add
    + norm1 + norm2, whether ``norm_first`` or not (the same parts in another order).

    A nested (ragged) input, what the encoder's fast path hands its layers, counts as
    the padded batch with a key-padding mask (its eager equivalent).
    """
    src = inputs[0]
    batch, length, width = sequence_dims(src, module.self_attn.batch_first)
    shape = (batch, length, width)
    residual = Count(batch * length * width)
    return (
        _attention(module.self_attn, src, src, _get(inputs, 1), _get(inputs, 2), _get(inputs, 3))
        + child_count(module.dropout1, shape, shape)
        + residual
        + feedforward_count(module, shape, module.dropout2)
        + residual
        + child_count(module.norm1, shape, shape)
        + child_count(module.norm2, shape, shape)
    )


@register(nn.TransformerDecoderLayer)
def decoder_layer_module(
    module: nn.TransformerDecoderLayer, inputs: tuple[Any, ...], output: Any
) -> Count:
    """Self-attention over tgt + dropout1 + add, cross-attention to memory + dropout2
    + add, feed-forward (+ dropout3) + add, and norm1, norm2, norm3."""
    tgt, memory = inputs[0], inputs[1]
    batch, length, width = sequence_dims(tgt, module.self_attn.batch_first)
    shape = (batch, length, width)
    residual = Count(batch * length * width)
    self_attention = _attention(
        module.self_attn, tgt, tgt, _get(inputs, 2), _get(inputs, 4), _get(inputs, 6)
    )
    cross_attention = _attention(
        module.multihead_attn, tgt, memory, _get(inputs, 3), _get(inputs, 5), _get(inputs, 7)
    )
    return (
        self_attention
        + child_count(module.dropout1, shape, shape)
        + residual
        + cross_attention
        + child_count(module.dropout2, shape, shape)
        + residual
        + feedforward_count(module, shape, module.dropout3)
        + residual
        + child_count(module.norm1, shape, shape)
        + child_count(module.norm2, shape, shape)
        + child_count(module.norm3, shape, shape)
    )


# TransformerEncoder's padding-mask fast path: checking that a mask is left-aligned reads
# the mask, and packing into / unpacking from a nested tensor moves data; no arithmetic.
register_operator(
    torch._nested_tensor_from_mask_left_aligned,
    torch._nested_tensor_from_mask,
    Tensor.to_padded_tensor,
)(zero_cost)

# Stacks of layers (plus an optional final norm): their children carry every formula.
register_composite(nn.Transformer, nn.TransformerEncoder, nn.TransformerDecoder)
