"""Attention family: scaled dot-product attention, MultiheadAttention, Transformer layers.

The references below compute attention op by op with Tally primitives (counted matmul
loops, exp, sum, div), check their outputs against PyTorch's, and count as they go.
Inside the Transformer layers, the parts other families own (LayerNorm, activation,
Dropout) are priced by their registered formulas (``module_count``/``operator_count`` of
that part alone, tested by those families) while their values come from the part itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

import flopcount
from tests.tally import Tally, module_count, operator_count

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # mismatched mask dtypes


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """Tiny tensors: intra-op threads only contend (LayerNorm 12 µs → 30 ms on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- references -------------------------------------------------------------------------
def t_linear(t: Tally, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    out = t.matmul(x, weight.T)
    return out if bias is None else t.add(out, bias)


def t_softmax(t: Tally, x: Tensor) -> Tensor:
    """The specification's softmax per row: N exps, N − 1 adds, N exps, N divides."""
    denominator = t.sum(t.exp(x), -1).unsqueeze(-1)
    return t.div(t.exp(x), denominator)


def t_attention(
    t: Tally,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[Tensor, Tensor]:
    scores = t.mul(t.matmul(q, k.transpose(-2, -1)), scale)
    if mask is not None:
        scores = t.add(scores, mask)
    weights = t_softmax(t, scores)
    if dropout_p > 0.0:
        weights = t.mul(weights, F.dropout(torch.ones_like(weights), dropout_p))
    return t.matmul(weights, v), weights


def additive(mask: Tensor | None, attend_when: bool) -> Tensor | None:
    """A bool mask as the additive float mask PyTorch builds from it (no arithmetic)."""
    if mask is None or mask.is_floating_point():
        return mask
    blocked = ~mask if attend_when else mask
    return torch.zeros(mask.shape).masked_fill(blocked, float("-inf"))


def t_mha(
    t: Tally,
    m: nn.MultiheadAttention,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """``nn.MultiheadAttention.forward`` op by op (``is_causal`` only hints attn_mask)."""
    batched = query.dim() == 3
    if batched and m.batch_first:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))
    if not batched:
        query, key, value = (x.unsqueeze(1) for x in (query, key, value))
        key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
    length, batch, embed = query.shape
    heads = m.num_heads
    head = embed // heads
    if m._qkv_same_embed_dim:
        w_q, w_k, w_v = m.in_proj_weight.chunk(3)
    else:
        w_q, w_k, w_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    b_q, b_k, b_v = (None,) * 3 if m.in_proj_bias is None else m.in_proj_bias.chunk(3)
    q, k, v = t_linear(t, query, w_q, b_q), t_linear(t, key, w_k, b_k), t_linear(t, value, w_v, b_v)
    mask, kpm = additive(attn_mask, False), additive(key_padding_mask, False)
    extra = 0
    if m.bias_k is not None:
        k = torch.cat([k, m.bias_k.expand(1, batch, embed)])
        v = torch.cat([v, m.bias_v.expand(1, batch, embed)])
        extra += 1
    q, k, v = (x.reshape(x.shape[0], batch * heads, head).transpose(0, 1) for x in (q, k, v))
    if m.add_zero_attn:
        k = torch.cat([k, torch.zeros(batch * heads, 1, head)], 1)
        v = torch.cat([v, torch.zeros(batch * heads, 1, head)], 1)
        extra += 1
    keys = k.shape[1]
    if mask is not None:
        mask = F.pad(mask if mask.dim() == 3 else mask.unsqueeze(0), (0, extra))
    if kpm is not None:
        kpm = F.pad(kpm, (0, extra)).view(batch, 1, 1, keys).expand(-1, heads, -1, -1)
        kpm = kpm.reshape(batch * heads, 1, keys)
        mask = kpm if mask is None else t.add(mask, kpm)
    dropout_p = m.dropout if m.training else 0.0
    out, weights = t_attention(t, q, k, v, 1 / math.sqrt(head), mask, dropout_p)
    out = out.transpose(0, 1).reshape(length * batch, embed)
    out = t_linear(t, out, m.out_proj.weight, m.out_proj.bias).view(length, batch, -1)
    result: Tensor | None = None
    if need_weights:
        result = weights.view(batch, heads, length, keys)
        if average_attn_weights:
            result = t.div(t.sum(result, 1), heads)
        result = result if batched else result.squeeze(0)
    out = out if batched else out.squeeze(1)
    return (out.transpose(0, 1) if batched and m.batch_first else out), result


def borrowed(t: Tally, part: Callable[..., Tensor], x: Tensor) -> Tensor:
    """A part another family owns: its registered count, its own values."""
    cost = module_count(part, x) if isinstance(part, nn.Module) else operator_count(part, x)
    t.ops, t.macs = t.ops + cost.ops, t.macs + cost.macs
    return part(x)


def t_feedforward(t: Tally, layer: nn.Module, x: Tensor, last_dropout: nn.Module) -> Tensor:
    h = borrowed(t, layer.activation, t_linear(t, x, layer.linear1.weight, layer.linear1.bias))
    h = t_linear(t, borrowed(t, layer.dropout, h), layer.linear2.weight, layer.linear2.bias)
    return borrowed(t, last_dropout, h)


def t_encoder_layer(
    t: Tally,
    layer: nn.TransformerEncoderLayer,
    src: Tensor,
    src_mask: Tensor | None = None,
    kpm: Tensor | None = None,
) -> Tensor:
    def sa(x: Tensor) -> Tensor:
        out = t_mha(t, layer.self_attn, x, x, x, kpm, need_weights=False, attn_mask=src_mask)[0]
        return borrowed(t, layer.dropout1, out)

    x = src
    if layer.norm_first:
        x = t.add(x, sa(borrowed(t, layer.norm1, x)))
        return t.add(x, t_feedforward(t, layer, borrowed(t, layer.norm2, x), layer.dropout2))
    x = borrowed(t, layer.norm1, t.add(x, sa(x)))
    return borrowed(t, layer.norm2, t.add(x, t_feedforward(t, layer, x, layer.dropout2)))


def t_decoder_layer(
    t: Tally,
    layer: nn.TransformerDecoderLayer,
    tgt: Tensor,
    memory: Tensor,
    tgt_mask: Tensor | None = None,
    memory_kpm: Tensor | None = None,
) -> Tensor:
    def sa(x: Tensor) -> Tensor:
        out = t_mha(t, layer.self_attn, x, x, x, None, need_weights=False, attn_mask=tgt_mask)[0]
        return borrowed(t, layer.dropout1, out)

    def ca(x: Tensor) -> Tensor:
        out = t_mha(t, layer.multihead_attn, x, memory, memory, memory_kpm, need_weights=False)[0]
        return borrowed(t, layer.dropout2, out)

    x = tgt
    if layer.norm_first:
        x = t.add(x, sa(borrowed(t, layer.norm1, x)))
        x = t.add(x, ca(borrowed(t, layer.norm2, x)))
        return t.add(x, t_feedforward(t, layer, borrowed(t, layer.norm3, x), layer.dropout3))
    x = borrowed(t, layer.norm1, t.add(x, sa(x)))
    x = borrowed(t, layer.norm2, t.add(x, ca(x)))
    return borrowed(t, layer.norm3, t.add(x, t_feedforward(t, layer, x, layer.dropout3)))


def t_sdpa(
    t: Tally,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    groups = q.shape[-3] // k.shape[-3] if q.dim() >= 3 else 1
    k, v = (x.repeat_interleave(groups, -3) if groups > 1 else x for x in (k, v))
    if is_causal:
        attn_mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    return t_attention(t, q, k, v, scale, additive(attn_mask, True), dropout_p)[0]


# -- strategies -------------------------------------------------------------------------
def bool_mask(shape: tuple[int, ...], draw: Any, blocked: bool) -> Tensor:
    """A random bool mask that keeps key 0 visible in every row (no all-masked rows)."""
    bits = draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))
    mask = torch.tensor(bits, dtype=torch.bool).reshape(shape)
    mask[..., 0] = not blocked
    return mask


@st.composite
def mha_cases(draw: Any) -> dict[str, Any]:
    heads, head = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    embed = heads * head
    length, keys, batch = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    kdim = draw(st.sampled_from([None, embed + 1]))
    vdim = draw(st.sampled_from([None, embed + 2]))
    m = nn.MultiheadAttention(
        embed,
        heads,
        bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()),
        add_zero_attn=draw(st.booleans()),
        kdim=kdim,
        vdim=vdim,
        batch_first=draw(st.booleans()),
    ).eval()
    batched = draw(st.booleans())
    lead = (batch,) if batched else ()

    def seq(n: int, width: int) -> Tensor:
        shape = (*lead, n, width) if m.batch_first or not batched else (n, *lead, width)
        return torch.randn(shape)

    value_key = seq(keys, kdim or embed)
    kwargs: dict[str, Any] = {
        "need_weights": draw(st.booleans()),
        "average_attn_weights": draw(st.booleans()),
    }
    mask_kind = draw(st.sampled_from([None, "bool", "float", "bool3d", "float3d", "causal"]))
    if mask_kind == "causal" and (m.add_zero_attn or m.bias_k is not None):
        mask_kind = "bool"  # PyTorch's causal hint then masks the appended keys too
    if mask_kind == "causal":
        kwargs["attn_mask"] = torch.ones(length, keys, dtype=torch.bool).triu(1)
        kwargs["is_causal"] = True
    elif mask_kind is not None:
        shape = (
            (length, keys)
            if "3d" not in mask_kind or not batched
            else (batch * heads, length, keys)
        )
        kwargs["attn_mask"] = (
            bool_mask(shape, draw, True) if mask_kind.startswith("bool") else torch.randn(shape)
        )
    kpm_kind = draw(st.sampled_from([None, "bool", "float"]))
    if kpm_kind == "bool":
        kwargs["key_padding_mask"] = bool_mask((*lead, keys), draw, True)
    elif kpm_kind == "float":
        kwargs["key_padding_mask"] = torch.randn(*lead, keys)
    value = value_key if (kdim or embed) == (vdim or embed) else seq(keys, vdim or embed)
    return {"module": m, "args": (seq(length, embed), value_key, value), "kwargs": kwargs}


