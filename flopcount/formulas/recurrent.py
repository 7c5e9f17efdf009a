"""Recurrent networks: RNN, LSTM, GRU, their cells and the torch functions they call.

Every cost is one time step of one direction of one layer, priced by PyTorch's documented
equations, times the number of (sequence, time step) pairs that step runs on:

- the input-to-hidden and hidden-to-hidden products are dot products (``macs`` = their
  multiplies), each followed by its own bias add (``b_ih`` and ``b_hh`` are two adds);
- the two halves of each gate pre-activation are summed (one add per gate unit);
- gate nonlinearities cost :data:`SIGMOID_OPS`, :data:`TANH_OPS` or :data:`RELU_OPS` per
  element; the elementwise state updates cost one op per add, subtract or multiply.

Because every term is linear in the number of rows a step runs on, the total over a
sequence only needs ``rows`` = the number of real (sequence, step) pairs: ``T·B`` for a
padded tensor, ``sum(batch_sizes) = data.shape[0]`` for a ``PackedSequence``. So a
packed input never has its ``batch_sizes`` read and works on the ``meta`` device.

The hidden-to-hidden product is counted at every step, including the first one of a
sequence whose initial state is zero (given or not): PyTorch's kernels multiply it in,
and a formula cannot look at values anyway.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .._count import ZERO, Count
from .._registry import register, register_operator
from .._shapes import arg, numel
from .primitives import COMPARE, SIGMOID, TANH, dot_products

# Gate nonlinearities cost what the activation family charges for nn.Sigmoid / nn.Tanh:
# SIGMOID = 4 (1 / (1 + e^(−x)): negate, exp, add, divide) and TANH = 6
# ((e^x − e^(−x)) / (e^x + e^(−x)): exp, negate, exp, subtract, add, divide).
RELU = COMPARE
"""``relu(x) = max(x, 0)``: one compare (as ``nn.ReLU``)."""

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
"""Gate blocks stacked in ``weight_ih`` / ``weight_hh`` (rows = gates·hidden_size)."""


def unit_ops(mode: str) -> int:
    """Elementwise ops per row per hidden unit of one step, beyond products and bias adds.

    - ``RNN_TANH`` / ``RNN_RELU``: h' = act(a_ih + a_hh) → 1 add + the activation.
    - ``LSTM``: 4 gate sums, σ for i, f, o, tanh for g, c' = f⊙c + i⊙g (3 ops),
      h' = o⊙tanh(c') (tanh + 1 multiply).
    - ``GRU``: 2 gate sums (r, z), 2 σ, n = tanh(a_in + r⊙a_hn) (multiply, add, tanh),
      h' = (1 − z)⊙n + z⊙h (subtract, 2 multiplies, add).
    """
    if mode == "RNN_TANH":
        return 1 + TANH
    if mode == "RNN_RELU":
        return 1 + RELU
    if mode == "LSTM":
        return 4 + 3 * SIGMOID + TANH + 3 + TANH + 1
    if mode == "GRU":
        return 2 + 2 * SIGMOID + 2 + TANH + 4
    raise ValueError(f"unknown recurrent mode {mode!r}")


def step_count(
    mode: str,
    rows: int,
    input_size: int,
    hidden_size: int,
    bias_ih: bool,
    bias_hh: bool,
    proj_size: int = 0,
) -> Count:
    """One step of one direction of one layer (or of a cell) for ``rows`` sequences.

    With G = gates (1, 4, 3), I = input size, H = hidden size, P = proj size (0: none)
    and Hₒ = P or H (the length of h):

    ops = rows·G·H·(2I − 1 + [b_ih]) + rows·G·H·(2Hₒ − 1 + [b_hh]) + rows·H·u
          + rows·P·(2H − 1)
    macs = rows·G·H·(I + Hₒ) + rows·P·H

    where u = :func:`unit_ops` and the last terms are LSTM's projection h = W_hr·h.
    """
    if rows <= 0 or hidden_size <= 0:
        return ZERO
    gate_units = rows * GATES[mode] * hidden_size
    total = dot_products(gate_units, input_size, bias_ih)
    total += dot_products(gate_units, proj_size or hidden_size, bias_hh)
    total += Count(rows * hidden_size * unit_ops(mode))
    if proj_size:
        total += dot_products(rows * proj_size, hidden_size, False)
    return total


def rnn_count(
    mode: str,
    rows: int,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    bias: bool,
    proj_size: int = 0,
    dropout: bool = False,
) -> Count:
    """A stacked (bi)directional RNN/LSTM/GRU over ``rows`` (sequence, step) pairs.

    Each layer runs D = 2 (bidirectional) or 1 directions of :func:`step_count`; layer
    l > 0 reads the D·Hₒ concatenated outputs of layer l − 1. With ``dropout`` (training
    and p > 0) each layer's output but the last is multiplied by its mask: rows·D·Hₒ ops.
    """
    directions = 2 if bidirectional else 1
    out_size = proj_size or hidden_size
    total = ZERO
    layer_input = input_size
    for layer in range(num_layers):
        step = step_count(mode, rows, layer_input, hidden_size, bias, bias, proj_size)
        total += directions * step
        if dropout and layer < num_layers - 1:
            total += Count(max(rows, 0) * directions * out_size)
        layer_input = directions * out_size
    return total


# -- modules -------------------------------------------------------------------------------
def _sequence_data(value: Any) -> Tensor:
    """The tensor a recurrent module reads: a padded tensor or a PackedSequence's data."""
    return value.data if isinstance(value, PackedSequence) else value


