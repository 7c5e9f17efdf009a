"""RNN, LSTM, GRU and their cells against op-by-op recurrences counted with Tally."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from flopcount import Count
from flopcount.formulas import recurrent
from flopcount.formulas.primitives import PRICES
from tests.tally import Tally, module_count, operator_count

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
# textbook costs in the library's prices: 1 / (1 + e⁻ˣ), (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ), max(x, 0)
SIGMOID = PRICES["neg"] + PRICES["exp"] + PRICES["add"] + PRICES["div"]
TANH = 2 * PRICES["exp"] + PRICES["neg"] + 2 * PRICES["add"] + PRICES["div"]
RELU = PRICES["compare"]
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
MODES = list(GATES)


# -- op-by-op reference ----------------------------------------------------------------------
def sigmoid(t: Tally, x: Tensor) -> Tensor:  # 1 / (1 + e^-x): neg, exp, add, div
    return t.div(1.0, t.add(1.0, t.exp(t.unary(torch.neg, x))))


def tanh(t: Tally, x: Tensor) -> Tensor:  # (e^x - e^-x) / (e^x + e^-x)
    a, b = t.exp(x), t.exp(t.unary(torch.neg, x))
    return t.div(t.sub(a, b), t.add(a, b))


def affine(t: Tally, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    out = t.matmul(x, w.T)
    return out if b is None else t.add(out, b)


def cell_step(t: Tally, mode: str, x: Tensor, state: Any, ws: list[Any]) -> Any:
    """One step of PyTorch's documented cell equations; ws = w_ih, w_hh, b_ih, b_hh, w_hr."""
    w_ih, w_hh, b_ih, b_hh, w_hr = ws
    h = state[0] if mode == "LSTM" else state
    gi, gh = affine(t, x, w_ih, b_ih), affine(t, h, w_hh, b_hh)
    if mode == "RNN_TANH":
        return tanh(t, t.add(gi, gh))
    if mode == "RNN_RELU":
        return t.maximum(t.add(gi, gh), 0.0)
    if mode == "LSTM":
        i, f, g, o = t.add(gi, gh).chunk(4, -1)
        i, f, g, o = sigmoid(t, i), sigmoid(t, f), tanh(t, g), sigmoid(t, o)
        c = t.add(t.mul(f, state[1]), t.mul(i, g))
        h = t.mul(o, tanh(t, c))
        return (h if w_hr is None else t.matmul(h, w_hr.T)), c
    ir, iz, in_ = gi.chunk(3, -1)
    hr, hz, hn = gh.chunk(3, -1)
    r, z = sigmoid(t, t.add(ir, hr)), sigmoid(t, t.add(iz, hz))
    n = tanh(t, t.add(in_, t.mul(r, hn)))
    return t.add(t.mul(t.sub(1.0, z), n), t.mul(z, h))


def layer_weights(m: nn.RNNBase, index: int) -> list[Any]:
    ws = list(m.all_weights[index])
    biases = ws[2:4] if m.bias else [None, None]
    return [ws[0], ws[1], *biases, ws[-1] if m.proj_size else None]