# -- MultiheadAttention -----------------------------------------------------------------
@given(mha_cases())
def test_mha_matches_reference(case: dict[str, Any]) -> None:
    m, args, kwargs = case["module"], case["args"], case["kwargs"]
    t = Tally()
    with torch.no_grad():
        expected, expected_weights = t_mha(t, m, *args, **kwargs)
        out, weights = m(*args, **kwargs)
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-4)
    if kwargs["need_weights"]:
        torch.testing.assert_close(expected_weights, weights, atol=1e-5, rtol=1e-4)
    assert module_count(m, *args, **kwargs) == t.count


@given(mha_cases())
def test_mha_functional_form_matches_reference(case: dict[str, Any]) -> None:
    m, (query, key, value), kwargs = case["module"], case["args"], case["kwargs"]
    if m.batch_first and query.dim() == 3:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))
    m.batch_first = False
    t = Tally()
    t_mha(t, m, query, key, value, **kwargs)
    separate = not m._qkv_same_embed_dim
    count = operator_count(
        F.multi_head_attention_forward,
        query,
        key,
        value,
        m.embed_dim,
        m.num_heads,
        m.in_proj_weight,
        m.in_proj_bias,
        m.bias_k,
        m.bias_v,
        m.add_zero_attn,
        m.dropout,
        m.out_proj.weight,
        m.out_proj.bias,
        training=False,
        use_separate_proj_weight=separate,
        q_proj_weight=m.q_proj_weight,
        k_proj_weight=m.k_proj_weight,
        v_proj_weight=m.v_proj_weight,
        **kwargs,
    )
    assert count == t.count


