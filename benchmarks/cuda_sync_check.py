"""On a CUDA machine: prove profiling never synchronises the device, and time it.

    python benchmarks/cuda_sync_check.py            # the GPU table of issue 15 (about 3 min)
    python benchmarks/cuda_sync_check.py --smoke    # tiny shapes on CPU: does it run

1. Runs every case below (forward, and a training step: backward and an SGD step) under
   ``torch.cuda.set_sync_debug_mode("error")``, so any host-device synchronisation inside
   flopcount raises, in both modes (``operators=False`` and the default).
2. Times each tool on each case in one round-robin run (every tool sees the same drifts;
   median of ``--repeats``), and prints the ratio over the plain forward and the
   microseconds each adds per module call:

   - ResNet-50, batch 1, fp32 (launch-bound);
   - a LLaMA-shaped 1B model (16 layers, hidden 2048, GQA 32/8 heads), 1×128 tokens, bf16
     (launch-bound);
   - the same at 8×2048 tokens (compute-bound).

   Tools: the plain forward, a no-op global module hook (the floor of any hook-based
   counter), flopcount ``operators=False``, flopcount default, torch's FlopCounterMode.
   Steady state: the same model is profiled again and again, as in a training loop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from llm_meta import Config, Llama
from models import resnet50

import flopcount

Case = tuple[str, nn.Module, torch.Tensor]


def cases(device: torch.device, smoke: bool) -> list[Case]:
    if smoke:
        small = Config(layers=2, hidden=64, heads=4, kv_heads=2, mlp=128, vocab=100)
        return [
            ("resnet50 b1 fp32", resnet50(), torch.randn(1, 3, 32, 32)),
            ("llama b1x8", Llama(small), torch.zeros(1, 8, dtype=torch.long)),
        ]
    one_b = Config(layers=16, hidden=2048, heads=32, kv_heads=8, mlp=8192, vocab=128256)
    llama = Llama(one_b).to(device, torch.bfloat16)
    return [
        ("resnet50 b1 fp32", resnet50().to(device), torch.randn(1, 3, 224, 224, device=device)),
        ("llama-1B b1x128 bf16", llama, torch.zeros(1, 128, dtype=torch.long, device=device)),
        ("llama-1B b8x2048 bf16", llama, torch.zeros(8, 2048, dtype=torch.long, device=device)),
    ]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def check_no_sync(model: nn.Module, x: torch.Tensor, device: torch.device) -> int:
    """Forward and a training step under sync-debug 'error', both modes; the MACs."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    macs = 0
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("error")
    try:
        for operators in (False, True):
            with torch.no_grad(), flopcount.profile(model, operators=operators) as report:
                model(x)
            macs = report.macs
            with flopcount.profile(model, operators=operators) as step:
                model(x).float().mean().backward()
                optimizer.step()
            assert "backward" in step.phases and "optimizer" in step.phases, step.phases
            optimizer.zero_grad(set_to_none=True)
    finally:
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    return macs


def tools(model: nn.Module, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    from torch.nn.modules.module import register_module_forward_hook
    from torch.utils.flop_counter import FlopCounterMode

    def floor() -> object:
        with register_module_forward_hook(lambda *args: None):
            return model(x)

    def flopcount_run(operators: bool) -> Callable[[], object]:
        def run() -> object:
            with flopcount.profile(model, operators=operators) as report:
                model(x)
            return report.total

        return run

    def torch_counter() -> object:
        with FlopCounterMode(display=False) as mode:
            model(x)
        return mode.get_total_flops()

    return {
        "plain": lambda: model(x),
        "no-op global hook (floor)": floor,
        "flopcount operators=False": flopcount_run(False),
        "flopcount default": flopcount_run(True),
        "torch FlopCounterMode": torch_counter,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on CPU, 3 repeats")
    args = parser.parse_args()
    if args.smoke:
        device, repeats = torch.device("cpu"), 3
    elif torch.cuda.is_available():
        device, repeats = torch.device("cuda"), args.repeats
    else:
        raise SystemExit("no CUDA device: nothing to check (--smoke runs tiny shapes on CPU)")
    warnings.simplefilter("ignore")  # operators=False names blocks it cannot see: not news here
    from tabulate import tabulate

    where = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {where}")
    for name, model, x in cases(device, args.smoke):
        model.eval()
        macs = check_no_sync(model, x, device)
        with torch.no_grad():
            calls = sum(row.calls for row in flopcount.count(model, x).modules.values())
            runs = tools(model, x)
            for run in runs.values():  # warm-up: kernels, allocator, the model's node tree
                run()
            times: dict[str, list[float]] = {tool: [] for tool in runs}
            for _ in range(repeats):
                for tool, run in runs.items():
                    synchronize(device)
                    start = time.perf_counter()
                    run()
                    synchronize(device)
                    times[tool].append(time.perf_counter() - start)
        base = statistics.median(times["plain"])
        rows = []
        for tool, samples in times.items():
            median = statistics.median(samples)
            added = "" if tool == "plain" else f"{(median - base) / calls * 1e6:.1f}"
            rows.append((tool, f"{median * 1e3:.2f}", f"{median / base:.3f}x", added))
        print(f"\n{name}: no host-device synchronisation; {macs:,} MACs; {calls} module calls")
        print(tabulate(rows, headers=("tool", "median ms", "ratio", "µs/call added")))
        del model


if __name__ == "__main__":
    main()
