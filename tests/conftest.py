"""Shared test settings: hypothesis profiles sized for a 2-core CI machine.

On CI (``CI`` set) the examples are derandomized and torch's generator is seeded per test,
so a run is repeatable and a landing never depends on luck; locally each run explores new
examples (from a seeded tensor stream). ``thorough`` runs ten
times as many (``FLOPCOUNT_HYPOTHESIS_PROFILE=thorough pytest``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=30, **_COMMON)
settings.register_profile("ci", max_examples=30, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)
settings.load_profile(
    os.environ.get("FLOPCOUNT_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


@pytest.fixture(autouse=True)
def seeded_torch() -> Iterator[None]:
    """Tensor values come from torch's generator, which hypothesis does not control: seed
    it per test so that a run (derandomized on CI) is repeatable end to end."""
    state = torch.random.get_rng_state()
    torch.manual_seed(20261130)
    yield
    torch.random.set_rng_state(state)
