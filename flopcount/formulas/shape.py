"""Data movement and regularisation: Flatten, Dropout and friends.

Moving, viewing or reshaping data is not arithmetic and costs zero ops. Dropout in
training multiplies each element by its mask (whose kept entries already hold the
1/(1 − p) scale), one op per element; in eval it is the identity.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .._count import Count
from .._registry import register, zero_cost

register(nn.Flatten, nn.Unflatten)(zero_cost)


@register(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
          nn.FeatureAlphaDropout)
def dropout_module(module: nn.Module, inputs: tuple[Any, ...], output: Tensor) -> Count:
    """Training with p > 0: N ops (N = elements, the mask multiply); eval or p = 0: 0."""
    if not module.training or module.p == 0:
        return Count(0)
    return Count(inputs[0].numel())
