"""Scale: LLM-sized models on the meta device, counting without computing, registration.

    python benchmarks/scale.py               # everything
    python benchmarks/scale.py --only llm    # llm | dry-run | registration

Each LLM measurement runs in its own process so peak RSS is that model's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "examples"))

import flopcount  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def llm_child(preset: str, tokens: int) -> dict[str, object]:
    from llm_meta import PRESETS, Llama, analytic_macs

    config = PRESETS[preset]
    with torch.device("meta"):
        model = Llama(config)
        ids = torch.zeros(1, tokens, dtype=torch.long)
    plain = []
    for _ in range(3):
        start = time.perf_counter()
        model(ids)
        plain.append(time.perf_counter() - start)
    rss_plain = peak_rss_mb()
    counted = []
    for _ in range(3):
        start = time.perf_counter()
        report = flopcount.count(model, ids, strict=True)
        counted.append(time.perf_counter() - start)
    rss_counted = peak_rss_mb()
    return {
        "preset": preset,
        "tokens": tokens,
        "modules": sum(1 for _ in model.modules()),
        "plain_s": statistics.median(plain),
        "counted_s": statistics.median(counted),
        "extra_s": statistics.median(counted) - statistics.median(plain),
        "extra_rss_mb": rss_counted - rss_plain,
        "macs": report.macs,
        "analytic_macs": analytic_macs(config, tokens),
        "ops": report.total,
    }


def run_llms() -> None:
    rows = []
    for preset in ("7b", "70b"):
        out = subprocess.run(
            [sys.executable, __file__, "--llm-child", preset],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    from tabulate import tabulate

    print("\nLLaMA-shaped models on the meta device, 2048 tokens (medians of 3)")
    print(
        tabulate(
            [
                (
                    r["preset"],
                    r["modules"],
                    f"{r['plain_s']:.3f}",
                    f"{r['counted_s']:.3f}",
                    f"{r['extra_s']:.3f}",
                    f"{r['extra_rss_mb']:.1f}",
                    f"{r['macs']:,}",
                    "yes" if r["macs"] == r["analytic_macs"] else "NO",
                )
                for r in rows
            ],
            headers=(
                "preset",
                "modules",
                "plain forward s",
                "profiled s",
                "extra s",
                "extra peak RSS MB",
                "MACs",
                "= analytic",
            ),
        )
    )


def run_dry_run(batches: tuple[int, ...] = (1, 32)) -> None:
    """Dry run against a plain forward on ResNet-50: where counting without computing pays."""
    from models import resnet50

    torch.manual_seed(0)
    model = resnet50().eval()
    with torch.no_grad():
        start = time.perf_counter()
        flopcount.count(model, torch.randn(1, 3, 224, 224), dry_run=True)
        first = time.perf_counter() - start  # fake-tensor imports and caches: once a process
        for batch in batches:
            x = torch.randn(batch, 3, 224, 224)
            plain, dry_times = [], []
            for _ in range(3):
                start = time.perf_counter()
                model(x)
                plain.append(time.perf_counter() - start)
                start = time.perf_counter()
                dry = flopcount.count(model, x, dry_run=True)
                dry_times.append(time.perf_counter() - start)
            real = flopcount.count(model, x)
            same = (dry.total, dry.macs) == (real.total, real.macs)
            plain_s, dry_s = statistics.median(plain), statistics.median(dry_times)
            print(
                f"ResNet-50, batch {batch}: plain forward {plain_s:.3f} s; dry run {dry_s:.3f} s "
                f"= {dry_s / plain_s:.1%} of it; counts identical to a real run: {same} "
                f"({dry.macs:,} MACs)"
            )
    print(f"first dry run in a process (imports, fake-tensor caches): {first:.2f} s")


def run_registration() -> None:
    from tabulate import tabulate

    rows = []
    for size in (100, 1_000, 10_000, 100_000):
        model = nn.Sequential(*(nn.Identity() for _ in range(size)))
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            with flopcount.profile(model, operators=False):
                pass
            samples.append(time.perf_counter() - start)
        seconds = statistics.median(samples)
        rows.append((f"{size:,}", f"{seconds * 1e3:.2f}", f"{seconds / size * 1e6:.2f}"))
    print("\nRegistration + teardown of an empty profile (operators=False), median of 5")
    print(tabulate(rows, headers=("modules", "ms", "µs per module")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("llm", "dry-run", "registration"))
    parser.add_argument("--llm-child", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.llm_child:
        print(json.dumps(llm_child(args.llm_child, 2048)))
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    if args.only in (None, "llm"):
        run_llms()
    if args.only in (None, "registration"):
        run_registration()
    if args.only in (None, "dry-run"):
        run_dry_run()


if __name__ == "__main__":
    main()
