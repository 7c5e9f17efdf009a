"""A complete picture of what a profiler could leave behind on a model or in torch."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as nn_module


def _functions(namespace: Any) -> dict[str, int]:
    """Identity of every function stored in a namespace (a patched one would differ)."""
    return {
        name: id(value)
        for name, value in vars(namespace).items()
        if not isinstance(value, (int, str, float, types.ModuleType))
    }


@dataclass
class Snapshot:
    hooks: list[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
    state_keys: list[str]
    buffers: dict[str, torch.Tensor]
    parameters: list[tuple[str, int, bool]]
    training: list[tuple[str, bool]]
    global_hooks: tuple[int, ...]
    function_ids: tuple[dict[str, int], ...]
    modes: int

    @classmethod
    def of(cls, model: nn.Module) -> Snapshot:
        return cls(
            hooks=[
                (
                    name,
                    tuple(m._forward_hooks),
                    tuple(m._forward_pre_hooks),
                    tuple(m._forward_hooks_always_called),
                )
                for name, m in model.named_modules()
            ],
            state_keys=list(model.state_dict()),
            buffers={name: b.detach().clone() for name, b in model.named_buffers()},
            parameters=[(name, id(p), p.requires_grad) for name, p in model.named_parameters()],
            training=[(name, m.training) for name, m in model.named_modules()],
            global_hooks=tuple(
                len(d)
                for d in (
                    nn_module._global_forward_hooks,
                    nn_module._global_forward_pre_hooks,
                    nn_module._global_forward_hooks_with_kwargs,
                    nn_module._global_forward_hooks_always_called,
                    nn_module._global_backward_hooks,
                    nn_module._global_backward_pre_hooks,
                )
            ),
            function_ids=(_functions(torch), _functions(F), _functions(torch.Tensor)),
            modes=len(torch.overrides._get_current_function_mode_stack()),
        )

    def assert_same(self, other: Snapshot) -> None:
        assert self.hooks == other.hooks, (self.hooks, other.hooks)
        assert self.state_keys == other.state_keys
        assert self.buffers.keys() == other.buffers.keys()
        for name, value in self.buffers.items():
            assert torch.equal(value, other.buffers[name]), name
        assert self.parameters == other.parameters
        assert self.training == other.training
        assert self.global_hooks == other.global_hooks, (self.global_hooks, other.global_hooks)
        for before, after in zip(self.function_ids, other.function_ids, strict=True):
            changed = sorted(
                name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
            )
            assert not changed, f"torch functions replaced: {changed[:10]}"
        assert self.modes == other.modes == 0
