"""Backward prices: each aten operator autograd runs, against a reference that computes the
gradient itself op by op (Tally), checked against autograd's gradient.

``backward`` runs ``torch.autograd.grad`` under a recording dispatch mode and prices every
aten operator it sees with the registry's formula for its overload packet (what the
engine does); each test then requires the references' gradients to equal autograd's and
their op count to equal the priced one, on random shapes and ``requires_grad``
combinations (a frozen input, a frozen weight, both trainable).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

import flopcount
from flopcount import Count
from flopcount._count import as_count
from flopcount.formulas.gradients import GELU_BACKWARD_OPS
from flopcount.formulas.primitives import PRICES
from tests.tally import Tally

aten = torch.ops.aten
DOUBLE = torch.float64
trainable = st.sampled_from([(True, True), (True, False), (False, True)])  # (input, weight)


# -- the engine's view: aten operators during backward, priced by packet --------------------
class Recorder(TorchDispatchMode):
    """Records every aten call made while autograd runs a graph task."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any]] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if torch._C._current_graph_task_id() != -1:
            self.calls.append((func, args, kwargs, out))
        return out


class Priced:
    """What one backward computed and cost: ``grads``, ``total`` and Counts per packet."""

    def __init__(self, grads: tuple[Tensor | None, ...], calls: list[Any]) -> None:
        self.grads = grads
        self.by_packet: dict[Any, Count] = {}
        registry = flopcount.default_registry()
        for func, args, kwargs, out in calls:
            formula = registry.lookup_operator(func.overloadpacket)
            assert formula is not None, f"{func} has no backward formula"
            count = as_count(formula(args, kwargs, out))
            packet = func.overloadpacket
            self.by_packet[packet] = self.by_packet.get(packet, Count(0)) + count
        self.total = sum(self.by_packet.values(), Count(0))

    def of(self, *packets: Any) -> Count:
        return sum((self.by_packet.get(p, Count(0)) for p in packets), Count(0))


def backward(output: Tensor, inputs: Sequence[Tensor], grad_output: Tensor) -> Priced:
    """Gradients of ``output`` for the ``inputs`` that require grad, priced."""
    wanted = [t for t in inputs if t.requires_grad]
    recorder = Recorder()
    with recorder:
        grads = torch.autograd.grad(output, wanted, grad_output)
    found = iter(grads)
    return Priced(tuple(next(found) if t.requires_grad else None for t in inputs), recorder.calls)


def leaf(*shape: int, grad: bool = True) -> Tensor:
    return torch.randn(*shape, dtype=DOUBLE).requires_grad_(grad)