def test_mha_pinned_self_attention() -> None:
    L, B, E, H = 5, 2, 6, 3  # noqa: N806 - shape symbols
    D, S = E // H, L  # noqa: N806
    m = nn.MultiheadAttention(E, H).eval()
    x = torch.randn(L, B, E)
    projections = 4 * (L * B * E * 2 * E)  # q, k, v and out: L·B·E dot products of E, + bias
    scores = B * H * L * S
    attention = (
        scores * (2 * D - 1) + scores + B * H * L * (4 * S - 1) + B * H * L * D * (2 * S - 1)
    )
    average = B * L * S * H  # H − 1 adds and 1 divide per averaged weight
    macs = 4 * L * B * E * E + scores * D + B * H * L * D * S
    assert module_count(m, x, x, x) == flopcount.Count(projections + attention + average, macs)


def test_mha_out_proj_counted_once() -> None:
    m = nn.MultiheadAttention(4, 2)
    x = torch.randn(3, 2, 4)
    t = Tally()
    t_mha(t, m, x, x, x)
    for operators in (False, True):
        report = flopcount.count(m, x, x, x, operators=operators, strict=True)
        assert report.modules["out_proj"].ops == 0 and report.modules["out_proj"].macs == 0
        assert (report.total, report.macs) == tuple(t.count)


