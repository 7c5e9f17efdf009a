"""Overhead of counting: the whole ``with profile(model): model(x)`` block over a plain forward.

Runs flopcount (hooks only and with operator counting) and every installed peer (torch's
FlopCounterMode, thop, ptflops, moduleprofiler, fvcore) on the same model, alternating,
one model per process, and prints median ratios with their min-max range. Timing is wall
clock on one thread; run it on an otherwise idle machine and compare ratios within one run.

    python benchmarks/overhead.py                 # every model, one process each
    python benchmarks/overhead.py --model resnet50 --repeats 15
    python benchmarks/overhead.py --train --repeats 5   # a training step of ResNet-50, batch 8
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import MODELS, make_input

import flopcount

Runner = Callable[[], object]


def runners(model: nn.Module, x: torch.Tensor) -> dict[str, Runner]:
    def plain() -> object:
        return model(x)

    def noop_global_hook() -> object:
        # the floor of any hook-based counter: one global hook that does nothing, which
        # already moves every module call off PyTorch's hook-free fast path
        from torch.nn.modules.module import register_module_forward_hook

        with register_module_forward_hook(lambda *args: None):
            return model(x)

    def flopcount_hooks() -> object:
        with flopcount.profile(model, operators=False) as report:
            model(x)
        return report.total

    def flopcount_operators() -> object:
        with flopcount.profile(model) as report:
            model(x)
        return report.total

    def flop_counter_mode() -> object:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as mode:
            model(x)
        return mode.get_total_flops()

    found: dict[str, Runner] = {
        "plain forward": plain,
        "no-op global hook (floor)": noop_global_hook,
        "flopcount (operators=False)": flopcount_hooks,
        "flopcount (default)": flopcount_operators,
        "FlopCounterMode": flop_counter_mode,
    }
    try:
        import thop

        found["thop"] = lambda: thop.profile(model, inputs=(x,), verbose=False)
    except ImportError:
        pass
    try:
        from ptflops import get_model_complexity_info

        found["ptflops"] = lambda: get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False
        )
    except ImportError:
        pass
    try:
        from moduleprofiler import ModuleProfiler

        module_profiler = ModuleProfiler()
        found["moduleprofiler"] = lambda: module_profiler.estimate_ops(model, x)
    except ImportError:
        pass
    try:
        from fvcore.nn import FlopCountAnalysis

        def fvcore_run() -> object:
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return analysis.total()

        found["fvcore"] = fvcore_run
    except ImportError:
        pass
    return found


FLOPCOUNT_TOOLS = ("flopcount (operators=False)", "flopcount (default)")
Row = tuple[str, float, float, float, float, tuple[float, float, float] | None, float | None]


def measure(name: str, repeats: int) -> tuple[list[Row], int]:
    """Per tool: median ms, ratio (median, min, max) over the plain forward, and µs added
    per module call in steady state and, for flopcount, on the first profile of a model.

    Every round runs each tool in turn (round-robin: every tool sees the same drifts, in an
    order rotated every round), each timed over enough back-to-back runs to last about
    20 ms after one untimed run; "µs/call added" is the median
    over rounds of the tool's time minus the plain forward's time *in the same round*,
    which cancels the machine's slow drifts (a shared machine varies by ±20 % over a
    minute), printed with the quartiles of those differences."""
    import copy

    factory, _ = MODELS[name]
    torch.manual_seed(0)
    model = factory().eval()
    x = make_input(name)
    rows = []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = flopcount.count(copy.deepcopy(model), x)  # library warm-up on another copy
        calls = sum(row.calls for row in report.modules.values())
        first: dict[str, float] = {}
        for tool in FLOPCOUNT_TOOLS:  # a model's first profile: its node tree, first shapes
            samples = []
            for _ in range(5):
                run = runners(copy.deepcopy(model), x)[tool]
                start = time.perf_counter()
                run()
                samples.append(time.perf_counter() - start)
            first[tool] = statistics.median(samples)
        tools = runners(model, x)
        for run in tools.values():  # warm-up: imports, allocator, lazy init
            run()
        start = time.perf_counter()
        tools["plain forward"]()
        inner = max(1, round(0.02 / (time.perf_counter() - start)))
        times: dict[str, list[float]] = {tool: [] for tool in tools}
        order = list(tools)
        for round_ in range(repeats):
            # each round starts with another tool, and each tool's batch starts after one
            # untimed run: what one tool leaves behind (a cold cache, a busy allocator) does
            # not always fall on the same next one
            for tool in order[round_ % len(order) :] + order[: round_ % len(order)]:
                run = tools[tool]
                run()
                start = time.perf_counter()
                for _ in range(inner):
                    run()
                times[tool].append((time.perf_counter() - start) / inner)
    plain = times["plain forward"]
    base = statistics.median(plain)
    for tool, samples in times.items():
        median = statistics.median(samples)
        added = None
        if tool != "plain forward":
            paired = sorted((t - p) / calls * 1e6 for t, p in zip(samples, plain, strict=True))
            quartiles = statistics.quantiles(paired, n=4)
            added = (statistics.median(paired), quartiles[0], quartiles[2])
        first_added = (first[tool] - base) / calls * 1e6 if tool in first else None
        rows.append(
            (tool, median * 1e3, median / base, min(samples) / base, max(samples) / base,
             added, first_added)
        )  # fmt: skip
    return rows, calls


def measure_training(repeats: int) -> list[tuple[str, float, float, float, float]]:
    """A training step of ResNet-50 at batch 8 (forward, backward, SGD step): each tool's
    median seconds and its ratio (median, min, max) over the unprofiled step."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = MODELS["resnet50"][0]().train()
    x = torch.randn(8, 3, 224, 224)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(x).sum().backward()
        optimizer.step()

    def profiled(operators: bool) -> Runner:
        def run() -> object:
            with flopcount.profile(model, operators=operators) as report:
                step()
            return report.phases

        return run

    def torch_counter() -> object:
        with FlopCounterMode(display=False) as mode:
            step()
        return mode.get_total_flops()

    tools: dict[str, Runner] = {
        "plain training step": step,  # type: ignore[dict-item]
        "flopcount (operators=False)": profiled(False),
        "flopcount (default)": profiled(True),
        "FlopCounterMode": torch_counter,
    }
    for run in tools.values():
        run()
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    for _ in range(repeats):
        for tool, run in tools.items():
            start = time.perf_counter()
            run()
            times[tool].append(time.perf_counter() - start)
    base = statistics.median(times["plain training step"])
    return [
        (tool, statistics.median(t), statistics.median(t) / base, min(t) / base, max(t) / base)
        for tool, t in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default=None)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train", action="store_true", help="time a ResNet-50 training step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.train:
        from tabulate import tabulate

        print(
            f"\nResNet-50 training step, batch 8 at 224 px ({args.repeats} alternating runs, "
            f"{args.threads} thread(s), torch {torch.__version__})"
        )
        print(
            tabulate(
                [
                    (tool, f"{sec:.3f}", f"{med:.3f}x", f"{lo:.3f}-{hi:.3f}x")
                    for tool, sec, med, lo, hi in measure_training(args.repeats)
                ],
                headers=("tool", "median s", "ratio (median)", "ratio (min-max)"),
                disable_numparse=True,
            )
        )
        return
    if args.model is None:
        for name in MODELS:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--model",
                    name,
                    "--repeats",
                    str(args.repeats),
                    "--threads",
                    str(args.threads),
                ],
                check=True,
            )
        return
    from tabulate import tabulate

    rows, calls = measure(args.model, args.repeats)
    print(
        f"\n{args.model} (input {MODELS[args.model][1]}, {calls} module calls per forward, "
        f"{args.repeats} alternating rounds of about 20 ms each, {args.threads} thread(s), "
        f"torch {torch.__version__})"
    )

    def micros(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    def spread(value: tuple[float, float, float] | None) -> str:
        return "" if value is None else f"{value[0]:.1f} ({value[1]:.1f} to {value[2]:.1f})"

    print(
        tabulate(
            [
                (
                    tool,
                    f"{ms:.2f}",
                    f"{median:.3f}x",
                    f"{low:.3f}-{high:.3f}x",
                    spread(added),
                    micros(first_added),
                )
                for tool, ms, median, low, high, added, first_added in rows
            ],
            headers=(
                "tool",
                "median ms",
                "ratio (median)",
                "ratio (min-max)",
                "µs/call added (quartiles)",
                "first profile µs/call",
            ),
            disable_numparse=True,
        )
    )


if __name__ == "__main__":
    main()
