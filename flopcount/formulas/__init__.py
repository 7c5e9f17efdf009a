"""Formula families. Importing this package fills the default registry.

One file per family; each file holds shape-level functions (``softmax_count(shape, dim)``)
and thin adapters that register them for modules and for torch functions alike.
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported for their registrations)
    activation,
    attention,
    conv,
    elementwise,
    functional,
    linear,
    loss,
    matmul,
    norm,
    pooling,
    recurrent,
    reduction,
    selection,
    shape,
)
