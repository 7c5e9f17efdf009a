"""Attention: scaled dot-product attention and multi-head attention.

Attention is priced by its eager math, whatever kernel runs (flash, fused, nested,
``torch._native_multi_head_attention``). Per batch·head with L queries, S keys, head
width D and value width Dv:

    scores  = Q Kᵀ           L·S dot products of D terms (macs L·S·D)
    scores *= scale          L·S multiplies
    scores += mask           L·S adds, when a mask or ``is_causal`` is given
    weights = softmax(scores) along S: L·(4S − 1) (the specification's softmax)
    weights = dropout(weights)  L·S multiplies, only when dropout is active
    out     = weights V      L·Dv dot products of S terms (macs L·Dv·S)

A causal or masked call counts every one of the L·S products: eager attention computes
them all and only then masks. Multi-head attention adds its projections (see
:func:`mha_count`). The Transformer layers are in :mod:`.transformer`.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .._compat import optional
from .._count import Count
from .._registry import register, register_operator
from .._shapes import arg
from .dropout import dropout_count
from .linear import linear_count
from .primitives import dot_products
from .softmax import softmax_count


def attention_core_count(
    batch_heads: int,
    query_len: int,
    key_len: int,
    head_dim: int,
    value_dim: int,
    *,
    masked: bool = False,
    dropout: bool = False,
) -> Count:
    """``softmax(Q Kᵀ · scale (+ mask)) V`` for ``batch_heads`` independent heads.

    With G = batch_heads, L = query_len, S = key_len, D = head_dim, Dv = value_dim:
    ops = G·L·S·(2D − 1) + G·L·S [scale] + G·L·S [mask] + G·L·(4S − 1) [softmax]
    + G·L·S [dropout] + G·L·Dv·(2S − 1); macs = G·L·S·D + G·L·Dv·S.
    """
    scores = batch_heads * query_len * key_len
    if scores <= 0:
        return Count(0)
    total = dot_products(scores, head_dim, bias=False) + Count(scores)
    if masked:
        total += Count(scores)
    total += softmax_count((batch_heads, query_len, key_len), -1)
    if dropout:
        total += dropout_count(scores, p=0.5, training=True)  # any 0 < p < 1: the mask multiply
    return total + dot_products(batch_heads * query_len * value_dim, key_len, bias=False)


def sdpa_count(
    query_shape: tuple[int, ...],
    key_shape: tuple[int, ...],
    value_shape: tuple[int, ...],
    *,
    masked: bool,
    dropout: bool,
) -> Count:
    """``F.scaled_dot_product_attention`` on q (…, L, D), k (…, S, D), v (…, S, Dv).

    Batch × heads G is the product of q's leading dims, also under grouped-query
    attention (k and v with fewer heads are broadcast to q's heads).
    """
    batch_heads = math.prod(query_shape[:-2])
    return attention_core_count(
        batch_heads,
        query_shape[-2],
        key_shape[-2],
        query_shape[-1],
        value_shape[-1],
        masked=masked,
        dropout=dropout,
    )


@register_operator(F.scaled_dot_product_attention)
def sdpa_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Count:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)``."""
    query, key, value = (
        arg(args, kwargs, i, name) for i, name in enumerate(("query", "key", "value"))
    )
    masked = arg(args, kwargs, 3, "attn_mask") is not None or bool(
        arg(args, kwargs, 5, "is_causal", False)
    )
    dropout = float(arg(args, kwargs, 4, "dropout_p", 0.0)) > 0.0
    return sdpa_count(
        tuple(query.shape), tuple(key.shape), tuple(value.shape), masked=masked, dropout=dropout
    )


def mha_count(
    *,
    query_len: int,
    key_len: int,
    batch: int,
    embed_dim: int,
    num_heads: int,
    dims: tuple[int, int, int],
    out_dim: int,
    in_bias: bool,
    out_bias: bool,
    extra_keys: int = 0,
    attended_keys: int | None = None,
    masked: bool = False,
    merge_masks: bool = False,
    dropout: bool = False,
    average_weights: bool = False,
) -> Count:
    """Multi-head attention: in-projections, attention over H heads, out-projection.

    L = query_len, S = key_len, B = batch, E = embed_dim, H = num_heads, D = E / H,
    (Eq, Ek, Ev) = ``dims`` (widths of query, key, value inputs), Eo = out_dim:

    - projections: L·B rows Eq → E, and S·B rows each of Ek → E and Ev → E (with bias
      when ``in_bias``); out-projection L·B rows E → Eo (bias when ``out_bias``);
    - S' = S + ``extra_keys`` (``add_bias_kv`` and ``add_zero_attn`` append one key each)
      or ``attended_keys`` (a static key), attention as :func:`attention_core_count` with
      G = B·H; merging an attention mask with a key-padding mask adds B·H·L·S' adds;
    - averaging the returned weights over heads: B·L·S' means of H terms, H ops each.
    """
    query_dim, key_dim, value_dim = dims
    keys = key_len + extra_keys if attended_keys is None else attended_keys
    total = (
        linear_count((query_len * batch, query_dim), embed_dim, in_bias)
        + linear_count((key_len * batch, key_dim), embed_dim, in_bias)
        + linear_count((key_len * batch, value_dim), embed_dim, in_bias)
    )
    head_dim = embed_dim // num_heads
    scores = batch * num_heads * query_len * keys
    if merge_masks:
        total += Count(scores)
    total += attention_core_count(
        batch * num_heads, query_len, keys, head_dim, head_dim, masked=masked, dropout=dropout
    )
    if average_weights and scores > 0:
        total += Count(scores)  # (H − 1) adds + 1 divide per averaged weight
    return total + linear_count((query_len * batch, embed_dim), out_dim, out_bias)


def sequence_dims(x: Tensor, batch_first: bool) -> tuple[int, int, int]:
    """(batch, length, features) of a sequence input; an unbatched (L, E) input has B = 1.

    A nested (ragged) input counts as its padded equivalent: length = longest sequence.
    Its per-sequence lengths are metadata, like a PackedSequence's batch sizes.
    """
    if x.is_nested:
        sizes = x._nested_tensor_size().tolist()
        length = max((size[0] for size in sizes), default=0)
        features = sizes[0][-1] if sizes else 0
        return len(sizes), length, features
    if x.dim() == 2:
        return 1, x.shape[0], x.shape[1]
    if batch_first:
        return x.shape[0], x.shape[1], x.shape[2]
    return x.shape[1], x.shape[0], x.shape[2]


def mha_module_count(
    module: nn.MultiheadAttention,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    masked: bool,
    merge_masks: bool,
    need_weights: bool,
    average_weights: bool,
) -> Count:
    """One call of ``module`` on these inputs (masks already reduced to flags)."""
    batch, query_len, query_dim = sequence_dims(query, module.batch_first)
    _, key_len, key_dim = sequence_dims(key, module.batch_first)
    value_dim = sequence_dims(value, module.batch_first)[2]
    ragged = query.is_nested or key.is_nested
    extra = int(module.bias_k is not None) + int(module.add_zero_attn)
    return mha_count(
        query_len=query_len,
        key_len=key_len,
        batch=batch,
        embed_dim=module.embed_dim,
        num_heads=module.num_heads,
        dims=(query_dim, key_dim, value_dim),
        out_dim=module.out_proj.weight.shape[0],
        in_bias=module.in_proj_bias is not None,
        out_bias=module.out_proj.bias is not None,
        extra_keys=extra,
        masked=masked or ragged,
        merge_masks=merge_masks,
        dropout=module.training and module.dropout > 0.0,
        average_weights=need_weights and average_weights,
    )


def _get(inputs: tuple[Any, ...], index: int, default: Any = None) -> Any:
    return inputs[index] if len(inputs) > index else default


# torch.ao's quantizable MultiheadAttention (and the quantized one, its subclass) runs the
# same attention through child Linear modules instead of F.multi_head_attention_forward
@register(nn.MultiheadAttention, optional("torch.ao.nn.quantizable.MultiheadAttention"))
def mha_module(module: nn.MultiheadAttention, inputs: tuple[Any, ...], output: Any) -> Count:
    """``nn.MultiheadAttention(query, key, value, key_padding_mask, need_weights,
    attn_mask, average_attn_weights, is_causal)``: see :func:`mha_count`."""
    key_padding_mask, attn_mask = _get(inputs, 3), _get(inputs, 5)
    has_kpm, has_mask = key_padding_mask is not None, attn_mask is not None
    return mha_module_count(
        module,
        inputs[0],
        inputs[1],
        inputs[2],
        masked=has_kpm or has_mask or bool(_get(inputs, 7, False)),
        merge_masks=has_kpm and has_mask,
        need_weights=bool(_get(inputs, 4, True)),
        average_weights=bool(_get(inputs, 6, True)),
    )


_MHA_NAMES = (
    "query",
    "key",
    "value",
    "embed_dim_to_check",
    "num_heads",
    "in_proj_weight",
    "in_proj_bias",
    "bias_k",
    "bias_v",
    "add_zero_attn",
    "dropout_p",
    "out_proj_weight",
    "out_proj_bias",
    "training",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
    "use_separate_proj_weight",
    "q_proj_weight",
    "k_proj_weight",
    "v_proj_weight",
    "static_k",
    "static_v",
    "average_attn_weights",
    "is_causal",
)
_MHA_DEFAULTS = {"training": True, "need_weights": True, "average_attn_weights": True}


@register_operator(F.multi_head_attention_forward)
def mha_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``F.multi_head_attention_forward``: sequence-first (L, B, E) or unbatched (L, E)."""
    a = {
        name: arg(args, kwargs, i, name, _MHA_DEFAULTS.get(name))
        for i, name in enumerate(_MHA_NAMES)
    }
    query, key, value = a["query"], a["key"], a["value"]
    batch, query_len, query_dim = sequence_dims(query, batch_first=False)
    key_len, key_dim, value_dim = sequence_dims(key, False)[1], key.shape[-1], value.shape[-1]
    static_k: Tensor | None = a["static_k"]
    extra = int(a["bias_k"] is not None) + int(bool(a["add_zero_attn"]))
    has_kpm, has_mask = a["key_padding_mask"] is not None, a["attn_mask"] is not None
    return mha_count(
        query_len=query_len,
        key_len=key_len,
        batch=batch,
        embed_dim=query_dim,
        num_heads=int(a["num_heads"]),
        dims=(query_dim, key_dim, value_dim),
        out_dim=a["out_proj_weight"].shape[0],
        in_bias=a["in_proj_bias"] is not None,
        out_bias=a["out_proj_bias"] is not None,
        extra_keys=extra,
        attended_keys=None
        if static_k is None
        else static_k.shape[1] + int(bool(a["add_zero_attn"])),
        masked=has_kpm or has_mask or bool(a["is_causal"]),
        merge_masks=has_kpm and has_mask,
        dropout=bool(a["training"]) and float(a["dropout_p"]) > 0.0,
        average_weights=bool(a["need_weights"]) and bool(a["average_attn_weights"]),
    )
