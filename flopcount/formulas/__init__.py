"""Formula families, one module per concept. Importing this package fills the default registry.

Each family holds shape-level functions (``softmax_count(shape, dim)``) and the thin
adapters that register them for module types and for torch functions alike. Every
primitive's price comes from :mod:`.primitives`; no family imports a family that imports it.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported for their registrations)
    activations,
    arithmetic,
    attention,
    communication,
    conv,
    data_movement,
    dropout,
    einsum,
    embedding,
    gradients,
    linear,
    losses,
    math_functions,
    matmul,
    norm,
    optimizers,
    pooling,
    recurrent,
    reductions,
    resampling,
    scans,
    selection,
    softmax,
    transformer,
)
