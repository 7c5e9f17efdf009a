"""Quickstart: profile a small CNN classifier and print its per-layer table."""

from __future__ import annotations

import torch
from torch import nn

import flopcount


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32, classes), nn.Softmax(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def main() -> None:
    model = SmallCNN().eval()
    with flopcount.profile(model) as report:
        model(torch.randn(1, 3, 32, 32))
    print(report.table())
    print(f"\n{report.total:,} ops, {report.macs:,} MACs")
    report.check(max_ops=20e6)  # raises flopcount.BudgetExceeded if the model grows


if __name__ == "__main__":
    main()
