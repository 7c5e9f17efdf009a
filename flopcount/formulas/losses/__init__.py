"""Losses, one module per kind; :mod:`.reduction` holds what every loss shares."""

from __future__ import annotations

from . import (  # noqa: F401  (imported for their registrations)
    classification,
    ctc,
    distance,
    likelihood,
    regression,
)
