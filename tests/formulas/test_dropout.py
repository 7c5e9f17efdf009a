"""Dropout, as modules and as functions (``flopcount.formulas.dropout``).

Every reference computes with torch and counts with Tally, and its output is checked
against the module or function under test.
"""

# Pinned cases name dimensions as the specification does (B, C, H, W...).
# ruff: noqa: N806

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

from flopcount import Count
from tests.tally import Tally, close, module_count, operator_count

SEED = 1234
DT = torch.float64
ZERO = Count(0, 0)


# ---------------------------------------------------------------------------- dropout
ALPHA = 1.7580993408473766


def ref_dropout(
    t: Tally, x: Tensor, p: float, training: bool, feature: bool, alpha: bool
) -> Tensor:
    """PyTorch's dropout with the same random draw (call after torch.manual_seed(SEED))."""
    if not training or p == 0 or x.numel() == 0:
        return x
    if p == 1:
        return t.mul(x, torch.zeros((), dtype=x.dtype))
    shape = (*x.shape[:2], *[1] * (x.ndim - 2)) if feature else x.shape
    mask = x.new_empty(shape).bernoulli_(1 - p)  # drawing the mask: not arithmetic on x
    if not alpha:
        return t.mul(x, mask / (1 - p))
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    shift = (mask - 1) * (ALPHA * a) + ALPHA * a * p  # derived from the mask alone
    return t.add(t.mul(x, mask * a), shift)


DROPOUTS = {  # module type: (feature, alpha, input rank)
    nn.Dropout: (False, False, 3), nn.Dropout1d: (True, False, 3),
    nn.Dropout2d: (True, False, 4), nn.Dropout3d: (True, False, 5),
    nn.AlphaDropout: (False, True, 3), nn.FeatureAlphaDropout: (True, True, 4),
}  # fmt: skip
FUNCTIONS = {
    nn.Dropout: (F.dropout, torch.dropout), nn.Dropout1d: (F.dropout1d, torch.feature_dropout),
    nn.Dropout2d: (F.dropout2d, torch.feature_dropout),
    nn.Dropout3d: (F.dropout3d, torch.feature_dropout),
    nn.AlphaDropout: (F.alpha_dropout, torch.alpha_dropout),
    nn.FeatureAlphaDropout: (F.feature_alpha_dropout, torch.feature_alpha_dropout),
}  # fmt: skip


@given(
    kind=st.sampled_from(list(DROPOUTS)),
    p=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
    training=st.booleans(),
    sizes=st.lists(st.integers(0, 3), min_size=5, max_size=5),
)
def test_dropout_matches_reference(kind: type, p: float, training: bool, sizes: list[int]) -> None:
    feature, alpha, rank = DROPOUTS[kind]
    x = torch.randn(sizes[:rank], dtype=DT)
    module = kind(p).train(training)
    t = Tally()
    torch.manual_seed(SEED)
    expected = ref_dropout(t, x, p, training, feature, alpha)
    torch.manual_seed(SEED)
    close(module(x), expected)
    assert module_count(module, x) == t.count
    functional, kernel = FUNCTIONS[kind]
    assert operator_count(functional, x, p, training) == t.count
    assert operator_count(kernel, x, p, training) == t.count
    assert module_count(module, x.to("meta")) == t.count


def test_dropout_pinned_train_vs_eval() -> None:
    B, C, H, W = 2, 3, 4, 5
    x = torch.randn(B, C, H, W)
    module = nn.Dropout2d(0.3)
    assert module_count(module.train(), x) == Count(B * C * H * W, 0)
    assert module_count(module.eval(), x) == ZERO
    assert module_count(nn.Dropout(0.0).train(), x) == ZERO
    alpha = nn.AlphaDropout(0.3).train()
    assert module_count(alpha, x) == Count(2 * B * C * H * W, 0)  # mask multiply + shift add
    assert module_count(nn.AlphaDropout(1.0).train(), x) == Count(B * C * H * W, 0)
    # the functional defaults differ: dropout trains by default, alpha dropout does not
    assert operator_count(F.dropout, x) == Count(B * C * H * W, 0)
    assert operator_count(F.alpha_dropout, x) == ZERO
    assert operator_count(F.feature_alpha_dropout, x, 0.5) == ZERO
    assert operator_count(F.dropout, x, training=False) == ZERO
    assert operator_count(torch.dropout_, x.clone(), 0.5, True) == Count(B * C * H * W, 0)
