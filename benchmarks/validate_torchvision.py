"""Check flopcount's MACs against torchvision's published model-zoo figures.

For every classification model in ``torchvision.models``, build it on the ``meta`` device
(no weights are downloaded), read the default weights' published ``meta["_ops"]`` (what
torchvision calls "GFLOPS" is GMACs, multiply-accumulates) and crop size, profile one
forward of a ``1×3×crop×crop`` meta input with ``flopcount.count`` and compare
``report.macs / 1e9`` with the published figure.

A row passes when the deviation is within 1 %, or within the figure's own rounding
(±0.0005 GMACs: torchvision prints three decimals) for tiny models.

Run (needs torch + torchvision; no GPU, no network)::

    python benchmarks/validate_torchvision.py [--models resnet50,vit_b_16] [--strict]

Exit status 1 when a row is out of bounds (or, with ``--strict``, when anything was
unsupported).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import torch
import torchvision
from tabulate import tabulate
from torchvision import models
from torchvision.models import regnet

import flopcount

TOLERANCE = 0.01  # relative
ROUNDING = 0.0005  # GMACs: published figures have three decimals


def crop_size(weights: Any) -> int:
    """The side of the square evaluation crop of ``weights``."""
    try:
        size = weights.transforms().crop_size
        return int(size[0] if isinstance(size, (list, tuple)) else size)
    except Exception:
        return int(weights.meta["min_size"][0])


def _block_params_on_cpu() -> None:
    """RegNet derives its stage widths from tensor arithmetic (``torch.arange``, ``round``,
    ``.tolist()``) in its constructor, which cannot read values on ``meta``; compute those
    hyper-parameters on the CPU so that the model itself is still built on ``meta``."""
    original = regnet.BlockParams.from_init_params.__func__  # type: ignore[attr-defined]
    if getattr(original, "_on_cpu", False):
        return

    def from_init_params(cls: type, *args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original(cls, *args, **kwargs)

    from_init_params._on_cpu = True  # type: ignore[attr-defined]
    regnet.BlockParams.from_init_params = classmethod(from_init_params)  # type: ignore[assignment]


def build(name: str, weights: Any, device: str) -> torch.nn.Module:
    """The architecture of ``name`` as the default weights configure it, without weights."""
    kwargs: dict[str, Any] = {}
    if name.startswith("regnet_"):
        _block_params_on_cpu()
    if name.startswith("vit_"):
        kwargs["image_size"] = crop_size(weights)  # position embeddings depend on it
    if name in ("inception_v3", "googlenet"):
        # loading weights sets transform_input=True (elementwise only, no MACs), aux heads
        # do not run in eval mode; match the published configuration anyway
        kwargs["transform_input"] = True
        kwargs["init_weights"] = False
    with torch.device(device):
        model = models.get_model(name, weights=None, **kwargs)
    return model.eval()


def measure(name: str) -> dict[str, Any]:
    weights = models.get_model_weights(name).DEFAULT
    published = float(weights.meta["_ops"])
    crop = crop_size(weights)
    device = "meta"
    start = time.perf_counter()
    try:
        model = build(name, weights, device)
        x = torch.empty(1, 3, crop, crop, device=device)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = flopcount.count(model, x)
    except Exception as error:  # fall back to a real CPU tensor at batch 1
        print(f"{name}: meta run failed ({type(error).__name__}: {error}); using CPU", flush=True)
        device = "cpu"
        model = build(name, weights, device)
        x = torch.zeros(1, 3, crop, crop)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = flopcount.count(model, x)
    measured = report.macs / 1e9
    deviation = (measured - published) / published * 100 if published else float("nan")
    ok = abs(measured - published) <= max(TOLERANCE * published, ROUNDING)
    return {
        "model": name,
        "crop": crop,
        "published": published,
        "measured": measured,
        "deviation": deviation,
        "ok": ok,
        "device": device,
        "unsupported": dict(report.unsupported),
        "gops": report.total / 1e9,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated subset (default: every model)")
    parser.add_argument("--strict", action="store_true", help="fail on unsupported operators")
    options = parser.parse_args(argv)
    names = models.list_models(module=models)
    if options.models:
        names = [n for n in names if n in options.models.split(",")]
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"flopcount {flopcount.__version__}; {len(names)} models, batch 1",
        flush=True,
    )
    rows = [measure(name) for name in names]
    table = [
        [
            r["model"],
            r["crop"],
            f"{r['published']:.3f}",
            f"{r['measured']:.5f}",
            f"{r['measured'] - r['published']:+.5f}",
            f"{r['deviation']:+.3f}",
            "yes" if round(r["measured"], 3) == round(r["published"], 3) else "no",
            "yes" if r["ok"] else "NO",
            r["device"],
            f"{r['gops']:.3f}",
        ]
        for r in rows
    ]
    headers = ["model", "crop", "published GMACs", "flopcount GMACs", "Δ GMACs", "deviation %",
               "same at 3 d.p.", "ok", "device", "flopcount Gops"]  # fmt: skip
    print(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    failed = [r["model"] for r in rows if not r["ok"]]
    unsupported = {r["model"]: r["unsupported"] for r in rows if r["unsupported"]}
    worst = max(rows, key=lambda r: abs(r["deviation"]))
    worst_abs = max(rows, key=lambda r: abs(r["measured"] - r["published"]))
    largest = worst_abs["measured"] - worst_abs["published"]
    beyond_one = [r for r in rows if abs(r["deviation"]) > TOLERANCE * 100]
    same = sum(round(r["measured"], 3) == round(r["published"], 3) for r in rows)
    print(
        f"\n{len(rows) - len(failed)}/{len(rows)} within bounds; {same}/{len(rows)} equal the "
        f"published figure at its three decimals; largest deviation {worst['deviation']:+.3f}% "
        f"({worst['model']}); largest |Δ| {abs(largest):.5f} "
        f"GMACs ({worst_abs['model']}); {sum(r['seconds'] for r in rows):.1f} s in all"
    )
    if beyond_one:
        print(
            "over 1% but within the published figure's rounding (±0.0005 GMACs): "
            + ", ".join(
                f"{r['model']} ({r['measured']:.5f} vs {r['published']:.3f})" for r in beyond_one
            )
        )
    meta_failed = [r["model"] for r in rows if r["device"] != "meta"]
    print("ran on CPU (meta failed): " + (", ".join(meta_failed) if meta_failed else "none"))
    if failed:
        print("out of bounds: " + ", ".join(failed))
    if unsupported:
        print("unsupported:")
        for name, found in unsupported.items():
            print(f"  {name}: {found}")
    else:
        print("unsupported: none")
    return 1 if failed or (options.strict and unsupported) else 0


if __name__ == "__main__":
    sys.exit(main())