@register(nn.RNN, nn.LSTM, nn.GRU)
def rnn_module(module: nn.RNNBase, inputs: tuple[Any, ...], output: Any) -> Count:
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``: :func:`rnn_count` with rows = T·B (padded,
    batch_first or not), T (unbatched 2-d) or sum(batch_sizes) (PackedSequence)."""
    data = _sequence_data(inputs[0])
    return rnn_count(
        module.mode,
        numel(data.shape[:-1]),
        data.shape[-1],
        module.hidden_size,
        module.num_layers,
        module.bidirectional,
        module.bias,
        module.proj_size,
        module.training and module.dropout > 0,
    )


@register(nn.RNNCell, nn.LSTMCell, nn.GRUCell)
def cell_module(module: nn.RNNCellBase, inputs: tuple[Any, ...], output: Any) -> Count:
    """``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell``: one :func:`step_count`, rows = B
    (1 for an unbatched 1-d input)."""
    if isinstance(module, nn.LSTMCell):
        mode = "LSTM"
    elif isinstance(module, nn.GRUCell):
        mode = "GRU"
    else:
        mode = "RNN_RELU" if getattr(module, "nonlinearity", "tanh") == "relu" else "RNN_TANH"
    data = inputs[0]
    return step_count(
        mode, numel(data.shape[:-1]), data.shape[-1], module.hidden_size, module.bias, module.bias
    )


# -- operators -----------------------------------------------------------------------------
def _rnn_operator(mode: str) -> Any:
    """Formula of ``torch.<mode>`` in either overload.

    ``(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first)`` for padded input, ``(data, batch_sizes, hx, params, has_biases, ...)``
    for packed input. ``params`` holds per layer and direction ``w_ih, w_hh[, b_ih, b_hh]
    [, w_hr]``; ``w_hh`` is (G·H, Hₒ), so Hₒ ≠ H means a projection of size Hₒ.
    """

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        packed = (
            "batch_sizes" in kwargs
            or "data" in kwargs
            or (len(args) > 3 and isinstance(args[3], (list, tuple)))
        )
        shift = 1 if packed else 0
        data = arg(args, kwargs, 0, "data" if packed else "input")
        params = arg(args, kwargs, 2 + shift, "params")
        hidden_size = params[1].shape[0] // GATES[mode]
        out_size = params[1].shape[1]
        return rnn_count(
            mode,
            numel(data.shape[:-1]),
            data.shape[-1],
            hidden_size,
            arg(args, kwargs, 4 + shift, "num_layers"),
            bool(arg(args, kwargs, 7 + shift, "bidirectional")),
            bool(arg(args, kwargs, 3 + shift, "has_biases")),
            out_size if out_size != hidden_size else 0,
            bool(arg(args, kwargs, 6 + shift, "train"))
            and arg(args, kwargs, 5 + shift, "dropout") > 0,
        )

    formula.__qualname__ = formula.__name__ = f"{mode.lower()}_operator"
    formula.__doc__ = f"``torch.{mode.lower()}``, padded or packed input: see :func:`rnn_count`."
    return formula


def _cell_operator(mode: str) -> Any:
    """Formula of ``torch.<mode>_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None)``."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        data = arg(args, kwargs, 0, "input")
        w_hh = arg(args, kwargs, 3, "w_hh")
        return step_count(
            mode,
            numel(data.shape[:-1]),
            data.shape[-1],
            w_hh.shape[-1],
            arg(args, kwargs, 4, "b_ih") is not None,
            arg(args, kwargs, 5, "b_hh") is not None,
        )

    formula.__qualname__ = formula.__name__ = f"{mode.lower()}_cell_operator"
    formula.__doc__ = f"``torch.{mode.lower()}_cell``: one step, see :func:`step_count`."
    return formula


for _mode, _name in (
    ("RNN_TANH", "rnn_tanh"),
    ("RNN_RELU", "rnn_relu"),
    ("LSTM", "lstm"),
    ("GRU", "gru"),
):
    register_operator(getattr(torch, _name))(_rnn_operator(_mode))
    register_operator(getattr(torch, f"{_name}_cell"))(_cell_operator(_mode))
