"""Backward passes: the aten operators autograd runs in ``loss.backward()``, priced.

During backward the engine sees aten operators (``aten.mm``, ``aten.convolution_backward``,
``aten.native_layer_norm_backward``...), not torch functions. Every formula here is keyed by
the operator's *overload packet* (``torch.ops.aten.mm``): a dispatch mode hands over an
overload (``aten.mm.default``, ``aten.add.Tensor``, ``aten.sum.dim_IntList``) whose
``.overloadpacket`` is that key, and every overload of one packet is the same math, read
from the same arguments. The formulas take ``(args, kwargs, output)`` like every operator
formula, with the aten schema's argument order.

The convention is the forward's (:mod:`.primitives`): each add, multiply, divide, exp,
compare is 1 op; MACs only for the products of the linear-algebra core (mm, bmm, the
convolution gradients, attention). Each gradient is priced by its textbook derivation,
written out in ``docs/formulas.md`` ("Backward (gradients)"):

- a sum of c terms costs c − 1 adds; a gradient routed by stored indices (max pooling,
  embedding lookups) is accumulated into a zero buffer, one add per routed element, as
  ``index_add`` is priced (which elements collide depends on values, never read);
- a product's gradient is again a product: ``dA = dC·Bᵀ`` and ``dB = Aᵀ·dC`` are dot
  products like the forward's, so their MACs equal torch's counter's (FLOPs ÷ 2), except
  the weight gradient of a grouped convolution, where torch's counter ignores ``groups``;
- choosing a branch (``where``, ``masked_fill``) and moving data (views, copies, slicing,
  zero-filled buffers) cost nothing, as in the forward.

Only gradients autograd asks for are priced: ``output_mask`` flags (a frozen weight, an
input that needs no gradient) switch their terms off. An aten operator without a formula
here is not zero: the engine names it as unsupported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from .._count import Count
from .._registry import register_operator, zero_cost
from .._shapes import arg, numel, prod
from .arithmetic import addc_operator, div_operator, index_add_operator
from .conv import conv_count, conv_transpose_count
from .dropout import dropout_count
from .matmul import product_count, scaled_sum_count
from .primitives import (
    ABS,
    ADD,
    COMPARE,
    DIV,
    ERF,
    EXP,
    LOG,
    MUL,
    NEG,
    POW,
    SIGMOID,
    SOFTPLUS,
    SQRT,
    SUB,
    TANH,
    TRIG,
    dot_products,
    elementwise,
    expand,
    output_numel,
    per_element,
    rows_along,
)
from .reductions import fold, mean, reducer
from .softmax import softmax_count

aten = torch.ops.aten


def _packets(*names: str) -> list[Any]:
    """The overload packets ``torch.ops.aten.<name>`` this torch has (absent ones skipped)."""
    return [getattr(aten, name) for name in names if hasattr(aten, name)]


def _mask(value: Any, size: int = 3) -> tuple[bool, ...]:
    """An ``output_mask`` argument as booleans (``None``: every gradient)."""
    if value is None:
        return (True,) * size
    return tuple(bool(flag) for flag in value)


# == products ==============================================================================
@register_operator(*_packets("mm", "bmm"))
def mm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``mm(a, b)`` (m, k)@(k, n) / ``bmm`` (B, m, k)@(B, k, n): numel(out) dot products of
    k terms. In backward, ``dX = dY·W`` and ``dW = dYᵀ·X`` of a Linear are two of these."""
    return product_count(output.numel(), args[0].shape[-1])