def test_mha_dropout_in_training() -> None:
    m = nn.MultiheadAttention(4, 2, dropout=0.5).train()
    x = torch.randn(3, 2, 4)
    t = Tally()
    t_mha(t, m, x, x, x)  # its output is random; only the count is compared
    assert module_count(m, x, x, x) == t.count
    B, H, L = 2, 2, 3  # noqa: N806
    assert module_count(m, x, x, x).ops - module_count(m.eval(), x, x, x).ops == B * H * L * L


def test_mha_masks_and_extra_keys() -> None:
    """Merging attn_mask with key_padding_mask adds B·H·L·S; bias_kv and zero_attn add keys."""
    L, B, E, H = 3, 2, 4, 2  # noqa: N806
    x = torch.randn(L, B, E)
    mask, kpm = torch.zeros(L, L), torch.zeros(B, L)
    plain = nn.MultiheadAttention(E, H).eval()
    one = module_count(plain, x, x, x, attn_mask=mask, need_weights=False).ops
    both = module_count(
        plain, x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=False
    ).ops
    assert both - one == B * H * L * L
    unmasked = module_count(plain, x, x, x, need_weights=False).ops
    assert one - unmasked == B * H * L * L
    extra = nn.MultiheadAttention(E, H, add_bias_kv=True, add_zero_attn=True).eval()
    extra.load_state_dict(plain.state_dict(), strict=False)
    t = Tally()
    t_mha(t, extra, x, x, x, need_weights=False)
    assert module_count(extra, x, x, x, need_weights=False) == t.count
    assert t.count.ops > unmasked


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_unbatched_and_zero_batch(batch_first: bool) -> None:
    m = nn.MultiheadAttention(4, 2, batch_first=batch_first).eval()
    x = torch.randn(3, 4)
    t = Tally()
    t_mha(t, m, x, x, x)
    assert module_count(m, x, x, x) == t.count
    empty = torch.randn(0, 3, 4) if batch_first else torch.randn(3, 0, 4)
    assert module_count(m, empty, empty, empty) == flopcount.Count(0, 0)


def test_mha_meta_device() -> None:
    m = nn.MultiheadAttention(6, 2, kdim=5, vdim=3, add_bias_kv=True).eval()
    q, k, v = torch.randn(4, 2, 6), torch.randn(3, 2, 5), torch.randn(3, 2, 3)
    expected = module_count(m, q, k, v, key_padding_mask=torch.zeros(2, 3, dtype=torch.bool))
    meta = m.to("meta")
    kpm = torch.zeros(2, 3, dtype=torch.bool, device="meta")
    assert (
        module_count(meta, q.to("meta"), k.to("meta"), v.to("meta"), key_padding_mask=kpm)
        == expected
    )


# -- scaled_dot_product_attention -------------------------------------------------------
@st.composite
def sdpa_cases(draw: Any) -> dict[str, Any]:
    batch, kv_heads, groups = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 2)),
        draw(st.integers(1, 3)),
    )
    length, keys = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    head, value_width = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    heads = kv_heads * groups
    q = torch.randn(batch, heads, length, head)
    k, v = torch.randn(batch, kv_heads, keys, head), torch.randn(batch, kv_heads, keys, value_width)
    kwargs: dict[str, Any] = {"scale": draw(st.sampled_from([None, 0.3]))}
    if groups > 1:
        kwargs["enable_gqa"] = True
    mask_kind = draw(st.sampled_from([None, "bool", "float", "causal"]))
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind == "bool":
        kwargs["attn_mask"] = bool_mask((length, keys), draw, blocked=False)
    elif mask_kind == "float":
        kwargs["attn_mask"] = torch.randn(batch, 1, length, keys)
    return {"args": (q, k, v), "kwargs": kwargs}


@given(sdpa_cases())
def test_sdpa_matches_reference(case: dict[str, Any]) -> None:
    args, kwargs = case["args"], case["kwargs"]
    t = Tally()
    expected = t_sdpa(t, *args, **{k: v for k, v in kwargs.items() if k != "enable_gqa"})
    torch.testing.assert_close(
        expected, F.scaled_dot_product_attention(*args, **kwargs), atol=1e-5, rtol=1e-4
    )
    assert operator_count(F.scaled_dot_product_attention, *args, **kwargs) == t.count


