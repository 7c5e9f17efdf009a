"""Benchmark models: torchvision's ResNets when installed, else an equivalent copy.

The copy has torchvision's exact layer structure (and so the same counts and module
calls), so the overhead benchmark needs no heavy install.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def mlp(blocks: int = 1000, width: int = 16) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers)


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, down: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, down: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(
        self, block: type[_Basic] | type[_Bottleneck], layers: list[int], classes: int = 1000
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, 64, layers[0], 1)
        self.layer2 = self._stage(block, 128, layers[1], 2)
        self.layer3 = self._stage(block, 256, layers[2], 2)
        self.layer4 = self._stage(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, classes)

    def _stage(
        self, block: type[_Basic] | type[_Bottleneck], width: int, count: int, stride: int
    ) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != width * block.expansion:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, width * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(width * block.expansion),
            )
        blocks = [block(self.inplanes, width, stride, down)]
        self.inplanes = width * block.expansion
        blocks += [block(self.inplanes, width, 1, None) for _ in range(1, count)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18() -> nn.Module:
    try:
        from torchvision.models import resnet18 as tv_resnet18
    except Exception:
        return ResNet(_Basic, [2, 2, 2, 2])
    return tv_resnet18()


def resnet50() -> nn.Module:
    try:
        from torchvision.models import resnet50 as tv_resnet50
    except Exception:
        return ResNet(_Bottleneck, [3, 4, 6, 3])
    return tv_resnet50()


def llama4() -> nn.Module:
    """A 4-layer LLaMA shape (examples/llm_meta.py): GQA through SDPA, RMSNorm, SwiGLU."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from llm_meta import Config, Llama

    return Llama(Config(layers=4, hidden=256, heads=8, kv_heads=2, mlp=688, vocab=1000))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp1000": (mlp, (1, 16)),
    "resnet18": (resnet18, (1, 3, 224, 224)),
    "resnet50": (resnet50, (1, 3, 224, 224)),
    # launch-bound proxies: forwards that do almost no arithmetic, so per-call costs show
    "resnet50-16px": (resnet50, (1, 3, 16, 16)),
    "llama4-8tok": (llama4, (1, 8)),
}
TOKEN_MODELS = frozenset({"llama4-8tok"})
"""Models whose input is token ids (zeros), not a float tensor."""


def make_input(name: str) -> torch.Tensor:
    shape = MODELS[name][1]
    if name in TOKEN_MODELS:
        return torch.zeros(shape, dtype=torch.long)
    return torch.randn(shape)
