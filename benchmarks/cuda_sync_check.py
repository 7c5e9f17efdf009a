"""On a CUDA machine: prove profiling never synchronises the device, and time it.

    python benchmarks/cuda_sync_check.py

Runs ResNet-50 and a small transformer on CUDA tensors with
``torch.cuda.set_sync_debug_mode("error")``, so any host-device synchronisation inside
flopcount raises; then prints the overhead ratio of the profiled forward.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import resnet50

import flopcount


def timed(fn: object, repeats: int = 20) -> float:
    samples = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: nothing to check")
    device = torch.device("cuda")
    layer = nn.TransformerEncoderLayer(256, 8, batch_first=True)
    layer = nn.TransformerEncoderLayer(256, 8, batch_first=True)
    models = {
        "resnet50": (resnet50().eval().to(device), torch.randn(8, 3, 224, 224, device=device)),
        "encoder": (
            nn.TransformerEncoder(layer, 4).to(device).eval(),
            torch.randn(8, 128, 256, device=device),
        ),
    }
    with torch.no_grad():
        for name, (model, x) in models.items():
            model(x)
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                for operators in (False, True):
                    with flopcount.profile(model, operators=operators) as report:
                        model(x)
            finally:
                torch.cuda.set_sync_debug_mode("default")
            plain = timed(lambda: model(x))  # noqa: B023

            def profiled() -> None:
                with flopcount.profile(model):  # noqa: B023
                    model(x)  # noqa: B023

            print(
                f"{name}: no synchronisation; {report.macs:,} MACs; "
                f"profiled/plain = {timed(profiled) / plain:.3f}x"
            )


if __name__ == "__main__":
    main()