def test_sdpa_pinned_causal_counts_every_product() -> None:
    B, H, L, S, D, Dv = 2, 3, 4, 5, 6, 7  # noqa: N806
    q, k, v = torch.randn(B, H, L, D), torch.randn(B, H, S, D), torch.randn(B, H, S, Dv)
    scores = B * H * L * S
    ops = (
        scores * (2 * D - 1)
        + scores
        + scores
        + B * H * L * (4 * S - 1)
        + B * H * L * Dv * (2 * S - 1)
    )
    macs = scores * D + B * H * L * Dv * S
    expected = flopcount.Count(ops, macs)
    assert operator_count(F.scaled_dot_product_attention, q, k, v, is_causal=True) == expected
    mask = torch.zeros(L, S, dtype=torch.bool)  # everything masked but one key: still L·S
    mask[:, 0] = True
    assert operator_count(F.scaled_dot_product_attention, q, k, v, attn_mask=mask) == expected
    plain = operator_count(F.scaled_dot_product_attention, q, k, v)
    assert expected.ops - plain.ops == scores  # only the mask add


def test_sdpa_grouped_query_heads_from_q() -> None:
    B, Hq, Hk, L, S, D = 1, 4, 2, 3, 3, 2  # noqa: N806
    q, kv = torch.randn(B, Hq, L, D), torch.randn(B, Hk, S, D)
    t = Tally()
    t_sdpa(t, q, kv, kv)
    count = operator_count(F.scaled_dot_product_attention, q, kv, kv, enable_gqa=True)
    assert count == t.count and count.macs == 2 * B * Hq * L * S * D


def test_sdpa_dropout_and_zero_size() -> None:
    q = torch.randn(2, 3, 4)
    t = Tally()
    t_sdpa(t, q, q, q, dropout_p=0.5)  # random output: only the count is compared
    assert operator_count(F.scaled_dot_product_attention, q, q, q, dropout_p=0.5) == t.count
    plain = operator_count(F.scaled_dot_product_attention, q, q, q)
    assert t.count.ops - plain.ops == 2 * 3 * 3  # one multiply per attention weight
    empty = torch.randn(2, 0, 4)
    assert operator_count(F.scaled_dot_product_attention, empty, q, q) == flopcount.Count(0, 0)


def test_sdpa_meta_device() -> None:
    q, k, v = torch.randn(2, 2, 3, 4), torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 3)
    mask = torch.randn(3, 5)
    expected = operator_count(F.scaled_dot_product_attention, q, k, v, attn_mask=mask)
    meta = [x.to("meta") for x in (q, k, v, mask)]
    assert operator_count(F.scaled_dot_product_attention, *meta[:3], attn_mask=meta[3]) == expected


# -- Transformer layers -----------------------------------------------------------------
def swish(x: Tensor) -> Tensor:
    return x * torch.sigmoid(x)


ACTIVATIONS: dict[str, Any] = {
    "relu": "relu",
    "gelu": "gelu",
    "module": nn.GELU(),
    "callable": swish,
}


def encoder_layer(activation: Any = "relu", **kwargs: Any) -> nn.TransformerEncoderLayer:
    options = {"dropout": 0.0, "batch_first": True, **kwargs}
    return nn.TransformerEncoderLayer(4, 2, 6, activation=activation, **options)


@given(
    norm_first=st.booleans(),
    bias=st.booleans(),
    batch_first=st.booleans(),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    batch=st.integers(1, 2),
    length=st.integers(1, 4),
    mask=st.booleans(),
    padding=st.booleans(),
)
def test_encoder_layer_matches_reference(
    norm_first: bool,
    bias: bool,
    batch_first: bool,
    activation: str,
    batch: int,
    length: int,
    mask: bool,
    padding: bool,
) -> None:
    layer = encoder_layer(
        ACTIVATIONS[activation], norm_first=norm_first, bias=bias, batch_first=batch_first
    ).train()
    src = torch.randn((batch, length, 4) if batch_first else (length, batch, 4))
    src_mask = torch.randn(length, length) if mask else None
    kpm = torch.zeros(batch, length) if padding else None
    t = Tally()
    with torch.no_grad():
        expected = t_encoder_layer(t, layer, src, src_mask, kpm)
        torch.testing.assert_close(expected, layer(src, src_mask, kpm), atol=1e-5, rtol=1e-4)
    assert module_count(layer, src, src_mask, kpm) == t.count