@register_operator(*_packets("addmm", "baddbmm"))
def addmm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``addmm(input, m1, m2, *, beta, alpha)`` / ``baddbmm``: the product's dot products of
    K = m1.shape[-1] terms, + 1 add per output (unless beta = 0), + 1 multiply per output
    for alpha ≠ 1 and for beta ∉ {0, 1} (:func:`~flopcount.formulas.matmul.scaled_sum_count`)."""
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    return scaled_sum_count(output.numel(), args[1].shape[-1], beta, alpha)


# == convolution ===========================================================================
def conv_backward_count(
    grad_output_shape: Sequence[int],
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Any,
    dilation: Any,
    transposed: bool,
    output_mask: Sequence[bool],
) -> Count:
    """``convolution_backward``: the three gradients of a (transposed) convolution of any rank.

    Conv, weight (Cout, Cin/G, *K), dY (N, Cout, *Out), X (N, Cin, *In):

    - grad_input: the transposed convolution of dY with the same weight
      (:func:`~flopcount.formulas.conv.conv_transpose_count`): macs N·Cout·Out·(Cin/G)·K,
      ops 2·macs − N·Cin·∏ reach_d (each reached element of the uncropped buffer sums its
      contributions; cropped sums counted, as in ConvTranspose);
    - grad_weight: every weight element is a dot product of N·Out terms (dY against the
      padded input): Cout·(Cin/G)·K·(2·N·Out − 1) ops, as many MACs as the forward;
    - grad_bias: a sum over N·Out per output channel: Cout·(N·Out − 1) adds.

    Transposed conv, weight (Cin, Cout/G, *K): grad_input is the convolution of dY with the
    weight (N·Cin·In dot products of (Cout/G)·K terms); grad_weight dot products of N·In
    terms. ``output_mask`` = (input, weight, bias) says which gradients autograd wants.
    """
    want_input, want_weight, want_bias = output_mask
    total = Count(0)
    if want_input:
        if transposed:
            total += conv_count(input_shape, weight_shape, bias=False)
        else:
            total += conv_transpose_count(
                grad_output_shape, weight_shape, input_shape, stride, dilation, bias=False
            )
    if want_weight:
        source = input_shape if transposed else grad_output_shape
        channels = source[1] if len(source) > 1 else 1
        length = numel(source) // channels if channels else 0
        total += dot_products(numel(weight_shape), length, bias=False)
    if want_bias and numel(grad_output_shape) > 0:
        total += Count((numel(grad_output_shape) - grad_output_shape[1]) * ADD)
    return total


@register_operator(*_packets("convolution_backward"))
def convolution_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``convolution_backward(grad_output, input, weight, bias_sizes, stride, padding,
    dilation, transposed, output_padding, groups, output_mask)``: see
    :func:`conv_backward_count`."""
    grad_output, inputs, weight = args[0], args[1], args[2]
    dims = weight.dim() - 2
    return conv_backward_count(
        tuple(grad_output.shape),
        tuple(inputs.shape),
        tuple(weight.shape),
        expand(args[4], dims),
        expand(args[6], dims),
        bool(args[7]),
        _mask(args[10]),
    )


