"""Dropout: ``nn.Dropout`` and its variants, as modules and as functions.

Dropout in training multiplies each element by its mask (whose kept entries already hold
the 1/(1 − p) scale), one op per element; in eval it is the identity. Alpha dropout
follows the mask multiply with the affine correction's add: two ops per element.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.dropout import _DropoutNd

from .._compat import optional
from .._count import Count
from .._registry import OperatorFormula, register, register_operator, zero_cost
from .._shapes import arg
from .primitives import ADD, MUL


def dropout_count(numel: int, p: float, training: bool, alpha: bool = False) -> Count:
    """Dropout over ``numel`` = N elements.

    Eval mode, p = 0 or N = 0: 0 (the identity). Training with p > 0: N ops, the multiply
    by the (pre-scaled) mask. Alpha dropout with 0 < p < 1 computes ``x·(a·m) + b(m)``:
    N multiplies and N adds, 2·N ops; with p = 1 every element is masked and PyTorch
    multiplies by zero, N ops. Drawing the mask and scaling it (or deriving ``b`` from it)
    is random-number generation over the mask, not arithmetic on the input: uncounted.
    """
    if not training or p == 0 or numel <= 0:
        return Count(0, 0)
    if alpha and p < 1:
        return Count(numel * (MUL + ADD), 0)
    return Count(numel * MUL, 0)


_ALPHA_MODULES = (nn.AlphaDropout, nn.FeatureAlphaDropout)


@register(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
          nn.FeatureAlphaDropout)  # fmt: skip
def dropout_module(module: _DropoutNd, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """Training with p > 0: N ops (2·N for alpha dropout with p < 1); eval or p = 0: 0."""
    alpha = isinstance(module, _ALPHA_MODULES)
    return dropout_count(inputs[0].numel(), module.p, module.training, alpha)


def _dropout_operator(alpha: bool, train_name: str, train_default: bool | None) -> OperatorFormula:
    """Operator formula for a dropout function ``f(input, p, <train_name>, ...)``."""

    def formula(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
        p = arg(args, kwargs, 1, "p", 0.5)
        training = arg(args, kwargs, 2, train_name, train_default)
        return dropout_count(args[0].numel(), float(p), bool(training), alpha)

    kind = "alpha_dropout" if alpha else "dropout"
    formula.__qualname__ = formula.__name__ = f"{kind}_operator"
    formula.__doc__ = f"{kind}(input, p, {train_name}): see dropout_count."
    return formula


# torch.nn.functional wrappers: training defaults to True for dropout, False for alpha.
register_operator(F.dropout, F.dropout1d, F.dropout2d, F.dropout3d)(
    _dropout_operator(False, "training", True)
)
register_operator(F.alpha_dropout, F.feature_alpha_dropout)(
    _dropout_operator(True, "training", False)
)
# The torch.* kernels they call take ``train`` as a required argument.
register_operator(torch.dropout, torch.dropout_, torch.feature_dropout, torch.feature_dropout_)(
    _dropout_operator(False, "train", None)
)
register_operator(
    torch.alpha_dropout, torch.alpha_dropout_,
    torch.feature_alpha_dropout, torch.feature_alpha_dropout_,
)(_dropout_operator(True, "train", None))  # fmt: skip

# torch.ao's quantized Dropout is the identity in every mode (its forward returns its input)
register(optional("torch.ao.nn.quantized.Dropout"))(zero_cost)