class Unregistered(nn.Module):
    """Calls a layer that is not its submodule, so the profiler puts no pre-hook on it:
    PyTorch refuses its fused path to modules with hooks of their own."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.__dict__["layer"] = layer
        self.container = nn.Identity()  # a child, so the hook profiler sees a container

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.layer(*args, **kwargs)


WRAPPER_IS_PURE = flopcount.default_registry().copy()
WRAPPER_IS_PURE.register_composite(Unregistered)  # it only forwards: no code of its own


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_fast_path_counts_like_training(
    activation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fused = torch._transformer_encoder_layer_fwd
    calls = []
    monkeypatch.setattr(
        torch, "_transformer_encoder_layer_fwd", lambda *a: calls.append(1) or fused(*a)
    )
    layer = encoder_layer(activation)
    src, kpm = torch.randn(2, 3, 4), torch.tensor([[False] * 3, [False, False, True]])
    for padding in (None, kpm):
        trained = module_count(layer.train(), src, src_key_padding_mask=padding)
        with torch.no_grad():
            fast = module_count(
                Unregistered(layer.eval()),
                src,
                src_key_padding_mask=padding,
                registry=WRAPPER_IS_PURE,
            )
        assert fast == trained
    assert len(calls) == 2  # the fused kernel really ran, with no child hooks firing
    t = Tally()
    with torch.no_grad():
        t_encoder_layer(t, layer, src, kpm=kpm.float().masked_fill(kpm, float("-inf")))
    assert trained == t.count


def test_encoder_layer_nested_input_counts_as_padded_with_mask() -> None:
    """The encoder's fast path hands its layers a nested tensor built from the padding mask."""
    layer = encoder_layer().eval()
    src, kpm = torch.randn(2, 3, 4), torch.tensor([[False] * 3, [False, True, True]])
    nested = torch._nested_tensor_from_mask(src, kpm.logical_not(), mask_check=False)
    with torch.no_grad():
        out = layer(nested)
    formula = flopcount.default_registry().lookup(nn.TransformerEncoderLayer)
    assert formula is not None
    padded = module_count(layer.train(), src, src_key_padding_mask=kpm)
    assert formula(layer, (nested,), out) == padded


def test_encoder_layer_dropout_in_training() -> None:
    layer = encoder_layer(dropout=0.5).train()
    src = torch.randn(2, 3, 4)
    t = Tally()
    with torch.no_grad():
        t_encoder_layer(t, layer, src)  # random output: only the count is compared
    assert module_count(layer, src) == t.count
    assert t.count.ops > module_count(layer.eval(), src).ops


def test_encoder_layer_pinned() -> None:
    B, L, E, H, Fd = 2, 3, 4, 2, 6  # noqa: N806 - Fd: feed-forward width
    D = E // H  # noqa: N806
    layer = encoder_layer().eval()
    x = torch.randn(B, L, E)
    norm = module_count(layer.norm1, x).ops
    relu = operator_count(F.relu, torch.randn(B, L, Fd)).ops
    scores = B * H * L * L
    attention = (
        4 * B * L * E * 2 * E
        + scores * (2 * D - 1)
        + scores
        + B * H * L * (4 * L - 1)
        + B * H * L * D * (2 * L - 1)
    )
    feedforward = B * L * Fd * 2 * E + relu + B * L * E * 2 * Fd
    ops = attention + feedforward + 2 * B * L * E + 2 * norm  # two residual adds, two norms
    macs = 4 * B * L * E * E + scores * D + B * H * L * D * L + 2 * B * L * E * Fd
    assert module_count(layer, x) == flopcount.Count(ops, macs)


@given(
    norm_first=st.booleans(),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    length=st.integers(1, 3),
    memory=st.integers(1, 3),
    causal=st.booleans(),
    padding=st.booleans(),
    bias=st.booleans(),
)
def test_decoder_layer_matches_reference(
    norm_first: bool,
    activation: str,
    length: int,
    memory: int,
    causal: bool,
    padding: bool,
    bias: bool,
) -> None:
    layer = nn.TransformerDecoderLayer(
        4, 2, 5, dropout=0.0, activation=ACTIVATIONS[activation], norm_first=norm_first, bias=bias
    )
    tgt, mem = torch.randn(length, 2, 4), torch.randn(memory, 2, 4)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(length) if causal else None
    kpm = torch.tensor([[False] * memory, [False] + [True] * (memory - 1)]) if padding else None
    t = Tally()
    with torch.no_grad():
        expected = t_decoder_layer(t, layer, tgt, mem, tgt_mask, kpm)
        out = layer(tgt, mem, tgt_mask=tgt_mask, memory_key_padding_mask=kpm)
    torch.testing.assert_close(expected, out, atol=1e-5, rtol=1e-4)
    count = module_count(layer, tgt, mem, tgt_mask=tgt_mask, memory_key_padding_mask=kpm)
    assert count == t.count