def close(
    actual: Tensor | None, expected: Tensor | None, rtol: float = 1e-9, atol: float = 1e-9
) -> None:
    assert (actual is None) == (expected is None)
    if actual is not None and expected is not None:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def flop_counter_macs(run: Callable[[], object]) -> dict[Any, int]:
    """torch's own counter's FLOPs per packet, halved to MACs."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode:
        run()
    return {packet: flops // 2 for packet, flops in mode.get_flop_counts()["Global"].items()}


# -- products ------------------------------------------------------------------------------
@given(rows=st.integers(1, 4), fin=st.integers(1, 4), fout=st.integers(1, 4), which=trainable,
       bias=st.booleans())  # fmt: skip
def test_linear_backward_matches_reference(
    rows: int, fin: int, fout: int, which: tuple[bool, bool], bias: bool
) -> None:
    x, w = leaf(rows, fin, grad=which[0]), leaf(fout, fin, grad=which[1])
    b = leaf(fout) if bias else None
    dy = torch.randn(rows, fout, dtype=DOUBLE)
    priced = backward(F.linear(x, w, b), [t for t in (x, w, b) if t is not None], dy)
    tally = Tally()
    close(priced.grads[0], tally.matmul(dy, w.detach()) if x.requires_grad else None)
    close(priced.grads[1], tally.matmul(dy.T, x.detach()) if w.requires_grad else None)
    if b is not None:
        close(priced.grads[2], tally.sum(dy, 0))
    assert priced.total == tally.count


def test_linear_backward_pinned() -> None:
    n, i, o = 5, 3, 4
    x, w, b = leaf(n, i), leaf(o, i), leaf(o)
    priced = backward(F.linear(x, w, b), [x, w, b], torch.ones(n, o, dtype=DOUBLE))
    grad_input = Count(n * i * (2 * o - 1), n * i * o)  # dX = dY·W: n·i dots of o
    grad_weight = Count(o * i * (2 * n - 1), o * i * n)  # dW = dYᵀ·X: o·i dots of n
    grad_bias = Count(o * (n - 1))  # column sums
    assert priced.of(aten.mm) == grad_input + grad_weight
    assert priced.total == grad_input + grad_weight + grad_bias
    frozen = backward(F.linear(x.detach(), w, None), [w], torch.ones(n, o, dtype=DOUBLE))
    assert frozen.total == grad_weight  # no input gradient when the input needs none


@given(batch=st.integers(1, 3), m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3),
       which=trainable)  # fmt: skip
def test_bmm_backward_matches_reference(
    batch: int, m: int, k: int, n: int, which: tuple[bool, bool]
) -> None:
    a, b = leaf(batch, m, k, grad=which[0]), leaf(batch, k, n, grad=which[1])
    dc = torch.randn(batch, m, n, dtype=DOUBLE)
    priced = backward(torch.bmm(a, b), [a, b], dc)
    tally = Tally()
    if a.requires_grad:
        close(priced.grads[0], tally.matmul(dc, b.detach().transpose(1, 2)))
    if b.requires_grad:
        close(priced.grads[1], tally.matmul(a.detach().transpose(1, 2), dc))
    assert priced.total == tally.count


@pytest.mark.parametrize(("beta", "alpha"), [(1, 1), (0, 1), (0.5, 2.0), (1, 3.0)])
@pytest.mark.parametrize("batched", [False, True])
def test_addmm_and_baddbmm_match_reference(beta: float, alpha: float, batched: bool) -> None:
    lead = (2,) if batched else ()
    bias = torch.randn(*lead, 3, 5, dtype=DOUBLE)
    m1, m2 = torch.randn(*lead, 3, 4, dtype=DOUBLE), torch.randn(*lead, 4, 5, dtype=DOUBLE)
    op = torch.baddbmm if batched else torch.addmm
    out = op(bias, m1, m2, beta=beta, alpha=alpha)
    tally = Tally()
    product = tally.matmul(m1, m2)
    expected = product if alpha == 1 else tally.mul(product, alpha)
    if beta != 0:
        expected = tally.add(expected, bias if beta == 1 else tally.mul(bias, beta))
    close(out, expected)
    packet = aten.baddbmm if batched else aten.addmm
    formula = flopcount.default_registry().lookup_operator(packet)
    assert formula is not None
    assert as_count(formula((bias, m1, m2), {"beta": beta, "alpha": alpha}, out)) == tally.count


def test_product_macs_equal_torch_counter() -> None:
    x, w = leaf(6, 5), leaf(4, 5)
    a, b = leaf(3, 2, 5), leaf(3, 5, 4)
    dy, dc = torch.randn(6, 4, dtype=DOUBLE), torch.randn(3, 2, 4, dtype=DOUBLE)

    def run() -> None:
        torch.autograd.grad(F.linear(x, w), [x, w], dy)
        torch.autograd.grad(torch.bmm(a, b), [a, b], dc)

    torch_macs = flop_counter_macs(run)
    linear = backward(F.linear(x, w), [x, w], dy)
    batched = backward(torch.bmm(a, b), [a, b], dc)
    forward_mm = 6 * 4 * 5  # the forward's product, counted by torch in the same block
    forward_bmm = 3 * 2 * 4 * 5
    assert linear.of(aten.mm).macs == torch_macs[aten.mm] - forward_mm
    assert batched.of(aten.bmm).macs == torch_macs[aten.bmm] - forward_bmm


# -- convolution ---------------------------------------------------------------------------
def _flat_positions(
    out: Sequence[int], tap: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
    full: Sequence[int],
) -> Tensor:  # fmt: skip
    """Flat indices in the uncropped buffer of positions o·s + t·d, for every output o."""
    grids = torch.meshgrid(
        *[
            torch.arange(o) * s + t * d
            for o, t, s, d in zip(out, tap, stride, dilation, strict=True)
        ],
        indexing="ij",
    )
    flat = torch.zeros_like(grids[0])
    for grid, size in zip(grids, full, strict=True):
        flat = flat * size + grid
    return flat.reshape(-1)


def reference_conv_backward(
    tally: Tally, dy: Tensor, x: Tensor, w: Tensor, stride: Sequence[int],
    padding: Sequence[int], dilation: Sequence[int], groups: int,
    want: tuple[bool, bool, bool],
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # fmt: skip
    """A (non-transposed) convolution's three gradients, op by op.

    grad_input: products dY·W scattered into the uncropped buffer (a first contribution is
    a copy, every later one an add), then cropped by the padding. grad_weight: dot products
    of dY with the padded input. grad_bias: counted sums of dY.
    """
    n, cout = dy.shape[:2]
    out, kernel = dy.shape[2:], w.shape[2:]
    cin = x.shape[1]
    per_in, per_out = cin // groups, cout // groups
    grad_input = grad_weight = grad_bias = None
    if want[0]:
        full = [
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(out, stride, kernel, dilation, strict=True)
        ]
        buffer = torch.zeros(n, cin, math.prod(full), dtype=dy.dtype)
        filled = torch.zeros(groups, math.prod(full), dtype=torch.bool)  # per channel group
        for co in range(cout):
            g = co // per_out
            for tap in itertools.product(*[range(k) for k in kernel]):
                idx = _flat_positions(out, tap, stride, dilation, full)
                terms = tally.mul(
                    dy[:, co].reshape(n, 1, -1), w[(co, slice(None), *tap)].reshape(1, per_in, 1)
                )
                tally.macs += terms.numel()
                channels = slice(g * per_in, (g + 1) * per_in)
                old = filled[g, idx]
                target = buffer[:, channels][:, :, idx]
                summed = target.clone()
                if old.any():
                    summed[:, :, old] = tally.add(target[:, :, old], terms[:, :, old])
                summed[:, :, ~old] = terms[:, :, ~old]
                block = buffer[:, channels]
                block[:, :, idx] = summed
                buffer[:, channels] = block
                filled[g, idx] = True
        buffer = buffer.reshape(n, cin, *full)
        grad_input = torch.zeros_like(x)
        src = [
            slice(p, min(p + size, f))
            for p, size, f in zip(padding, x.shape[2:], full, strict=True)
        ]
        dst = [
            slice(0, max(0, min(size, f - p)))
            for p, size, f in zip(padding, x.shape[2:], full, strict=True)
        ]
        grad_input[(slice(None), slice(None), *dst)] = buffer[(slice(None), slice(None), *src)]
    if want[1]:
        xp = F.pad(x, [p for pad in reversed(padding) for p in (pad, pad)])
        grad_weight = torch.zeros_like(w)
        for co in range(cout):
            g = co // per_out
            for tap in itertools.product(*[range(k) for k in kernel]):
                window = tuple(
                    slice(t * d, t * d + (o - 1) * s + 1, s)
                    for t, d, o, s in zip(tap, dilation, out, stride, strict=True)
                )
                patch = xp[(slice(None), slice(g * per_in, (g + 1) * per_in), *window)]
                terms = patch.transpose(0, 1).reshape(per_in, 1, -1)  # (Cin/G, 1, N·Out)
                values = dy[:, co].reshape(-1, 1)  # (N·Out, 1)
                grad_weight[(co, slice(None), *tap)] = tally.matmul(terms, values).reshape(-1)
    if want[2]:
        grad_bias = tally.sum(dy.transpose(0, 1).reshape(cout, -1), 1)
    return grad_input, grad_weight, grad_bias


@given(
    dims=st.sampled_from([1, 2]),
    groups=st.sampled_from([1, 2]),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    kernel=st.integers(1, 3),
    size=st.integers(4, 6),
    which=trainable,
    bias=st.booleans(),
)
def test_convolution_backward_matches_reference(
    dims: int, groups: int, stride: int, padding: int, dilation: int, kernel: int, size: int,
    which: tuple[bool, bool], bias: bool,
) -> None:  # fmt: skip
    if (size + 2 * padding - dilation * (kernel - 1) - 1) < 0:
        return
    cin, cout = 2 * groups, 2 * groups
    x = leaf(2, cin, *([size] * dims), grad=which[0])
    w = leaf(cout, cin // groups, *([kernel] * dims), grad=which[1])
    b = leaf(cout) if bias else None
    conv = F.conv1d if dims == 1 else F.conv2d
    y = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    dy = torch.randn_like(y)
    inputs = [t for t in (x, w, b) if t is not None]
    priced = backward(y, inputs, dy)
    tally = Tally()
    grads = reference_conv_backward(
        tally, dy, x.detach(), w.detach(), [stride] * dims, [padding] * dims, [dilation] * dims,
        groups, (x.requires_grad, w.requires_grad, b is not None),
    )  # fmt: skip
    close(priced.grads[0], grads[0])
    close(priced.grads[1], grads[1])
    if b is not None:
        close(priced.grads[2], grads[2])
    assert priced.of(aten.convolution_backward) == tally.count


def test_conv_transpose_backward_matches_its_definition() -> None:
    """A transposed conv's input gradient is a convolution of dY: N·Cin·In dot products of
    (Cout/G)·K terms; its weight gradient dot products of N·In terms."""
    n, cin, cout, size, k, groups = 2, 4, 6, 5, 3, 2
    x, w = leaf(n, cin, size), leaf(cin, cout // groups, k)
    y = F.conv_transpose1d(x, w, stride=2, padding=1, groups=groups)
    dy = torch.randn_like(y)
    priced = backward(y, [x, w], dy)
    close(priced.grads[0], F.conv1d(dy, w, stride=2, padding=1, groups=groups))
    per_group = cout // groups
    grad_input = Count(n * cin * size * (2 * per_group * k - 1), n * cin * size * per_group * k)
    grad_weight = Count(cin * per_group * k * (2 * n * size - 1), cin * per_group * k * n * size)
    assert priced.of(aten.convolution_backward) == grad_input + grad_weight


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_convolution_backward_pinned_and_torch_counter_on_grouped_weights(groups: int) -> None:
    """MACs = torch's counter ÷ 2, except a grouped conv's weight gradient, which torch's
    counter prices as if groups were 1 (G times too many)."""
    n, c, h, k = 2, 4, 6, 3
    x = leaf(n, c, h, h)
    w = leaf(c, c // groups, k, k)
    y = F.conv2d(x, w, padding=1, groups=groups)
    dy = torch.randn_like(y)
    out = h  # padding 1 keeps the size
    per_weight = n * out * out  # each weight element: a dot product over N·Hout·Wout
    priced = backward(y, [x, w], dy)
    forward_macs = n * c * out * out * (c // groups) * k * k
    grad_weight_macs = c * (c // groups) * k * k * per_weight
    assert priced.of(aten.convolution_backward).macs == forward_macs + grad_weight_macs

    def run() -> None:
        torch.autograd.grad(F.conv2d(x, w, padding=1, groups=groups), [x, w], dy)

    torch_backward = flop_counter_macs(run)[aten.convolution_backward]
    assert torch_backward == forward_macs + groups * grad_weight_macs


# -- normalisation -------------------------------------------------------------------------
def reference_standardized_backward(
    tally: Tally, dy: Tensor, x: Tensor, gamma: Tensor | None, dims: tuple[int, ...],
    per_element_gamma: bool, want: tuple[bool, bool, bool],
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # fmt: skip
    """Gradients of ``x̂·γ + β`` with x̂ = (x − μ)·r over ``dims``; μ and r are the forward's
    saved statistics (computed here uncounted). LayerNorm (γ per element: ĝ = dY·γ before
    the sums) and BatchNorm (γ per group: k = γ·r after them) differ only there."""
    size = math.prod(x.shape[d] for d in dims)
    mu = x.mean(dims, keepdim=True)
    r = 1 / torch.sqrt(x.var(dims, unbiased=False, keepdim=True) + 1e-5)
    xhat = tally.mul(tally.sub(x, mu), r) if want[0] or want[1] else None

    def total(t: Tensor) -> Tensor:
        for d in sorted(dims, reverse=True):
            t = tally.sum(t, d).unsqueeze(d)
        return t

    grad_input = grad_weight = grad_bias = None
    if per_element_gamma:  # LayerNorm: parameters reduce over the other dims
        if want[0]:
            g = tally.mul(dy, gamma) if gamma is not None else dy
            a, b = total(g), total(tally.mul(g, xhat))
            a, b = tally.div(a, size), tally.div(b, size)
            inner = tally.sub(tally.sub(g, a), tally.mul(xhat, b))
            grad_input = tally.mul(inner, r)
        rest = [d for d in range(x.dim()) if d not in dims]
        if want[1]:
            grad_weight = tally.mul(dy, xhat)
            for d in sorted(rest, reverse=True):
                grad_weight = tally.sum(grad_weight, d)
        if want[2]:
            grad_bias = dy
            for d in sorted(rest, reverse=True):
                grad_bias = tally.sum(grad_bias, d)
        return grad_input, grad_weight, grad_bias
    sum_g = total(dy) if want[0] or want[2] else None
    sum_gx = total(tally.mul(dy, xhat)) if want[0] or want[1] else None
    if want[0]:
        assert sum_g is not None and sum_gx is not None and xhat is not None
        k = r if gamma is None else tally.mul(gamma.reshape(r.shape), r)
        a, b = tally.div(sum_g, size), tally.div(sum_gx, size)
        grad_input = tally.mul(tally.sub(tally.sub(dy, a), tally.mul(xhat, b)), k)
    if want[1]:
        assert sum_gx is not None
        grad_weight = sum_gx.reshape(-1)
    if want[2]:
        assert sum_g is not None
        grad_bias = sum_g.reshape(-1)
    return grad_input, grad_weight, grad_bias


@given(rows=st.integers(1, 3), features=st.integers(2, 5), which=trainable,
       affine=st.booleans())  # fmt: skip
def test_layer_norm_backward_matches_reference(
    rows: int, features: int, which: tuple[bool, bool], affine: bool
) -> None:
    x = leaf(rows, 2, features, grad=which[0])
    w = leaf(features, grad=which[1]) if affine else None
    b = leaf(features, grad=which[1]) if affine else None
    if not x.requires_grad and not affine:
        return
    y = F.layer_norm(x, (features,), w, b)
    dy = torch.randn_like(y)
    inputs = [t for t in (x, w, b) if t is not None]
    priced = backward(y, inputs, dy)
    tally = Tally()
    want = (x.requires_grad, affine and which[1], affine and which[1])
    grads = reference_standardized_backward(
        tally, dy, x.detach(), None if w is None else w.detach(), (2,), True, want
    )
    close(priced.grads[0], grads[0])
    if affine:
        close(priced.grads[1], grads[1])
        close(priced.grads[2], grads[2])
    assert priced.of(aten.native_layer_norm_backward) == tally.count


def test_layer_norm_backward_pinned() -> None:
    m, n = 6, 4  # rows, normalised size
    x, w, b = leaf(m, n), leaf(n), leaf(n)
    priced = backward(F.layer_norm(x, (n,), w, b), [x, w, b], torch.ones(m, n, dtype=DOUBLE))
    xhat = 2 * m * n
    grad_input = m * (n + (n - 1) + (2 * n - 1) + 2 + 4 * n)  # ĝ, Σĝ, Σĝx̂, /N twice, 4N
    grad_weight = m * n + (m - 1) * n
    grad_bias = (m - 1) * n
    assert priced.total == Count(xhat + grad_input + grad_weight + grad_bias)


@given(batch=st.integers(2, 3), channels=st.integers(1, 3), size=st.integers(1, 3),
       which=trainable, affine=st.booleans(), training=st.booleans())  # fmt: skip
def test_batch_norm_backward_matches_reference(
    batch: int, channels: int, size: int, which: tuple[bool, bool], affine: bool, training: bool
) -> None:
    x = leaf(batch, channels, size, size, grad=which[0])
    w = leaf(channels, grad=which[1]) if affine else None
    b = leaf(channels, grad=which[1]) if affine else None
    if not x.requires_grad and not affine:
        return
    mean, var = torch.randn(channels, dtype=DOUBLE), torch.rand(channels, dtype=DOUBLE) + 0.5
    y = F.batch_norm(x, mean.clone(), var.clone(), w, b, training=training)
    dy = torch.randn_like(y)
    inputs = [t for t in (x, w, b) if t is not None]
    priced = backward(y, inputs, dy)
    want = (x.requires_grad, affine and which[1], affine and which[1])
    tally = Tally()
    gamma = None if w is None else w.detach()
    if training:
        grads = reference_standardized_backward(
            tally, dy, x.detach(), gamma, (0, 2, 3), False, want
        )
    else:
        shape = (1, channels, 1, 1)
        grads_list: list[Tensor | None] = [None, None, None]
        r = None
        if want[0] or want[1]:
            r = tally.div(1.0, tally.sqrt(tally.add(var, 1e-5))).reshape(shape)
        if want[0]:
            assert r is not None
            k = r if gamma is None else tally.mul(gamma.reshape(shape), r)
            grads_list[0] = tally.mul(dy, k)
        if want[1]:
            xhat = tally.mul(tally.sub(x.detach(), mean.reshape(shape)), r)  # type: ignore[arg-type]
            t = tally.mul(dy, xhat).transpose(0, 1).reshape(channels, -1)
            grads_list[1] = tally.sum(t, 1)
        if want[2]:
            grads_list[2] = tally.sum(dy.transpose(0, 1).reshape(channels, -1), 1)
        grads = (grads_list[0], grads_list[1], grads_list[2])
    close(priced.grads[0], grads[0])
    if affine:
        close(priced.grads[1], grads[1])
        close(priced.grads[2], grads[2])
    assert priced.of(aten.native_batch_norm_backward) == tally.count


@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_backward_matches_reference(affine: bool) -> None:
    batch, channels, groups, size = 2, 4, 2, 3
    x = leaf(batch, channels, size)
    w, b = (leaf(channels), leaf(channels)) if affine else (None, None)
    y = F.group_norm(x, groups, w, b)
    dy = torch.randn_like(y)
    priced = backward(y, [t for t in (x, w, b) if t is not None], dy)
    tally = Tally()
    xg, dyg = x.detach().reshape(batch, groups, -1), dy.reshape(batch, groups, -1)
    gamma = None
    if w is not None:
        gamma = w.detach().reshape(groups, -1, 1).expand(groups, channels // groups, size)
        gamma = gamma.reshape(1, groups, -1)
    grad_input, _, _ = reference_standardized_backward(
        tally, dyg, xg, gamma, (2,), True, (True, False, False)
    )
    assert grad_input is not None
    close(priced.grads[0], grad_input.reshape(x.shape))
    if affine:
        mu = xg.mean(2, keepdim=True)
        r = 1 / torch.sqrt(xg.var(2, unbiased=False, keepdim=True) + 1e-5)
        xhat = ((xg - mu) * r).reshape(batch, channels, size)  # shared with grad_input
        gw = tally.mul(dy, xhat).transpose(0, 1).reshape(channels, -1)
        close(priced.grads[1], tally.sum(gw, 1))
        close(priced.grads[2], tally.sum(dy.transpose(0, 1).reshape(channels, -1), 1))
    assert priced.of(aten.native_group_norm_backward) == tally.count


# -- softmax -------------------------------------------------------------------------------
@given(rows=st.integers(1, 3), length=st.integers(1, 5), log=st.booleans())
def test_softmax_backward_matches_reference(rows: int, length: int, log: bool) -> None:
    x = leaf(rows, length)
    y = F.log_softmax(x, -1) if log else F.softmax(x, -1)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    tally = Tally()
    out = y.detach()
    if log:
        expected = tally.sub(dy, tally.mul(tally.exp(out), tally.sum(dy, 1).unsqueeze(1)))
    else:
        dot = tally.sum(tally.mul(dy, out), 1).unsqueeze(1)
        expected = tally.mul(out, tally.sub(dy, dot))
    close(priced.grads[0], expected)
    assert priced.total == tally.count == Count(rows * (4 * length - 1))


# -- activations ---------------------------------------------------------------------------
def _tanh(tally: Tally, u: Tensor) -> Tensor:
    """(eᵘ − e⁻ᵘ) / (eᵘ + e⁻ᵘ), the library's definition of tanh."""
    up, down = tally.exp(u), tally.exp(tally.neg(u))
    return tally.div(tally.sub(up, down), tally.add(up, down))


