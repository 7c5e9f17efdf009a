"""pytest plugin: the ``flop_budget`` marker and the ``flop_counter`` fixture.

Imports nothing heavy at import time: torch is only imported when a test uses the fixture.
"""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "flop_budget(max_ops=None, max_macs=None, modules=None): hold every profile taken "
        "with the flop_counter fixture in this test to these budgets",
    )