def test_callable_activation_priced_by_its_calls() -> None:
    """A plain function has no formula of its own: its torch calls are priced instead."""
    layer = encoder_layer(swish).train()
    src = torch.randn(2, 3, 4)
    hidden = torch.randn(2, 3, 6)
    with_relu = module_count(encoder_layer("relu").train(), src).ops
    relu, swish_ops = operator_count(F.relu, hidden).ops, operator_count(swish, hidden).ops
    for operators in (False, True):
        report = flopcount.count(layer, src, operators=operators, strict=True)
        assert report.total == with_relu - relu + swish_ops
        assert report.modules[""].self_ops == report.total  # nothing leaked to children


def test_layers_meta_device() -> None:
    enc, dec = encoder_layer("gelu", norm_first=True), nn.TransformerDecoderLayer(4, 2, 5)
    src, mem = torch.randn(2, 3, 4), torch.randn(4, 2, 4)
    expected = module_count(enc, src), module_count(dec, src.transpose(0, 1), mem)
    src, mem = src.to("meta"), mem.to("meta")
    assert module_count(enc.to("meta"), src) == expected[0]
    assert module_count(dec.to("meta"), src.transpose(0, 1), mem) == expected[1]


# -- Transformer containers -------------------------------------------------------------
def containers() -> dict[str, tuple[nn.Module, Callable[[Tensor, Tensor | None], tuple[Any, ...]]]]:
    encoder = nn.TransformerEncoder(
        encoder_layer(), 2, norm=nn.LayerNorm(4), enable_nested_tensor=True
    )
    decoder = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, batch_first=True), 2, norm=nn.LayerNorm(4)
    )
    model = nn.Transformer(4, 2, 1, 1, 6, dropout=0.0, batch_first=True)
    return {
        "encoder": (encoder, lambda x, kpm: ((x,), {"src_key_padding_mask": kpm})),
        "decoder": (decoder, lambda x, kpm: ((x, x), {"memory_key_padding_mask": kpm})),
        "transformer": (model, lambda x, kpm: ((x, x), {"src_key_padding_mask": kpm})),
    }


@pytest.mark.parametrize("name", ["encoder", "decoder", "transformer"])
@pytest.mark.parametrize("padding", [False, True])
def test_containers_profile_cleanly(name: str, padding: bool) -> None:
    model, call = containers()[name]
    x = torch.randn(2, 3, 4)
    kpm = torch.tensor([[False] * 3, [False, False, True]]) if padding else None
    args, kwargs = call(x, kpm)
    counts = []
    for training in (True, False):
        model.train(training)
        with torch.set_grad_enabled(training):
            report = flopcount.count(model, *args, strict=True, **kwargs)
        assert report.unsupported == {}
        counts.append(report.total)
    assert counts[1] >= counts[0] > 0  # eval may add the encoder's own mask check


def test_encoder_nested_fast_path_counts_like_training(monkeypatch: pytest.MonkeyPatch) -> None:
    nested = torch._nested_tensor_from_mask
    calls = []
    monkeypatch.setattr(
        torch, "_nested_tensor_from_mask", lambda *a, **k: calls.append(1) or nested(*a, **k)
    )
    model, _ = containers()["encoder"]
    x = torch.randn(2, 3, 4)
    kpm = torch.tensor([[False] * 3, [False, True, True]])  # the longest sequence is full
    trained = module_count(model.train(), x, src_key_padding_mask=kpm)
    with torch.no_grad():
        fast = module_count(model.eval(), x, src_key_padding_mask=kpm)
    assert calls and fast == trained
    layers = sum(
        module_count(layer.train(), x, src_key_padding_mask=kpm).ops for layer in model.layers
    )
    assert trained.ops == layers + module_count(model.norm, x).ops