def _sigmoid(tally: Tally, x: Tensor) -> Tensor:
    return tally.div(1.0, tally.add(1.0, tally.exp(tally.neg(x))))


def _select(tally: Tally, test: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    return tally.unary(test, x)


def ref_threshold(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    return torch.where(_select(t, lambda v: v > 0, x), dy, 0.0)


def ref_hardtanh(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:  # ReLU6
    low, high = _select(t, lambda v: v <= 0, x), _select(t, lambda v: v >= 6, x)
    return torch.where(low, 0.0, torch.where(high, 0.0, dy))


def ref_leaky(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    return torch.where(_select(t, lambda v: v > 0, x), dy, t.mul(dy, 0.01))


def ref_sigmoid(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    return t.mul(t.mul(dy, t.sub(1.0, y)), y)


def ref_tanh(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    return t.mul(dy, t.sub(1.0, t.mul(y, y)))


def ref_silu(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    s = _sigmoid(t, x)
    return t.mul(dy, t.mul(s, t.add(1.0, t.mul(x, t.sub(1.0, s)))))


def ref_hardswish(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    low, mid = _select(t, lambda v: v < -3, x), _select(t, lambda v: v <= 3, x)
    slope = t.mul(dy, t.add(t.div(x, 3.0), 0.5))
    return torch.where(low, 0.0, torch.where(mid, slope, dy))


def ref_hardsigmoid(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    above, below = _select(t, lambda v: v > -3, x), _select(t, lambda v: v < 3, x)
    return torch.where(above, torch.where(below, t.div(dy, 6.0), 0.0), 0.0)


def ref_gelu(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    cdf = t.mul(t.add(1.0, t.unary(torch.erf, t.mul(x, 1 / math.sqrt(2)), PRICES["erf"])), 0.5)
    pdf = t.mul(t.exp(t.mul(t.mul(x, x), -0.5)), 1 / math.sqrt(2 * math.pi))
    return t.mul(dy, t.add(cdf, t.mul(x, pdf)))


def ref_gelu_tanh(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    beta, kappa = math.sqrt(2 / math.pi), 0.044715
    x2 = t.mul(x, x)
    inner = t.mul(t.add(x, t.mul(t.mul(x2, x), kappa)), beta)
    th = _tanh(t, inner)
    left = t.mul(x, 0.5)
    left_derivative = t.mul(t.add(1.0, th), 0.5)
    tanh_derivative = t.sub(1.0, t.mul(th, th))
    inner_derivative = t.mul(t.add(1.0, t.mul(x2, 3 * kappa)), beta)
    right_derivative = t.mul(t.mul(left, tanh_derivative), inner_derivative)
    return t.mul(dy, t.add(left_derivative, right_derivative))


def ref_elu(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:  # alpha = 1.5, from x
    negative = _select(t, lambda v: v <= 0, x)
    return torch.where(negative, t.mul(t.mul(t.exp(t.mul(x, 1.0)), 1.5), dy), t.mul(dy, 1.0))


def ref_softplus(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:  # β = 1, threshold 20
    scaled = t.mul(x, 1.0)
    linear = _select(t, lambda v: v > 20, scaled)
    z = t.exp(scaled)
    return torch.where(linear, dy, t.mul(dy, t.div(z, t.add(z, 1.0))))


def ref_log_sigmoid(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    return t.div(dy, t.add(1.0, t.exp(x)))


def ref_mish(t: Tally, x: Tensor, y: Tensor, dy: Tensor) -> Tensor:
    s = _sigmoid(t, x)
    th = _tanh(t, t.log(t.add(1.0, t.exp(x))))
    slope = t.mul(t.mul(x, s), t.sub(1.0, t.mul(th, th)))
    return t.mul(dy, t.add(th, slope))


ACTIVATIONS: list[tuple[str, Callable[[Tensor], Tensor], Any, Any]] = [
    ("relu", F.relu, ref_threshold, aten.threshold_backward),
    ("relu6", F.relu6, ref_hardtanh, aten.hardtanh_backward),
    ("leaky_relu", F.leaky_relu, ref_leaky, aten.leaky_relu_backward),
    ("sigmoid", torch.sigmoid, ref_sigmoid, aten.sigmoid_backward),
    ("tanh", torch.tanh, ref_tanh, aten.tanh_backward),
    ("silu", F.silu, ref_silu, aten.silu_backward),
    ("hardswish", F.hardswish, ref_hardswish, aten.hardswish_backward),
    ("hardsigmoid", F.hardsigmoid, ref_hardsigmoid, aten.hardsigmoid_backward),
    ("gelu", F.gelu, ref_gelu, aten.gelu_backward),
    ("gelu_tanh", lambda v: F.gelu(v, approximate="tanh"), ref_gelu_tanh, aten.gelu_backward),
    ("elu", lambda v: F.elu(v, alpha=1.5), ref_elu, aten.elu_backward),
    ("softplus", F.softplus, ref_softplus, aten.softplus_backward),
    ("logsigmoid", F.logsigmoid, ref_log_sigmoid, aten.log_sigmoid_backward),
    ("mish", F.mish, ref_mish, aten.mish_backward),
]


@pytest.mark.parametrize(
    ("name", "fn", "reference", "packet"), ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS]
)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_activation_backward_matches_reference(
    name: str, fn: Callable[[Tensor], Tensor], reference: Any, packet: Any, shape: list[int]
) -> None:
    x = (torch.randn(*shape, dtype=DOUBLE) * 4).requires_grad_()
    y = fn(x)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    tally = Tally()
    # some kernels keep constants in single precision (hardsigmoid's 1/6, GELU's 1/√(2π))
    close(priced.grads[0], reference(tally, x.detach(), y.detach(), dy), rtol=1e-6, atol=1e-6)
    assert packet in priced.by_packet
    assert priced.total == tally.count


def test_gelu_backward_pinned() -> None:
    n = 7
    exact = 4 + 4 + 3  # Φ, φ, dY·(Φ + x·φ)
    tanh_form = 5 + 6 + 3 + 2 + 3 + 4  # inner, tanh, ½(1 + t), 1 − t², inner′, products
    assert GELU_BACKWARD_OPS == {"none": exact, "tanh": tanh_form}
    x = leaf(n)
    assert backward(F.gelu(x), [x], torch.ones(n, dtype=DOUBLE)).total == Count(n * exact)


# -- pooling -------------------------------------------------------------------------------
def scatter_reference(tally: Tally, grads: Tensor, index: Tensor, size: int) -> Tensor:
    """Route each gradient element into a zero buffer at its index: one counted add each."""
    planes = grads.reshape(-1, grads.shape[-1])
    where = index.reshape(-1, index.shape[-1])
    buffer = torch.zeros(planes.shape[0], size, dtype=grads.dtype)
    for o in range(planes.shape[1]):
        column = where[:, o : o + 1]
        buffer.scatter_(1, column, tally.add(buffer.gather(1, column), planes[:, o : o + 1]))
    return buffer


@given(size=st.integers(3, 6), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 1))  # fmt: skip
def test_max_pool_backward_matches_reference(
    size: int, kernel: int, stride: int, padding: int
) -> None:
    if padding * 2 > kernel:
        return
    x = leaf(2, 3, size, size)
    y, index = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    tally = Tally()
    flat = scatter_reference(tally, dy.reshape(2, 3, -1), index.reshape(2, 3, -1), size * size)
    close(priced.grads[0], flat.reshape(x.shape))
    assert priced.total == tally.count == Count(y.numel())


def spread_reference(
    tally: Tally, dy: Tensor, windows: list[list[tuple[int, int]]], divisors: Tensor,
    input_shape: Sequence[int],
) -> Tensor:  # fmt: skip
    """Divide each output's gradient by its divisor, then let every input element sum the
    shares of the windows that hold it (a first share is a copy, each later one an add).
    ``windows[d][o]`` is output o's in-bounds span [start, end) along spatial dim d."""
    planes = dy.reshape(-1, *dy.shape[-2:])
    shares = tally.div(planes, divisors)
    out = torch.zeros(planes.shape[0], *input_shape[-2:], dtype=dy.dtype)
    filled = torch.zeros(*input_shape[-2:], dtype=torch.bool)
    for i, (h0, h1) in enumerate(windows[0]):
        for j, (w0, w1) in enumerate(windows[1]):
            share = shares[:, i, j].reshape(-1, 1, 1).expand(-1, h1 - h0, w1 - w0)
            region = out[:, h0:h1, w0:w1]
            old = filled[h0:h1, w0:w1].expand_as(region)
            new = region.clone()
            if old.any():
                new[old] = tally.add(region[old], share[old])
            new[~old] = share[~old]
            out[:, h0:h1, w0:w1] = new
            filled[h0:h1, w0:w1] = True
    return out.reshape(input_shape)


@given(size=st.integers(3, 6), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 1), ceil=st.booleans(), include_pad=st.booleans())  # fmt: skip
def test_avg_pool_backward_matches_reference(
    size: int, kernel: int, stride: int, padding: int, ceil: bool, include_pad: bool
) -> None:
    if padding * 2 > kernel:
        return
    x = leaf(2, 2, size, size + 1)
    y = F.avg_pool2d(x, kernel, stride, padding, ceil_mode=ceil, count_include_pad=include_pad)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    spans, divisors = [], []
    for d, extent in enumerate(x.shape[2:]):
        dim_spans, dim_div = [], []
        for o in range(y.shape[2 + d]):
            start = o * stride - padding
            padded_end = min(start + kernel, extent + padding)
            dim_spans.append((max(start, 0), min(start + kernel, extent)))
            dim_div.append(padded_end - start if include_pad else None)
        spans.append(dim_spans)
        divisors.append(dim_div)
    div = torch.tensor(
        [[
            (dh if dh is not None else hi - lo) * (dw if dw is not None else wi - wo)
            for (wo, wi), dw in zip(spans[1], divisors[1], strict=True)
        ] for (lo, hi), dh in zip(spans[0], divisors[0], strict=True)],
        dtype=DOUBLE,
    )  # fmt: skip
    tally = Tally()
    close(priced.grads[0], spread_reference(tally, dy, spans, div, x.shape))
    assert priced.total == tally.count


@given(size=st.integers(1, 7), out=st.integers(2, 4))
def test_adaptive_avg_pool_backward_matches_reference(size: int, out: int) -> None:
    """(A 1×1 output is a mean in torch: its backward is an expand and a divide per input.)"""
    x = leaf(2, 2, size, size + 1)
    y = F.adaptive_avg_pool2d(x, out)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    spans = [[(i * n // out, -(-(i + 1) * n // out)) for i in range(out)] for n in x.shape[2:]]
    div = torch.tensor(
        [[(h1 - h0) * (w1 - w0) for (w0, w1) in spans[1]] for (h0, h1) in spans[0]],
        dtype=DOUBLE,
    )
    tally = Tally()
    close(priced.grads[0], spread_reference(tally, dy, spans, div, x.shape))
    assert priced.total == tally.count


# -- embedding and classification loss -------------------------------------------------------
@given(rows=st.integers(1, 5), dim=st.integers(1, 3), freq=st.booleans())
def test_embedding_backward_matches_reference(rows: int, dim: int, freq: bool) -> None:
    weight = leaf(4, dim)
    index = torch.randint(0, 4, (2, rows))
    y = F.embedding(index, weight, scale_grad_by_freq=freq)
    dy = torch.randn_like(y)
    priced = backward(y, [weight], dy)
    tally = Tally()
    grads = dy.reshape(-1, dim)
    if freq:
        counts = torch.zeros(4, dtype=DOUBLE)
        for i in index.reshape(-1).tolist():  # one counted add per index
            counts[i] = tally.add(counts[i], 1.0)
        grads = tally.div(grads, counts[index.reshape(-1)].unsqueeze(1))
    buffer = scatter_reference(
        tally, grads.T.contiguous(), index.reshape(1, -1).expand(dim, -1).contiguous(), 4
    )
    close(priced.grads[0], buffer.T)
    assert priced.total == tally.count


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_backward_matches_reference(reduction: str, weighted: bool) -> None:
    rows, classes = 5, 4
    x = leaf(rows, classes)
    target = torch.randint(0, classes, (rows,))
    w = torch.rand(classes, dtype=DOUBLE) + 0.5 if weighted else None
    y = F.cross_entropy(x, target, weight=w, reduction=reduction)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    tally = Tally()
    # nll_loss's gradient: −w_t·dY (/ W for the mean), at each target only
    if reduction == "none":
        scale = tally.neg(dy)
    else:
        scale = tally.neg(dy)
        if reduction == "mean":
            total = w[target].sum() if w is not None else torch.tensor(float(rows), dtype=DOUBLE)
            scale = tally.div(scale, total)
        scale = scale.expand(rows)
    if w is not None:
        scale = tally.mul(scale, w[target])
    grad_logp = torch.zeros(rows, classes, dtype=DOUBLE)
    grad_logp[torch.arange(rows), target] = scale
    logp = F.log_softmax(x.detach(), 1)
    expected = tally.sub(
        grad_logp, tally.mul(tally.exp(logp), tally.sum(grad_logp, 1).unsqueeze(1))
    )
    close(priced.grads[0], expected)
    assert priced.total == tally.count


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_backward_matches_reference(reduction: str) -> None:
    x, target = leaf(3, 4), torch.randn(3, 4, dtype=DOUBLE)
    y = F.mse_loss(x, target, reduction=reduction)
    dy = torch.randn_like(y)
    priced = backward(y, [x], dy)
    tally = Tally()
    norm = 2.0 / x.numel() if reduction == "mean" else 2.0  # a constant of the shapes
    expected = tally.mul(tally.mul(tally.sub(x.detach(), target), norm), dy)
    close(priced.grads[0], expected, rtol=1e-6)  # torch keeps 2/n in single precision
    assert priced.total == tally.count == Count(3 * x.numel())


# -- attention -----------------------------------------------------------------------------
def reference_attention_backward(
    tally: Tally, q: Tensor, k: Tensor, v: Tensor, do: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """The fused kernels' gradient: recompute the probabilities as the forward prices them,
    then dV = PᵀdO, dP = dO·Vᵀ, softmax's gradient, the scale's, dQ = dS·K, dK = dSᵀ·Q;
    grouped-query heads sum their group's dK and dV."""
    repeats = q.shape[1] // k.shape[1]
    kk, vv = k.repeat_interleave(repeats, 1), v.repeat_interleave(repeats, 1)
    scale = 1 / math.sqrt(q.shape[-1])
    scores = tally.mul(tally.matmul(q, kk.transpose(-1, -2)), scale)
    if mask is not None:
        scores = tally.add(scores, mask)
    total = tally.sum(tally.exp(scores), -1).unsqueeze(-1)
    p = tally.div(tally.exp(scores), total)
    dv = tally.matmul(p.transpose(-1, -2), do)
    dp = tally.matmul(do, vv.transpose(-1, -2))
    dot = tally.sum(tally.mul(dp, p), -1).unsqueeze(-1)
    ds = tally.mul(tally.mul(p, tally.sub(dp, dot)), scale)
    dq = tally.matmul(ds, kk)
    dk = tally.matmul(ds.transpose(-1, -2), q)
    if repeats > 1:
        b, h, s, d = k.shape
        dk = tally.sum(dk.reshape(b, h, repeats, s, d), 2)
        dv = tally.sum(dv.reshape(b, h, repeats, s, v.shape[-1]), 2)
    return dq, dk, dv


@given(heads=st.sampled_from([(2, 2), (4, 2), (2, 1)]), queries=st.integers(1, 4),
       keys=st.integers(1, 4), width=st.integers(1, 3), kind=st.sampled_from(["none", "causal",
       "mask"]))  # fmt: skip
def test_sdpa_backward_matches_reference(
    heads: tuple[int, int], queries: int, keys: int, width: int, kind: str
) -> None:
    """float32 reaches the fused CPU kernel (float64 takes the eager math path)."""
    hq, hk = heads
    q = torch.randn(2, hq, queries, width, requires_grad=True)
    k = torch.randn(2, hk, keys, width, requires_grad=True)
    v = torch.randn(2, hk, keys, width, requires_grad=True)  # the fused kernel needs Dv = D
    mask = None
    if kind == "mask":
        mask = torch.randn(queries, keys)
    causal = kind == "causal"
    y = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=hq != hk
    )
    do = torch.randn_like(y)
    priced = backward(y, [q, k, v], do)
    # torch 2.6's fused CPU kernel takes no grouped-query heads: it runs the math path
    # (products priced like any bmm), and this test is about the fused kernel's price
    assume(aten._scaled_dot_product_flash_attention_for_cpu_backward in priced.by_packet)
    if causal:
        mask = torch.full((queries, keys), float("-inf")).triu(1)
    tally = Tally()
    grads = reference_attention_backward(
        tally, *(t.detach().double() for t in (q, k, v)), do.double(),
        None if mask is None else mask.double(),
    )  # fmt: skip
    for actual, expected in zip(priced.grads, grads, strict=True):
        assert actual is not None
        torch.testing.assert_close(actual.double(), expected, rtol=1e-4, atol=1e-5)
    assert priced.of(aten._scaled_dot_product_flash_attention_for_cpu_backward) == tally.count


def test_sdpa_backward_pinned_and_torch_counter() -> None:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    g, hq, length, keys, d, dv = 2, 3, 5, 6, 4, 7
    q, k = (g, hq, length, d), (g, hq, keys, d)
    v, o = (g, hq, keys, dv), (g, hq, length, dv)
    formula = flopcount.default_registry().lookup_operator(
        aten._scaled_dot_product_flash_attention_for_cpu_backward
    )
    assert formula is not None
    meta = [torch.empty(s, device="meta") for s in (o, q, k, v, o)]
    count = as_count(formula((*meta, torch.empty(0), 0.0, False), {}, None))
    heads, scores = g * hq, g * hq * length * keys
    recompute = scores * (2 * d - 1) + scores + heads * length * (4 * keys - 1)
    gradients = (
        heads * keys * dv * (2 * length - 1)  # dV = Pᵀ dO
        + scores * (2 * dv - 1)  # dP = dO Vᵀ
        + heads * length * (4 * keys - 1)  # softmax's gradient
        + scores  # the scale's
        + heads * length * d * (2 * keys - 1)  # dQ = dS K
        + heads * keys * d * (2 * length - 1)  # dK = dSᵀ Q
    )
    macs = heads * (length * keys * d + 2 * length * keys * dv + 2 * length * keys * d)
    assert count == Count(recompute + gradients, macs)
    assert 2 * count.macs == sdpa_backward_flop_count(o, q, k, v)


# -- what the models of the issue run: every backward operator has a formula ----------------
class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.pool, self.fc1 = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1)
        self.fc2, self.gate = nn.Conv2d(c // 2, c, 1), nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.fc2(F.relu(self.fc1(self.pool(x)))))


class Residual(nn.Module):
    def __init__(self, c: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), act(),
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c),
            SqueezeExcite(c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def small_cnn(act: type[nn.Module]) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1), Residual(8, act), nn.AvgPool2d(2), Residual(8, nn.ReLU6),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 16), nn.GELU(),
        nn.Tanh(), nn.Linear(16, 4), nn.Sigmoid(),
    )  # fmt: skip


def unpriced(loss: Tensor) -> set[str]:
    recorder = Recorder()
    with recorder:
        loss.backward()
    registry = flopcount.default_registry()
    return {
        str(func)
        for func, *_ in recorder.calls
        if registry.lookup_operator(func.overloadpacket) is None
    }


@pytest.mark.parametrize("act", [nn.ReLU, nn.Hardswish, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.ELU])
@pytest.mark.parametrize("frozen", [False, True])
def test_every_cnn_backward_operator_has_a_formula(act: type[nn.Module], frozen: bool) -> None:
    model = small_cnn(act).train()
    if frozen:
        for parameter in list(model.parameters())[:-2]:
            parameter.requires_grad_(False)
    assert unpriced(model(torch.randn(2, 3, 16, 16)).pow(2).mean()) == set()


@pytest.mark.parametrize("family", ["gpt2", "bert", "llama", "t5"])
@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_every_transformers_backward_operator_has_a_formula(family: str, attention: str) -> None:
    transformers = pytest.importorskip("transformers")
    configs = {
        "gpt2": (transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=32,
                 n_positions=16), transformers.AutoModelForCausalLM),
        "bert": (transformers.BertConfig(num_hidden_layers=1, hidden_size=16,
                 num_attention_heads=2, intermediate_size=32, vocab_size=32,
                 max_position_embeddings=16), transformers.AutoModelForMaskedLM),
        "llama": (transformers.LlamaConfig(num_hidden_layers=1, hidden_size=16,
                  num_attention_heads=4, num_key_value_heads=2, intermediate_size=32,
                  vocab_size=32, max_position_embeddings=16), transformers.AutoModelForCausalLM),
        "t5": (transformers.T5Config(num_layers=1, num_decoder_layers=1, d_model=16, d_kv=4,
               num_heads=2, d_ff=32, vocab_size=32), transformers.AutoModelForSeq2SeqLM),
    }  # fmt: skip
    config, auto = configs[family]
    model = auto.from_config(config, attn_implementation=attention).train()
    ids = torch.randint(0, 32, (2, 6))
    inputs = {"input_ids": ids, "labels": ids}
    if family == "t5":
        inputs["decoder_input_ids"] = ids
    assert unpriced(model(**inputs).loss) == set()


def test_backward_counts_the_same_on_the_meta_device() -> None:
    def run(device: str) -> Count:
        x = torch.randn(2, 3, 8, 8, device=device, requires_grad=True)
        w = torch.randn(4, 3, 3, 3, device=device, requires_grad=True)
        lw = torch.randn(8, device=device, requires_grad=True)
        y = F.layer_norm(F.relu(F.conv2d(x, w, padding=1)), (8,), lw)
        return backward(y, [x, w, lw], torch.ones_like(y)).total

    assert run("meta") == run("cpu")


# -- the device variants (their kernels need a GPU): same math, same price ----------------------
def _price(packet: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Count:
    formula = flopcount.default_registry().lookup_operator(packet)
    assert formula is not None, packet
    return as_count(formula(args, kwargs or {}, None))


def test_batch_norm_variants_read_their_own_argument_orders() -> None:
    b, c, h = 2, 3, 4
    x, dy = torch.empty(b, c, h, h, device="meta"), torch.empty(b, c, h, h, device="meta")
    w, stat = torch.empty(c, device="meta"), torch.empty(c, device="meta")
    empty = torch.empty(0, device="meta")
    native = _price(
        aten.native_batch_norm_backward,
        (dy, x, w, stat, stat, stat, stat, True, 1e-5, [True, True, True]),
    )
    assert native == _price(
        aten.batch_norm_backward, (dy, x, w, stat, stat, stat, stat, True, 1e-5, [True] * 3, empty)
    )
    assert native == _price(
        aten.cudnn_batch_norm_backward, (x, dy, w, stat, stat, stat, stat, 1e-5, empty)
    )
    assert native == _price(
        aten.miopen_batch_norm_backward, (x, dy, w, stat, stat, stat, stat, 1e-5)
    )
    running = _price(
        aten.native_batch_norm_backward,
        (dy, x, w, stat, stat, None, None, False, 1e-5, [True, True, True]),
    )
    assert running == _price(
        aten.batch_norm_backward,
        (dy, x, w, stat, stat, empty, empty, False, 1e-5, [True] * 3, empty),
    )
    n = b * h * h  # elements per channel
    train = 2 * n + (n - 1) + (2 * n - 1) + 2 + 1 + 4 * n  # x̂, ΣdY, ΣdY·x̂, /N, k, dX
    assert native == Count(c * train)
    assert running == Count(c * (3 + 1 + n + (4 * n - 1) + (n - 1)))  # r, k, dX, dW, dB


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_sdpa_backward_variants_read_their_own_argument_orders(
    masked: bool, causal: bool, dropout: float
) -> None:
    q, k = torch.empty(2, 4, 5, 8, device="meta"), torch.empty(2, 2, 6, 8, device="meta")
    v, o = torch.empty(2, 2, 6, 8, device="meta"), torch.empty(2, 4, 5, 8, device="meta")
    lse, none = torch.empty(2, 4, 5, device="meta"), torch.empty(0, device="meta")
    bias = torch.empty(5, 6, device="meta") if masked else None
    expected = _price(
        aten._scaled_dot_product_flash_attention_for_cpu_backward,
        (o, q, k, v, o, lse, dropout, causal),
        {"attn_mask": bias},
    )
    efficient = _price(
        aten._scaled_dot_product_efficient_attention_backward,
        (o, q, k, v, bias, o, lse, none, none, dropout, [True] * 4, causal),
    )
    cudnn = _price(
        aten._scaled_dot_product_cudnn_attention_backward,
        (o, q, k, v, o, lse, none, none, bias, none, none, 5, 6, dropout, causal),
    )
    assert efficient == cudnn == expected
    if not masked:  # flash takes no mask
        flash = _price(
            aten._scaled_dot_product_flash_attention_backward,
            (o, q, k, v, o, lse, none, none, 5, 6, dropout, causal, none, none),
        )
        assert flash == expected
    scores = 2 * 4 * 5 * 6
    plain = _price(
        aten._scaled_dot_product_flash_attention_for_cpu_backward, (o, q, k, v, o, lse, 0.0, False)
    )
    extra = (masked or causal) * scores + (dropout > 0) * 2 * scores  # mask add; 2 mask multiplies
    assert expected == plain + Count(extra)


@pytest.mark.skipif(
    not hasattr(aten, "_fused_rms_norm_backward"),
    reason=f"torch {torch.__version__} has no aten._fused_rms_norm_backward",
)
@given(rows=st.integers(1, 4), features=st.integers(1, 5), which=trainable,
       affine=st.booleans())  # fmt: skip
def test_fused_rms_norm_backward_matches_reference(
    rows: int, features: int, which: tuple[bool, bool], affine: bool
) -> None:
    """The fused kernel is CUDA-only; its price (on meta tensors) must equal a reference
    whose gradients match autograd's through the CPU decomposition."""
    x = leaf(rows, features, grad=which[0])
    w = leaf(features, grad=which[1]) if affine else None
    if not x.requires_grad and (w is None or not w.requires_grad):
        return
    y = torch.rms_norm(x, [features], w, 1e-6)
    dy = torch.randn_like(y)
    inputs = [t for t in (x, w) if t is not None and t.requires_grad]
    grads = iter(torch.autograd.grad(y, inputs, dy))
    tally = Tally()
    xd = x.detach()
    r = 1 / torch.sqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6)  # saved by the forward
    xhat = tally.mul(xd, r)
    if x.requires_grad:
        g = dy if w is None else tally.mul(dy, w.detach())
        b = tally.div(tally.sum(tally.mul(g, xhat), 1).unsqueeze(1), features)
        close(next(grads), tally.mul(tally.sub(g, tally.mul(xhat, b)), r))
    if w is not None and w.requires_grad:
        close(next(grads), tally.sum(tally.mul(dy, xhat), 0))
    meta = [torch.empty(rows, features, device="meta")] * 2
    weight = None if w is None else torch.empty(features, device="meta")
    mask = [x.requires_grad, w is not None and w.requires_grad]
    rstd = torch.empty(rows, 1, device="meta")
    count = _price(
        aten._fused_rms_norm_backward, (*meta[:1], meta[1], [features], rstd, weight, mask)
    )
    assert count == tally.count
