"""torch's dispatch counter (``FlopCounterMode``) as the validation scripts use it, with the
one gap they fill the same way: before torch 2.15 it has no formula for the CPU fused
attention kernels and prices them at zero. For those, it is given torch's own formulas of
the GPU fused kernels (``sdpa_flop_count``, ``sdpa_backward_flop_count``: the backward
recomputes ``QKᵀ``, 5 products), and only where its registry lacks them."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils import flop_counter


def _cpu_sdpa(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return int(flop_counter.sdpa_flop_count(query, key, value))


def _cpu_sdpa_backward(grad: Any, query: Any, key: Any, value: Any, *a: Any, **k: Any) -> int:
    return int(flop_counter.sdpa_backward_flop_count(grad, query, key, value))


_KERNELS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward,
}
CPU_SDPA = {op: f for op, f in _KERNELS.items() if op not in flop_counter.flop_registry}
"""The CPU attention kernels this torch's counter misses, with the GPU kernels' formulas."""
