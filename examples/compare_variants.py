"""Compare two variants of a model, module by module, with Report.diff."""

from __future__ import annotations

import torch
from torch import nn

import flopcount


def block(channels: int, depthwise: bool) -> nn.Sequential:
    if depthwise:
        conv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels),
            nn.Conv2d(channels, channels, 1),
        )
    else:
        conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1))
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU())


def main(size: int = 56) -> None:
    x = torch.randn(1, 32, size, size)
    dense = flopcount.count(block(32, depthwise=False).eval(), x)
    separable = flopcount.count(block(32, depthwise=True).eval(), x)
    print(dense.diff(separable))
    print(f"\nseparable convs do {separable.macs / dense.macs:.1%} of the dense block's MACs")


if __name__ == "__main__":
    main()
