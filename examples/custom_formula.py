"""Teach flopcount a module it does not know, in the default registry or a private one."""

from __future__ import annotations

import torch
from torch import nn

import flopcount


class SquaredReLU(nn.Module):
    """relu(x)²: one compare and one multiply per element."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) ** 2


def squared_relu_ops(
    module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
) -> flopcount.Count:
    """2 ops per element (the compare of relu, the multiply of the square); no MACs."""
    return flopcount.Count(ops=2 * inputs[0].numel(), macs=0)


def main() -> None:
    model = nn.Sequential(nn.Linear(16, 32), SquaredReLU(), nn.Linear(32, 4))
    x = torch.randn(8, 16)

    # A private registry: this profile only, the global registry stays as it was.
    registry = flopcount.default_registry().copy()
    registry.register(SquaredReLU)(squared_relu_ops)
    report = flopcount.count(model, x, registry=registry, operators=False, strict=True)
    print(report.table())
    assert report.modules["1"].ops == 2 * 8 * 32

    # Or for everyone in this process; registering the same type twice needs replace=True.
    flopcount.register(SquaredReLU, replace=True)(squared_relu_ops)
    assert flopcount.count(model, x, strict=True).total == report.total


if __name__ == "__main__":
    main()