def reference_rnn(
    t: Tally, m: nn.RNNBase, data: Tensor, sizes: list[int], hx: Any = None, noise: Any = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Packed layout: ``data`` (N, I), ``sizes[s]`` rows at step s (a padded input has
    sizes = [B]·T). Returns output data (N, D·Hₒ), h_n and c_n."""
    mode, dirs, hsz = m.mode, 1 + m.bidirectional, m.hidden_size
    hout = m.proj_size or hsz
    starts = [sum(sizes[:s]) for s in range(len(sizes))]
    h0, c0 = (hx if mode == "LSTM" else (hx, None)) if hx is not None else (None, None)
    hn, cn, layer_in = [], [], data
    for layer in range(m.num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h = h0[k] if h0 is not None else data.new_zeros(sizes[0], hout)
            c = c0[k] if c0 is not None else data.new_zeros(sizes[0], hsz)
            steps: list[Tensor] = [data] * len(sizes)
            for s in range(len(sizes)) if d == 0 else reversed(range(len(sizes))):
                b = sizes[s]
                x = layer_in[starts[s] : starts[s] + b]
                new = cell_step(
                    t, mode, x, (h[:b], c[:b]) if mode == "LSTM" else h[:b], layer_weights(m, k)
                )
                if mode == "LSTM":
                    new, c = new[0], torch.cat([new[1], c[b:]])
                h, steps[s] = torch.cat([new, h[b:]]), new
            outs.append(torch.cat(steps))
            hn.append(h)
            cn.append(c)
        layer_in = torch.cat(outs, -1)
        if noise is not None and layer < m.num_layers - 1:
            layer_in = t.mul(layer_in, noise(layer_in))
    return layer_in, torch.stack(hn), torch.stack(cn)


def make_rnn(mode: str, i: int, h: int, **kw: Any) -> nn.RNNBase:
    if not kw.get("proj_size"):
        kw.pop("proj_size", None)  # RNN and GRU refuse the argument, even 0
    if mode.startswith("RNN"):
        return nn.RNN(i, h, nonlinearity=mode[4:].lower(), **kw).double()
    return {"LSTM": nn.LSTM, "GRU": nn.GRU}[mode](i, h, **kw).double()


def run_padded(t: Tally, m: nn.RNNBase, x: Tensor, hx: Any = None) -> tuple[Any, Any]:
    """Reference of ``m(x, hx)`` for a padded (batched or unbatched) input, as the module
    returns it: (output, h_n or (h_n, c_n))."""
    unbatched = x.ndim == 2
    seq = x.unsqueeze(1) if unbatched else (x.transpose(0, 1) if m.batch_first else x)
    big_t, b = seq.shape[:2]
    if hx is not None and unbatched:
        hx = tuple(s.unsqueeze(1) for s in hx) if m.mode == "LSTM" else hx.unsqueeze(1)
    out, hn, cn = reference_rnn(t, m, seq.reshape(big_t * b, seq.shape[-1]), [b] * big_t, hx)
    out = out.reshape(big_t, b, out.shape[-1])
    out = out.squeeze(1) if unbatched else (out.transpose(0, 1) if m.batch_first else out)
    if unbatched:
        hn, cn = hn.squeeze(1), cn.squeeze(1)
    return out, ((hn, cn) if m.mode == "LSTM" else hn)


def meta_count(m: nn.Module, *args: Any) -> Count:
    def to_meta(a: Any) -> Any:
        if isinstance(a, PackedSequence):  # batch_sizes stays on the CPU
            return a._replace(data=a.data.to("meta"))
        return a.to("meta") if isinstance(a, Tensor) else tuple(map(to_meta, a))

    return module_count(copy.deepcopy(m).to("meta"), *map(to_meta, args))


# -- modules, hypothesis ----------------------------------------------------------------------
@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(MODES))
    h = draw(st.integers(1, 3))
    return {
        "mode": mode,
        "i": draw(st.integers(1, 3)),
        "h": h,
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "proj_size": draw(st.integers(0, h - 1)) if mode == "LSTM" else 0,
    }


def initial_state(m: nn.RNNBase, lead: tuple[int, ...]) -> Any:
    n = m.num_layers * (1 + m.bidirectional)
    h = torch.randn(n, *lead, m.proj_size or m.hidden_size, dtype=torch.double)
    return (h, torch.randn(n, *lead, m.hidden_size, dtype=torch.double)) if m.mode == "LSTM" else h


@given(
    cfg=configs(),
    steps=st.integers(1, 3),
    batch=st.integers(0, 2),
    unbatched=st.booleans(),
    with_hx=st.booleans(),
)
def test_rnn_modules_match_reference(
    cfg: dict[str, Any], steps: int, batch: int, unbatched: bool, with_hx: bool
) -> None:
    m = make_rnn(**cfg).eval()
    shape = (
        (steps, cfg["i"])
        if unbatched
        else ((batch, steps, cfg["i"]) if cfg["batch_first"] else (steps, batch, cfg["i"]))
    )
    x = torch.randn(shape, dtype=torch.double)
    args = (x, initial_state(m, () if unbatched else (batch,))) if with_hx else (x,)
    t = Tally()
    expected = run_padded(t, m, *args)
    torch.testing.assert_close(expected, m(*args))
    assert module_count(m, *args) == t.count
    assert meta_count(m, *args) == t.count


@given(
    cfg=configs(),
    lengths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    enforce_sorted=st.booleans(),
)
def test_rnn_modules_packed_count_only_real_steps(
    cfg: dict[str, Any], lengths: list[int], enforce_sorted: bool
) -> None:
    cfg["batch_first"] = False
    m = make_rnn(**cfg).eval()
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    padded = torch.randn(max(lengths), len(lengths), cfg["i"], dtype=torch.double)
    packed = pack_padded_sequence(padded, torch.tensor(lengths), enforce_sorted=enforce_sorted)
    t = Tally()
    out, _, _ = reference_rnn(t, m, packed.data, packed.batch_sizes.tolist())
    torch.testing.assert_close(out, m(packed)[0].data)
    assert module_count(m, packed) == t.count
    assert meta_count(m, packed) == t.count


def rnn_op_args(
    m: nn.RNNBase, data: Tensor, hx: Any, packed: Tensor | None, train: bool = False
) -> tuple[Any, ...]:
    rest = (m._flat_weights, m.bias, m.num_layers, float(m.dropout), train, m.bidirectional)
    return (data, packed, hx, *rest) if packed is not None else (data, hx, *rest, m.batch_first)


@given(cfg=configs(), steps=st.integers(1, 3), batch=st.integers(0, 2), packed=st.booleans())
def test_rnn_operators_match_reference(
    cfg: dict[str, Any], steps: int, batch: int, packed: bool
) -> None:
    cfg["batch_first"] = False
    m = make_rnn(**cfg)
    fn = getattr(torch, m.mode.lower())
    batch = max(batch, 1) if packed else batch
    hx = initial_state(m, (batch,))
    t = Tally()
    if packed:
        seq = pack_padded_sequence(
            torch.randn(steps, batch, cfg["i"], dtype=torch.double),
            torch.tensor([steps] + [1] * (batch - 1)),
        )
        reference_rnn(t, m, seq.data, seq.batch_sizes.tolist(), hx)
        assert operator_count(fn, *rnn_op_args(m, seq.data, hx, seq.batch_sizes)) == t.count
    else:
        x = torch.randn(steps, batch, cfg["i"], dtype=torch.double)
        expected = reference_rnn(t, m, x.reshape(steps * batch, cfg["i"]), [batch] * steps, hx)[0]
        torch.testing.assert_close(
            expected.reshape(steps, batch, expected.shape[-1]), fn(*rnn_op_args(m, x, hx, None))[0]
        )
        assert operator_count(fn, *rnn_op_args(m, x, hx, None)) == t.count


# -- cells -------------------------------------------------------------------------------------
def make_cell(mode: str, i: int, h: int, bias: bool) -> nn.RNNCellBase:
    if mode.startswith("RNN"):
        return nn.RNNCell(i, h, bias, nonlinearity=mode[4:].lower()).double()
    return {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}[mode](i, h, bias).double()


def cell_weights(c: nn.RNNCellBase) -> list[Any]:
    return [c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh, None]


@given(
    mode=st.sampled_from(MODES),
    i=st.integers(1, 3),
    h=st.integers(1, 3),
    bias=st.booleans(),
    batch=st.integers(0, 3),
    unbatched=st.booleans(),
    with_hx=st.booleans(),
)
def test_cells_match_reference(
    mode: str, i: int, h: int, bias: bool, batch: int, unbatched: bool, with_hx: bool
) -> None:
    c = make_cell(mode, i, h, bias)
    lead = () if unbatched else (batch,)
    x = torch.randn(*lead, i, dtype=torch.double)
    hx: Any = torch.randn(*lead, h, dtype=torch.double)
    if mode == "LSTM":
        hx = (hx, torch.randn(*lead, h, dtype=torch.double))
    args = (x, hx) if with_hx else (x,)
    state = (
        hx
        if with_hx
        else ((x.new_zeros(*lead, h),) * 2 if mode == "LSTM" else x.new_zeros(*lead, h))
    )
    t = Tally()
    if unbatched:  # Tally.matmul wants a row dimension: run one row and drop it again
        rows = (s.unsqueeze(0) for s in state) if mode == "LSTM" else state.unsqueeze(0)
        out = cell_step(
            t, mode, x.unsqueeze(0), tuple(rows) if mode == "LSTM" else rows, cell_weights(c)
        )
        expected = tuple(o.squeeze(0) for o in out) if mode == "LSTM" else out.squeeze(0)
    else:
        expected = cell_step(t, mode, x, state, cell_weights(c))
    torch.testing.assert_close(expected, c(*args))
    assert module_count(c, *args) == t.count
    assert meta_count(c, *args) == t.count
    if not unbatched:  # the operator takes batched input and a required hx
        fn = getattr(torch, mode.lower() + "_cell")
        assert operator_count(fn, x, state, *cell_weights(c)[:4]) == t.count


@pytest.mark.parametrize("mode", MODES)
def test_cell_operators_count_each_bias_separately(mode: str) -> None:
    c = make_cell(mode, 3, 2, True)
    x, h = torch.randn(4, 3, dtype=torch.double), torch.zeros(4, 2, dtype=torch.double)
    state = (h, h) if mode == "LSTM" else h
    fn = getattr(torch, mode.lower() + "_cell")
    counts = []
    for b_ih, b_hh in ((c.bias_ih, c.bias_hh), (c.bias_ih, None), (None, c.bias_hh), (None, None)):
        t = Tally()
        cell_step(t, mode, x, state, [c.weight_ih, c.weight_hh, b_ih, b_hh, None])
        counts.append(operator_count(fn, x, state, c.weight_ih, c.weight_hh, b_ih=b_ih, b_hh=b_hh))
        assert counts[-1] == t.count
    rows, units = 4, GATES[mode] * 2
    assert counts[0].ops - counts[1].ops == counts[2].ops - counts[3].ops == rows * units


# -- pinned cases (arithmetic of named dimensions) ------------------------------------------------
T, B, IN, H, P = 5, 3, 4, 6, 2


def per_row(gates: int, n_in: int, n_h: int, unit: int, bias: bool = True) -> int:
    """gate pre-activations (dot products + 2 bias adds) + elementwise work per row."""
    return gates * H * (2 * n_in - 1 + bias) + gates * H * (2 * n_h - 1 + bias) + H * unit


LSTM_UNIT = 4 + 3 * SIGMOID + TANH + 3 + TANH + 1
GRU_UNIT = 2 + 2 * SIGMOID + 2 + TANH + 4


def test_pinned_rnn_tanh_and_relu() -> None:
    x = torch.randn(T, B, IN)
    ops = T * B * (H * (2 * IN) + H * (2 * H) + H * (1 + TANH))
    assert module_count(nn.RNN(IN, H), x) == Count(ops, T * B * H * (IN + H))
    ops = T * B * (H * (2 * IN - 1) + H * (2 * H - 1) + H * (1 + RELU))
    assert module_count(nn.RNN(IN, H, nonlinearity="relu", bias=False), x).ops == ops


def test_pinned_lstm_proj_bidirectional_two_layers() -> None:
    """Layer 2 reads 2·P features; h is P long, so W_hh is (4H, P); W_hr is (P, H)."""
    m = nn.LSTM(IN, H, num_layers=2, bidirectional=True, proj_size=P)
    layer1 = per_row(4, IN, P, LSTM_UNIT) + P * (2 * H - 1)
    layer2 = per_row(4, 2 * P, P, LSTM_UNIT) + P * (2 * H - 1)
    macs = 4 * H * (IN + P) + P * H + 4 * H * (2 * P + P) + P * H
    assert module_count(m, torch.randn(T, B, IN)) == Count(
        T * B * 2 * (layer1 + layer2), T * B * 2 * macs
    )


def test_pinned_gru_bidirectional_layer_two_reads_2h() -> None:
    m = nn.GRU(IN, H, num_layers=2, bidirectional=True)
    ops = T * B * 2 * (per_row(3, IN, H, GRU_UNIT) + per_row(3, 2 * H, H, GRU_UNIT))
    assert module_count(m, torch.randn(T, B, IN)).ops == ops


def test_pinned_cells_and_lstmcell_tuple_output() -> None:
    x = torch.randn(B, IN)
    assert module_count(nn.RNNCell(IN, H), x).ops == B * per_row(1, IN, H, 1 + TANH)
    assert module_count(nn.GRUCell(IN, H), x).ops == B * per_row(3, IN, H, GRU_UNIT)
    cell = nn.LSTMCell(IN, H)
    out = cell(x, (torch.zeros(B, H), torch.zeros(B, H)))
    assert isinstance(out, tuple) and len(out) == 2
    expected = Count(B * per_row(4, IN, H, LSTM_UNIT), B * 4 * H * (IN + H))
    assert module_count(cell, x, (torch.zeros(B, H), torch.zeros(B, H))) == expected
    assert module_count(cell, x) == expected
    assert module_count(cell, x[0]) == Count(per_row(4, IN, H, LSTM_UNIT), 4 * H * (IN + H))


# -- pitfalls --------------------------------------------------------------------------------------
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_counts_sum_of_lengths_not_padding(enforce_sorted: bool) -> None:
    lengths = [2, 5, 3] if not enforce_sorted else [5, 3, 2]
    m = nn.GRU(IN, H)
    seq = pack_padded_sequence(
        torch.randn(5, 3, IN), torch.tensor(lengths), enforce_sorted=enforce_sorted
    )
    assert module_count(m, seq).ops == sum(lengths) * per_row(3, IN, H, GRU_UNIT)
    assert module_count(m, torch.randn(5, 3, IN)).ops == 5 * 3 * per_row(3, IN, H, GRU_UNIT)


def test_batch_first_and_unbatched_count_the_same_rows() -> None:
    m, mf = nn.LSTM(IN, H), nn.LSTM(IN, H, batch_first=True)
    expected = module_count(m, torch.randn(T, B, IN))
    assert module_count(mf, torch.randn(B, T, IN)) == expected
    assert module_count(m, torch.randn(T, IN)) == module_count(m, torch.randn(T, 1, IN))
    assert module_count(m, torch.randn(T, IN)).ops == T * per_row(4, IN, H, LSTM_UNIT)


@pytest.mark.parametrize("mode", MODES)
def test_zero_size_batch_costs_nothing(mode: str) -> None:
    assert module_count(
        make_rnn(mode, IN, H, num_layers=2, bidirectional=True),
        torch.randn(T, 0, IN, dtype=torch.double),
    ) == Count(0, 0)
    assert module_count(
        make_cell(mode, IN, H, True), torch.randn(0, IN, dtype=torch.double)
    ) == Count(0, 0)


def test_given_and_zero_initial_states_cost_the_same() -> None:
    m, x = nn.LSTM(IN, H, proj_size=P), torch.randn(T, B, IN)
    hx = (torch.randn(1, B, P), torch.randn(1, B, H))
    assert module_count(m, x, hx) == module_count(m, x)


@pytest.mark.parametrize("mode", MODES)
def test_dropout_between_layers_in_training_multiplies_a_mask(mode: str) -> None:
    p, x = 0.5, torch.randn(T, B, IN, dtype=torch.double)
    m = make_rnn(mode, IN, H, num_layers=3, dropout=p, bidirectional=True).train()

    def noise(out: Tensor) -> Tensor:  # ATen's CPU dropout: bernoulli(1 - p) / (1 - p)
        return torch.empty_like(out).bernoulli_(1 - p).div_(1 - p)

    t = Tally()
    torch.manual_seed(0)
    expected, _, _ = reference_rnn(t, m, x.reshape(T * B, IN), [B] * T, noise=noise)
    torch.manual_seed(0)
    torch.testing.assert_close(expected.reshape(T, B, -1), m(x)[0])
    assert module_count(m, x) == t.count
    evaluated = module_count(m.eval(), x)
    assert module_count(m.train(), x).ops - evaluated.ops == (3 - 1) * T * B * 2 * H
    op_args = rnn_op_args(m, x, initial_state(m, (B,)), None, train=True)
    assert operator_count(getattr(torch, m.mode.lower()), *op_args) == t.count
    assert module_count(
        make_rnn(mode, IN, H, num_layers=3, dropout=0.0).train(), x
    ) == module_count(make_rnn(mode, IN, H, num_layers=3).eval(), x)


def test_operator_keyword_forms_and_registered_objects() -> None:
    m = nn.GRU(IN, H)
    seq = pack_padded_sequence(torch.randn(T, B, IN), torch.tensor([5, 4, 1]))
    hx = torch.zeros(1, B, H)
    kw = dict(
        params=m._flat_weights,
        has_biases=True,
        num_layers=1,
        dropout=0.0,
        train=False,
        bidirectional=False,
    )
    expected = module_count(m, seq)
    assert (
        operator_count(torch.gru, data=seq.data, batch_sizes=seq.batch_sizes, hx=hx, **kw)
        == expected
    )
    assert operator_count(torch._VF.gru, seq.data, seq.batch_sizes, hx, *kw.values()) == expected
    assert recurrent.SIGMOID == SIGMOID and recurrent.TANH == TANH and recurrent.RELU == RELU