# == normalisation =========================================================================
def standardized_gradient_count(
    groups: int, size: int, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """Gradients of ``y = x̂·γ + β``, ``x̂ = (x − μ)·r``, statistics over groups of ``size``
    elements, γ and β indexed like the group (BatchNorm in training, per channel).

    Per group of N = ``size``: x̂ recomputed from the saved μ and r, 2N (when the input or
    weight gradient is wanted); Σ dY, N − 1 (input or bias); Σ dY·x̂, 2N − 1 (input or
    weight). grad_input ``k·(dY − Σ dY/N − x̂·Σ dY·x̂/N)`` with ``k = γ·r``: 2 divides per
    group, 1 multiply for k with a weight, then 4N. grad_weight and grad_bias are the two
    sums, no more work.
    """
    want_input, want_weight, want_bias = output_mask
    if groups <= 0 or size <= 0:
        return Count(0)
    per_group = 0
    if want_input or want_weight:
        per_group += size * (SUB + MUL)
        per_group += size * MUL + (size - 1) * ADD
    if want_input or want_bias:
        per_group += (size - 1) * ADD
    if want_input:
        per_group += 2 * DIV + (MUL if weight else 0) + size * (MUL + SUB + SUB + MUL)
    return Count(groups * per_group)


def running_statistics_gradient_count(
    channels: int, size: int, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """BatchNorm gradients with running statistics (eval mode): ``y = (x − μ)·r·γ + β``.

    Per channel: r = 1/√(var + eps), 3 ops (input or weight gradient); k = γ·r, 1 (input
    gradient with a weight). grad_input dY·k: 1 per element. grad_weight Σ dY·x̂ with
    x̂ = (x − μ)·r: 2N + 2N − 1 per channel; grad_bias Σ dY: N − 1 per channel.
    """
    want_input, want_weight, want_bias = output_mask
    if channels <= 0 or size <= 0:
        return Count(0)
    per_channel = 0
    if want_input or want_weight:
        per_channel += ADD + SQRT + DIV
    if want_input:
        per_channel += (MUL if weight else 0) + size * MUL
    if want_weight:
        per_channel += size * (SUB + MUL) + size * MUL + (size - 1) * ADD
    if want_bias:
        per_channel += (size - 1) * ADD
    return Count(channels * per_channel)


def batch_norm_backward_count(
    shape: Sequence[int], training: bool, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """BatchNorm over (B, C, *): C groups of N = numel/C; see
    :func:`standardized_gradient_count` (training) and
    :func:`running_statistics_gradient_count` (running statistics)."""
    total = numel(shape)
    channels = shape[1] if len(shape) > 1 else 1
    size = total // channels if channels else 0
    if training:
        return standardized_gradient_count(channels, size, weight, output_mask)
    return running_statistics_gradient_count(channels, size, weight, output_mask)


@register_operator(*_packets("native_batch_norm_backward"))
def native_batch_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``native_batch_norm_backward(grad_out, input, weight, running_mean, running_var,
    save_mean, save_invstd, train, eps, output_mask)``: see :func:`batch_norm_backward_count`."""
    return batch_norm_backward_count(
        tuple(args[1].shape), bool(args[7]), args[2] is not None, _mask(args[9])
    )


@register_operator(*_packets("batch_norm_backward"))
def batch_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    save_var, update, eps, output_mask, reserve)``: training statistics when ``save_mean``
    holds them; see :func:`batch_norm_backward_count`."""
    save_mean = args[5]
    training = save_mean is not None and save_mean.numel() > 0
    return batch_norm_backward_count(
        tuple(args[1].shape), training, args[2] is not None, _mask(args[9])
    )


@register_operator(*_packets("cudnn_batch_norm_backward", "miopen_batch_norm_backward"))
def vendor_batch_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``cudnn_batch_norm_backward(input, grad_output, weight, ...)`` / miopen: training
    statistics, all three gradients; see :func:`batch_norm_backward_count`."""
    return batch_norm_backward_count(tuple(args[0].shape), True, args[2] is not None, (True,) * 3)


def layer_norm_backward_count(
    shape: Sequence[int], normalized_ndim: int, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """LayerNorm over the last ``normalized_ndim`` dims: M rows of N, γ and β of N.

    Per row: x̂ = (x − μ)·r, 2N (input or weight gradient). grad_input: ĝ = dY·γ, N with a
    weight; Σ ĝ, N − 1; Σ ĝ·x̂, 2N − 1; 2 divides by N; r·(ĝ − Σĝ/N − x̂·Σĝx̂/N), 4N:
    7N per row (8N with a weight). grad_weight Σ over rows of dY·x̂: M·N multiplies and
    (M − 1)·N adds; grad_bias Σ over rows of dY: (M − 1)·N adds.
    """
    want_input, want_weight, want_bias = output_mask
    total = numel(shape)
    size = numel(shape[len(shape) - normalized_ndim :])
    if total == 0 or size == 0:
        return Count(0)
    rows = total // size
    ops = 0
    if want_input or want_weight:
        ops += total * (SUB + MUL)
    if want_input:
        per_row = (size * MUL if weight else 0) + (size - 1) * ADD
        per_row += size * MUL + (size - 1) * ADD + 2 * DIV + size * (MUL + SUB + SUB + MUL)
        ops += rows * per_row
    if want_weight:
        ops += total * MUL + (rows - 1) * size * ADD
    if want_bias:
        ops += (rows - 1) * size * ADD
    return Count(ops)


@register_operator(*_packets("native_layer_norm_backward"))
def native_layer_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd, weight,
    bias, output_mask)``: see :func:`layer_norm_backward_count`."""
    return layer_norm_backward_count(
        tuple(args[1].shape), len(args[2]), args[5] is not None, _mask(args[7])
    )


def group_norm_backward_count(
    batch: int, channels: int, spatial: int, groups: int, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """GroupNorm of (B, C, HxW) in G groups: B·G rows of N = (C/G)·HxW, γ per channel.

    As :func:`layer_norm_backward_count` per row (ĝ = dY·γ_c, N with a weight), and the
    parameter gradients per channel over B·HxW elements: grad_weight B·C·HxW multiplies and
    C·(B·HxW − 1) adds, grad_bias C·(B·HxW − 1) adds.
    """
    want_input, want_weight, want_bias = output_mask
    total = batch * channels * spatial
    if total <= 0 or groups <= 0:
        return Count(0)
    size = total // (batch * groups)
    ops = 0
    if want_input or want_weight:
        ops += total * (SUB + MUL)
    if want_input:
        per_row = (size * MUL if weight else 0) + (size - 1) * ADD
        per_row += size * MUL + (size - 1) * ADD + 2 * DIV + size * (MUL + SUB + SUB + MUL)
        ops += batch * groups * per_row
    if want_weight:
        ops += total * MUL + channels * (batch * spatial - 1) * ADD
    if want_bias:
        ops += channels * (batch * spatial - 1) * ADD
    return Count(ops)


@register_operator(*_packets("native_group_norm_backward"))
def native_group_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW, group,
    output_mask)``: see :func:`group_norm_backward_count`."""
    return group_norm_backward_count(
        int(args[5]), int(args[6]), int(args[7]), int(args[8]), args[4] is not None, _mask(args[9])
    )


def rms_norm_backward_count(
    shape: Sequence[int], normalized_ndim: int, weight: bool, output_mask: Sequence[bool]
) -> Count:
    """RMSNorm ``y = x·r·γ``, r = 1/√(mean(x²) + eps) saved, over M rows of N.

    Per row: x̂ = x·r, N (input or weight gradient). grad_input ``r·(ĝ − x̂·Σĝx̂/N)`` with
    ĝ = dY·γ (N with a weight): Σĝ·x̂ 2N − 1, 1 divide, 3N: 5N per row (6N with a weight).
    grad_weight Σ over rows of dY·x̂: M·N multiplies and (M − 1)·N adds.
    """
    want_input, want_weight = output_mask[0], output_mask[1]
    total = numel(shape)
    size = numel(shape[len(shape) - normalized_ndim :])
    if total == 0 or size == 0:
        return Count(0)
    rows = total // size
    ops = total * MUL if want_input or want_weight else 0
    if want_input:
        per_row = (size * MUL if weight else 0) + size * MUL + (size - 1) * ADD + DIV
        ops += rows * (per_row + size * (MUL + SUB + MUL))
    if want_weight:
        ops += total * MUL + (rows - 1) * size * ADD
    return Count(ops)


@register_operator(*_packets("_fused_rms_norm_backward"))
def fused_rms_norm_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``_fused_rms_norm_backward(grad_out, input, normalized_shape, rstd, weight,
    output_mask)``: see :func:`rms_norm_backward_count`."""
    return rms_norm_backward_count(
        tuple(args[1].shape), len(args[2]), args[4] is not None, _mask(args[5], 2)
    )


# == softmax ===============================================================================
def softmax_backward_count(shape: Sequence[int], dim: int) -> Count:
    """Softmax's gradient ``dX = Y ⊙ (dY − Σ dY ⊙ Y)`` along ``dim``: M·(4N − 1).

    Per row of N: N multiplies dY·Y, N − 1 adds, N subtracts, N multiplies by Y.
    """
    m, n = rows_along(shape, dim)
    return Count(m * (n * MUL + (n - 1) * ADD + n * SUB + n * MUL)) if m else Count(0)


def log_softmax_backward_count(shape: Sequence[int], dim: int) -> Count:
    """LogSoftmax's gradient ``dX = dY − exp(Y)·Σ dY`` along ``dim``: M·(4N − 1).

    Per row of N: N − 1 adds (Σ dY), N exps, N multiplies, N subtracts.
    """
    m, n = rows_along(shape, dim)
    return Count(m * ((n - 1) * ADD + n * EXP + n * MUL + n * SUB)) if m else Count(0)


@register_operator(*_packets("_softmax_backward_data"))
def softmax_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``_softmax_backward_data(grad_output, output, dim, input_dtype)``: see
    :func:`softmax_backward_count`."""
    return softmax_backward_count(tuple(args[0].shape), int(args[2]))


@register_operator(*_packets("_log_softmax_backward_data"))
def log_softmax_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``_log_softmax_backward_data(grad_output, output, dim, input_dtype)``: see
    :func:`log_softmax_backward_count`."""
    return log_softmax_backward_count(tuple(args[0].shape), int(args[2]))


# == activations ===========================================================================
GELU_BACKWARD_OPS = {
    # dY·(Φ(x) + x·φ(x)), Φ = ½(1 + erf(x/√2)), φ = exp(−x²/2)/√(2π)
    "none": (MUL + ERF + ADD + MUL) + (MUL + MUL + EXP + MUL) + MUL + ADD + MUL,
    # u = β(x + κx³), t = tanh u: dY·(½(1 + t) + ½x·(1 − t²)·β(1 + 3κx²))
    "tanh": (MUL + MUL + MUL + ADD + MUL + TANH)
    + (MUL + ADD + MUL)
    + (MUL + SUB)
    + (MUL + ADD + MUL)
    + (MUL + MUL + ADD + MUL),
}
"""Ops per element of GELU's gradient, by ``approximate``; docs/formulas.md derives both."""

ACTIVATION_BACKWARD_OPS = {
    "threshold_backward": COMPARE,  # where(x > t, dY, 0)
    "hardtanh_backward": 2 * COMPARE,  # where(lo < x < hi, dY, 0): two compares
    "leaky_relu_backward": COMPARE + MUL,  # where(x > 0, dY, a·dY)
    "sigmoid_backward": SUB + MUL + MUL,  # dY·y·(1 − y), y the saved output
    "tanh_backward": MUL + SUB + MUL,  # dY·(1 − y²)
    "silu_backward": SIGMOID + SUB + MUL + ADD + MUL + MUL,  # dY·s·(1 + x·(1 − s))
    "hardswish_backward": 2 * COMPARE + DIV + ADD + MUL,  # x<−3: 0; x≤3: dY·(x/3 + ½); dY
    "hardsigmoid_backward": 2 * COMPARE + DIV,  # where(−3 < x < 3, dY/6, 0)
    # z = exp(βx): where(βx > t, dY, dY·z/(z + 1))
    "softplus_backward": MUL + COMPARE + EXP + ADD + DIV + MUL,
    "log_sigmoid_backward": EXP + ADD + DIV,  # dY / (1 + eˣ)
    # t = tanh(softplus(x)), s = sigmoid(x): dY·(t + x·s·(1 − t²))
    "mish_backward": SIGMOID + SOFTPLUS + TANH + MUL + SUB + MUL + MUL + ADD + MUL,
}
"""Ops per element of each activation's gradient (the one argument shape is the output's)."""


def _activation_backward(ops: int, name: str) -> Any:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return elementwise(args[0].numel(), ops)

    formula.__doc__ = f"``{name}(grad_output, ...)``: {ops} op(s) per element."
    formula.__qualname__ = formula.__name__ = f"{name}_operator"
    return formula


for _name, _ops in ACTIVATION_BACKWARD_OPS.items():
    register_operator(*_packets(_name))(_activation_backward(_ops, _name))


@register_operator(*_packets("gelu_backward"))
def gelu_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``gelu_backward(grad_output, self, *, approximate)``: ``GELU_BACKWARD_OPS`` per element
    (11 exact, 23 with the tanh approximation)."""
    approximate = kwargs.get("approximate", args[2] if len(args) > 2 else "none")
    return elementwise(args[0].numel(), GELU_BACKWARD_OPS[approximate])


@register_operator(*_packets("elu_backward"))
def elu_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``elu_backward(grad_output, alpha, scale, input_scale, is_result, self_or_result)``:
    from x: where(x ≤ 0, dY·c·exp(x·s_in), dY·scale), c = α·s_in folded: 6 per element;
    from the saved result y: where(y ≤ 0, dY·s_in·(y + α), dY·scale): 5."""
    is_result = bool(args[4])
    ops = COMPARE + ADD + MUL + MUL + MUL if is_result else COMPARE + MUL + EXP + MUL + MUL + MUL
    return elementwise(args[0].numel(), ops)


@register_operator(*_packets("native_dropout_backward"))
def native_dropout_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``native_dropout_backward(grad_output, mask, scale)``: dY times the scaled mask, 1 op
    per element (as the forward's dropout)."""
    return dropout_count(args[0].numel(), p=0.5, training=True)


# == pooling ===============================================================================
def scatter_gradient_count(routed: int) -> Count:
    """A gradient routed by stored indices into a zero buffer: 1 add per routed element."""
    return Count(max(routed, 0) * ADD)


@register_operator(
    *_packets(
        "max_pool2d_with_indices_backward",
        "max_pool3d_with_indices_backward",
        "adaptive_max_pool2d_backward",
        "adaptive_max_pool3d_backward",
    )
)
def max_pool_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``max_pool*_with_indices_backward`` / ``adaptive_max_pool*_backward``: every
    gradient element is added into the buffer at its argmax, numel(grad_output) adds."""
    return scatter_gradient_count(args[0].numel())


def spread_gradient_count(planes: int, per_dim: Sequence[Sequence[int]], outputs: int) -> Count:
    """An average pool's gradient: each output's dY divided by its divisor (``outputs``
    divides), then each input element sums the shares of the windows that hold it (c − 1
    adds for c shares). ``per_dim`` lists, per dimension, each input position's number of
    windows; a plane's adds are ∏_d Σ c_d − ∏_d #(c_d > 0)."""
    if planes <= 0 or outputs <= 0:
        return Count(0)
    shares = prod(sum(counts) for counts in per_dim)
    reached = prod(sum(1 for c in counts if c > 0) for counts in per_dim)
    return Count(outputs * DIV + planes * (shares - reached) * ADD)


def windows_per_position(size: int, out: int, kernel: int, stride: int, padding: int) -> list[int]:
    """For each input position of one dimension, how many in-bounds windows hold it."""
    counts = [0] * size
    for o in range(out):
        start = o * stride - padding
        for j in range(kernel):
            if 0 <= start + j < size:
                counts[start + j] += 1
    return counts


def avg_pool_backward_count(
    grad_output_shape: Sequence[int],
    input_shape: Sequence[int],
    dims: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,
) -> Count:
    """``avg_pool{dims}d_backward``: see :func:`spread_gradient_count`, windows placed as the
    forward's (only in-bounds positions hold a share; padding is never read)."""
    kernel = expand(kernel_size, dims)
    strides = kernel if stride is None or len(stride) == 0 else expand(stride, dims)
    paddings = expand(padding, dims)
    per_dim = [
        windows_per_position(size, out, k, s, p)
        for size, out, k, s, p in zip(
            input_shape[-dims:], grad_output_shape[-dims:], kernel, strides, paddings, strict=True
        )
    ]
    return spread_gradient_count(prod(input_shape[:-dims]), per_dim, numel(grad_output_shape))


def _avg_pool_backward(dims: int) -> Any:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return avg_pool_backward_count(
            tuple(args[0].shape), tuple(args[1].shape), dims, args[2], args[3], args[4]
        )

    formula.__doc__ = (
        f"``avg_pool{dims}d_backward(grad_output, self, kernel_size, stride, padding, ...)``:"
        " see :func:`avg_pool_backward_count`."
    )
    formula.__qualname__ = formula.__name__ = f"avg_pool{dims}d_backward_operator"
    return formula


register_operator(*_packets("avg_pool2d_backward"))(_avg_pool_backward(2))
register_operator(*_packets("avg_pool3d_backward"))(_avg_pool_backward(3))


def adaptive_windows_per_position(size: int, out: int) -> list[int]:
    """For each input position, how many adaptive windows [⌊i·I/O⌋, ⌈(i+1)·I/O⌉) hold it."""
    counts = [0] * size
    for i in range(out):
        for position in range(i * size // out, -(-(i + 1) * size // out)):
            counts[position] += 1
    return counts


def adaptive_avg_pool_backward_count(
    grad_output_shape: Sequence[int], input_shape: Sequence[int], dims: int
) -> Count:
    """``_adaptive_avg_pool{dims}d_backward``: see :func:`spread_gradient_count`."""
    per_dim = [
        adaptive_windows_per_position(size, out)
        for size, out in zip(input_shape[-dims:], grad_output_shape[-dims:], strict=True)
    ]
    return spread_gradient_count(prod(input_shape[:-dims]), per_dim, numel(grad_output_shape))


def _adaptive_avg_pool_backward(dims: int) -> Any:
    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        return adaptive_avg_pool_backward_count(tuple(args[0].shape), tuple(args[1].shape), dims)

    formula.__doc__ = (
        f"``_adaptive_avg_pool{dims}d_backward(grad_output, self)``: see "
        ":func:`adaptive_avg_pool_backward_count`."
    )
    formula.__qualname__ = formula.__name__ = f"adaptive_avg_pool{dims}d_backward_operator"
    return formula


register_operator(*_packets("_adaptive_avg_pool2d_backward"))(_adaptive_avg_pool_backward(2))
register_operator(*_packets("_adaptive_avg_pool3d_backward"))(_adaptive_avg_pool_backward(3))


# == embedding and losses ==================================================================
@register_operator(*_packets("embedding_dense_backward"))
def embedding_backward_operator(
    args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Count:
    """``embedding_dense_backward(grad_output, indices, num_weights, padding_idx,
    scale_grad_by_freq)``: each looked-up row's gradient is added into its weight row,
    numel(grad_output) adds (rows at ``padding_idx`` included: which rows those are is a
    value). ``scale_grad_by_freq`` counts the indices (1 add each) and divides every
    gradient element by its row's count (1 divide each)."""
    grad_output, indices = args[0], args[1]
    count = scatter_gradient_count(grad_output.numel())
    if bool(args[4]):
        count += Count(indices.numel() * ADD + grad_output.numel() * DIV)
    return count


@register_operator(*_packets("nll_loss_backward", "nll_loss2d_backward"))
def nll_loss_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``nll_loss_backward(grad_output, self, target, weight, reduction, ignore_index,
    total_weight)``: the gradient is zero but at each target, where it is −w_t·dY/W.

    reduction 'mean' (1): the scalar −dY/W once, 2 ops; 'sum' (2): −dY once, 1;
    'none' (0): −dY_i per target. With class weights, 1 multiply per target. Targets at
    ``ignore_index`` are priced too (which they are is a value).
    """
    grad_output, target, weight, reduction = args[0], args[2], args[3], int(args[4])
    targets = target.numel()
    if targets == 0:
        return Count(0)
    if reduction == 0:
        ops = grad_output.numel() * NEG
    else:
        ops = NEG + (DIV if reduction == 1 else 0)
    if weight is not None:
        ops += targets * MUL
    return Count(ops)


@register_operator(*_packets("mse_loss_backward"))
def mse_loss_backward_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``mse_loss_backward(grad_output, self, target, reduction)``: ``c·(x − y)·dY`` with
    c = 2 (or 2/n for the mean, a constant of the shapes): 3 ops per element."""
    return elementwise(args[1].numel(), SUB + MUL + MUL)


# == attention =============================================================================
def sdpa_backward_count(
    query_shape: Sequence[int],
    key_shape: Sequence[int],
    value_shape: Sequence[int],
    *,
    masked: bool,
    dropout: bool,
) -> Count:
    """The fused attention gradient (flash, efficient, cuDNN, CPU flash) of
    ``O = softmax(Q Kᵀ·scale (+ mask)) V`` on q (…, L, D), k (…, S, D), v (…, S, Dv).

    With G = the product of q's leading dims (batch × query heads):

    1. the kernel recomputes the probabilities, priced as the forward prices them: Q Kᵀ
       (G·L·S dot products of D), the scale (G·L·S), the mask (G·L·S, when masked or
       causal), softmax G·L·(4S − 1), the dropout mask (G·L·S, with dropout);
    2. dV = Pᵀ dO: G·S·Dv dot products of L; dP = dO Vᵀ: G·L·S dot products of Dv;
       dropout's gradient G·L·S multiplies;
    3. softmax's gradient G·L·(4S − 1); the scale's G·L·S multiplies (the mask's is free);
    4. dQ = dS K: G·L·D dot products of S; dK = dSᵀ Q: G·S·D dot products of L;
    5. grouped-query attention (k and v with H_kv < H_q heads) sums each group's
       gradients: (H_q/H_kv − 1)·(numel(k) + numel(v)) adds.

    macs = G·(L·S·D + 2·L·S·Dv + 2·L·S·D): torch's counter's five products, ÷ 2.
    """
    batch_heads = math.prod(query_shape[:-2])
    queries, keys = query_shape[-2], key_shape[-2]
    head, value_head = query_shape[-1], value_shape[-1]
    scores = batch_heads * queries * keys
    if scores <= 0:
        return Count(0)
    total = dot_products(scores, head, bias=False) + Count(scores * MUL)
    if masked:
        total += Count(scores * ADD)
    total += softmax_count((batch_heads, queries, keys), -1)
    if dropout:
        total += Count(2 * scores * MUL)
    total += dot_products(batch_heads * keys * value_head, queries, bias=False)
    total += dot_products(scores, value_head, bias=False)
    total += softmax_backward_count((batch_heads, queries, keys), -1) + Count(scores * MUL)
    total += dot_products(batch_heads * queries * head, keys, bias=False)
    total += dot_products(batch_heads * keys * head, queries, bias=False)
    query_heads = query_shape[-3] if len(query_shape) > 2 else 1
    key_heads = key_shape[-3] if len(key_shape) > 2 else 1
    if key_heads and query_heads > key_heads:
        repeats = query_heads // key_heads
        total += Count((repeats - 1) * (numel(key_shape) + numel(value_shape)) * ADD)
    return total


def _sdpa_backward(
    name: str, mask_at: int | str | None, dropout_at: int, causal_at: int | None
) -> Any:
    """Operator formula of the sdpa backward ``name`` reading q, k, v at 1, 2, 3 and its
    mask, dropout and causal flags at the given positions (a str: a keyword)."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        query, key, value = args[1], args[2], args[3]
        if isinstance(mask_at, str):
            mask = kwargs.get(mask_at)
        else:
            mask = args[mask_at] if mask_at is not None and len(args) > mask_at else None
        causal = causal_at is not None and len(args) > causal_at and bool(args[causal_at])
        if causal_at is not None and len(args) <= causal_at:
            causal = bool(kwargs.get("is_causal", False))
        masked = causal or (mask is not None and mask.numel() > 0)
        dropout = float(args[dropout_at]) > 0.0
        return sdpa_backward_count(
            tuple(query.shape),
            tuple(key.shape),
            tuple(value.shape),
            masked=masked,
            dropout=dropout,
        )

    formula.__doc__ = f"``{name}``: see :func:`sdpa_backward_count`."
    formula.__qualname__ = formula.__name__ = f"{name.lstrip('_')}_operator"
    return formula


# (grad_out, query, key, value, ...) in every variant; where each keeps its flags
register_operator(*_packets("_scaled_dot_product_flash_attention_for_cpu_backward"))(
    _sdpa_backward("_scaled_dot_product_flash_attention_for_cpu_backward", "attn_mask", 6, 7)
)
register_operator(*_packets("_scaled_dot_product_flash_attention_backward"))(
    _sdpa_backward("_scaled_dot_product_flash_attention_backward", None, 10, 11)
)
register_operator(*_packets("_scaled_dot_product_efficient_attention_backward"))(
    _sdpa_backward("_scaled_dot_product_efficient_attention_backward", 4, 9, 11)
)
register_operator(*_packets("_scaled_dot_product_cudnn_attention_backward"))(
    _sdpa_backward("_scaled_dot_product_cudnn_attention_backward", 8, 13, 14)
)


# == elementwise arithmetic autograd emits =================================================
def _alpha(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("alpha", args[2] if len(args) > 2 else 1)


@register_operator(*_packets("add", "add_", "sub", "sub_", "rsub"))
def add_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``a ± alpha·b`` (Tensor and Scalar overloads): 1 op per element, 2 with alpha ≠ 1."""
    alpha = _alpha(args, kwargs)
    scaled = isinstance(alpha, torch.Tensor) or alpha != 1
    return elementwise(output_numel(output), ADD + (MUL if scaled else 0))


register_operator(*_packets("mul", "mul_"))(per_element(MUL))
register_operator(*_packets("div", "div_"))(div_operator)
register_operator(*_packets("neg", "neg_"))(per_element(NEG))
register_operator(*_packets("pow", "pow_"))(per_element(POW))
register_operator(*_packets("sqrt", "sqrt_"))(per_element(SQRT))
register_operator(*_packets("exp", "exp_"))(per_element(EXP))
register_operator(*_packets("log", "log_"))(per_element(LOG))
register_operator(*_packets("rsqrt"))(per_element(SQRT + DIV))
register_operator(*_packets("reciprocal", "reciprocal_"))(per_element(DIV))
register_operator(*_packets("abs", "abs_"))(per_element(ABS))
register_operator(*_packets("sgn", "sign"))(per_element(COMPARE))
register_operator(*_packets("sin", "cos"))(per_element(TRIG))
register_operator(*_packets("sigmoid"))(per_element(SIGMOID))
register_operator(*_packets("tanh"))(per_element(TANH))
register_operator(
    *_packets(
        "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_and_", "logical_or",
        "logical_not", "maximum", "minimum", "clamp_min", "clamp_max",
    )
)(per_element(COMPARE))  # fmt: skip
register_operator(*_packets("addcmul", "addcmul_", "addcdiv", "addcdiv_"))(addc_operator)
register_operator(*_packets("index_add", "index_add_"))(index_add_operator)


@register_operator(*_packets("clamp", "clamp_"))
def clamp_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``clamp(x, min, max)``: one compare per bound given."""
    low = arg(args, kwargs, 1, "min")
    high = arg(args, kwargs, 2, "max")
    return elementwise(output_numel(output), ((low is not None) + (high is not None)) * COMPARE)


@register_operator(*_packets("scatter_add", "scatter_add_"))
def scatter_add_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``scatter_add(self, dim, index, src)``: every element of ``src`` is added, 1 op each."""
    return scatter_gradient_count(args[3].numel())


@register_operator(*_packets("index_put", "index_put_"))
def index_put_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``index_put(self, indices, values, accumulate)``: with ``accumulate`` every value is
    added (1 op each); without, a write (0)."""
    accumulate = bool(arg(args, kwargs, 3, "accumulate", False))
    return scatter_gradient_count(args[2].numel()) if accumulate else Count(0)


register_operator(*_packets("sum", "amax", "amin"))(reducer(fold))
register_operator(*_packets("mean"))(reducer(mean))


@register_operator(*_packets("cumsum", "cumsum_"))
def cumsum_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``cumsum(self, dim)`` (the gradient of a cumulative sum is a reversed one): N − 1
    adds per line of N along ``dim``."""
    lines, length = rows_along(tuple(args[0].shape), int(args[1]))
    return Count(lines * (length - 1) * ADD) if lines else Count(0)


# == data movement: views, copies, zero buffers, selection ================================
register_operator(
    *_packets(
        "view", "_unsafe_view", "reshape", "_reshape_alias", "alias", "t", "transpose",
        "permute", "expand", "squeeze", "unsqueeze", "slice", "select", "narrow", "as_strided",
        "split", "split_with_sizes", "unbind", "chunk", "diagonal", "view_as_real",
        "view_as_complex", "unfold", "detach", "clone", "contiguous", "copy_", "_to_copy",
        "to", "lift_fresh", "cat", "stack", "flip", "roll", "repeat", "slice_backward",
        "select_backward", "diagonal_backward", "unfold_backward", "as_strided_scatter",
        "slice_scatter", "select_scatter", "zeros", "zeros_like", "ones", "ones_like", "full",
        "full_like", "empty", "empty_like", "empty_strided", "new_zeros", "new_ones",
        "new_full", "new_empty", "new_empty_strided", "fill", "fill_", "zero_",
        "scalar_tensor", "where", "masked_fill", "masked_fill_", "gather", "index_select",
        "scatter", "scatter_", "constant_pad_nd", "_unsafe_index", "index", "embedding",
        "masked_select", "masked_scatter", "tril", "triu",
    )
)(zero_cost)  # fmt: skip
