"""Check flopcount's MACs against torchvision's published model-zoo figures.

For every classification model in ``torchvision.models``, build it on the ``meta`` device
(no weights are downloaded), read the default weights' published ``meta["_ops"]`` (what
torchvision calls "GFLOPS" is GMACs, multiply-accumulates) and crop size, profile one
forward of a ``1×3×crop×crop`` meta input with ``flopcount.count`` and compare
``report.macs / 1e9`` with the published figure.

A row passes when the deviation is within 1 %, or within the figure's own rounding
(±0.0005 GMACs: torchvision prints three decimals) for tiny models.

Backward column: each model is also built on the CPU (random weights) and one training
step's backward, ``model(x).float().sum().backward()`` on a ``1×3×64×64`` input (a larger
one where the architecture needs it: the evaluation crop; ViTs are built for 64 rounded up
to their patch), is profiled with ``flopcount.profile``. ``report.phases["backward"].macs``
must EQUAL torch's dispatch counter's backward MACs ((forward + backward FLOPs − the
same forward's FLOPs) ÷ 2), with one documented correction: torch's counter prices a grouped
convolution's weight gradient ``groups`` times too high (docs/formulas.md, "torch's counter
and groups"), so its ``convolution_backward`` formula is replaced by one that divides that
term by ``groups``; the uncorrected figure is printed too. Models are in eval mode (batch
norm on running statistics: batch 1 cannot be normalised over a 1×1 map in training).

Without torchvision the script runs the same backward check on the hand-written ResNet-18
and ResNet-50 of ``benchmarks/models.py`` (torchvision's exact layer structure) and on a
small network of depthwise and grouped convolutions, and says so.

Run (needs torch + torchvision; no GPU, no network)::

    python benchmarks/validate_torchvision.py [--models resnet50,vit_b_16] [--strict]
    python benchmarks/validate_torchvision.py --no-backward   # published figures only

Exit status 1 when a row is out of bounds, a backward differs from torch's counter (or,
with ``--strict``, when anything was unsupported).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from tabulate import tabulate
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

import flopcount

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_counter import CPU_SDPA

try:
    import torchvision
    from torchvision import models
    from torchvision.models import regnet
except ImportError:  # the backward check still runs, on benchmarks/models.py's ResNets
    torchvision = None

TOLERANCE = 0.01  # relative
ROUNDING = 0.0005  # GMACs: published figures have three decimals
BACKWARD_SIZE = 64  # side of the backward check's input


# -- backward: flopcount against torch's dispatch counter ----------------------------------
_TORCH_CONV_BACKWARD = flop_counter.flop_registry[torch.ops.aten.convolution_backward]


def _conv_backward_groups_corrected(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """torch's ``convolution_backward`` FLOPs with the weight-gradient term divided by
    ``groups``: its counter prices ``dW`` as an ungrouped convolution (docs/formulas.md,
    "torch's counter and groups"); the input and bias gradients are left as they are."""
    mask, groups, rest = list(args[10]), int(args[9]), args[11:]
    others = [mask[0], False, mask[2]]
    weight_only = [False, mask[1], False]
    other = _TORCH_CONV_BACKWARD(*args[:10], others, *rest, out_val=out_val, **kwargs)
    weight = _TORCH_CONV_BACKWARD(*args[:10], weight_only, *rest, out_val=out_val, **kwargs)
    assert weight % groups == 0
    return int(other + weight // groups)


_conv_backward_groups_corrected._get_raw = True  # type: ignore[attr-defined]
GROUPS_CORRECTED = {torch.ops.aten.convolution_backward: _conv_backward_groups_corrected}


def _loss(output: Any) -> torch.Tensor:
    """A scalar of the model's output (the logits; a named tuple's first field)."""
    if not isinstance(output, torch.Tensor):
        output = output[0]
    return output.float().sum()


def torch_backward_macs(model: nn.Module, x: torch.Tensor, corrected: bool) -> int:
    """torch's dispatch counter: (forward + backward FLOPs − forward FLOPs) ÷ 2."""
    mapping = {**CPU_SDPA, **(GROUPS_CORRECTED if corrected else {})}
    # the forward alone, with grad mode on: under no_grad nn.MultiheadAttention takes its
    # fused inference path, which torch's counter prices at zero, and the subtraction
    # would leave the training forward's products in "backward"
    with FlopCounterMode(display=False, custom_mapping=mapping) as forward:
        model(x)
    with FlopCounterMode(display=False, custom_mapping=mapping) as step:
        _loss(model(x)).backward()
    model.zero_grad(set_to_none=True)
    flops = step.get_total_flops() - forward.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def grouped_convs(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.conv._ConvNd) and m.groups > 1 for m in model.modules())


def backward_row(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """Profile one forward + backward of ``model`` on ``x``; torch's counter on the same."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flopcount.profile(model) as report:
            _loss(model(x)).backward()
        seconds = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        raw = torch_backward_macs(model, x, corrected=False)
        corrected = torch_backward_macs(model, x, corrected=True)
    backward = report.phases["backward"].macs
    return {
        "size": x.shape[-1],
        "forward_macs": report.phases["forward"].macs,
        "backward_macs": backward,
        "torch_raw": raw,
        "torch_corrected": corrected,
        "grouped": grouped_convs(model),
        "backward_ok": backward == corrected and not report.unsupported,
        "backward_unsupported": dict(report.unsupported),
        "backward_seconds": seconds,
    }


def backward_size(name: str) -> int:
    """64, rounded up to a ViT's patch size (its image size must be a multiple)."""
    if name.startswith("vit_"):
        patch = int(name.split("_")[-1])
        return -(-BACKWARD_SIZE // patch) * patch
    return BACKWARD_SIZE


def measure_backward(name: str) -> dict[str, Any]:
    """The backward check of torchvision model ``name``: CPU, random weights, eval mode, a
    ``1×3×64×64`` input, or the evaluation crop where the architecture refuses 64."""
    weights = models.get_model_weights(name).DEFAULT
    torch.manual_seed(0)
    size = backward_size(name)
    try:
        model = build(name, weights, "cpu", image_size=size)
        return backward_row(model, torch.randn(1, 3, size, size))
    except Exception as error:
        print(f"{name}: backward at {size}×{size} failed ({type(error).__name__}); at the crop")
    crop = crop_size(weights)
    model = build(name, weights, "cpu")
    return backward_row(model, torch.randn(1, 3, crop, crop))


class DepthwiseNet(nn.Sequential):
    """Depthwise-separable and grouped convolutions (MobileNet, ResNeXt), the case where
    torch's counter needs its ``groups`` correction."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, 2, 1, groups=4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        )  # fmt: skip


def backward_without_torchvision() -> int:
    """The backward check on models that need no torchvision: benchmarks/models.py's
    hand-written ResNets (torchvision's layer structure) and :class:`DepthwiseNet`."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from models import ResNet, _Basic, _Bottleneck

    print(
        f"torchvision is not importable: backward check on benchmarks/models.py's ResNets and a "
        f"depthwise/grouped network instead; torch {torch.__version__}, flopcount "
        f"{flopcount.__version__}; batch 1, {BACKWARD_SIZE}×{BACKWARD_SIZE}, CPU, eval mode",
        flush=True,
    )
    builders = {
        "resnet18 (hand-written)": lambda: ResNet(_Basic, [2, 2, 2, 2]),
        "resnet50 (hand-written)": lambda: ResNet(_Bottleneck, [3, 4, 6, 3]),
        "depthwise/grouped net": DepthwiseNet,
    }
    rows = []
    for name, make in builders.items():
        torch.manual_seed(0)
        x = torch.randn(1, 3, BACKWARD_SIZE, BACKWARD_SIZE)
        rows.append({"model": name, **backward_row(make().eval(), x)})
    print(backward_table(rows))
    failed = [r["model"] for r in rows if not r["backward_ok"]]
    print(f"{len(rows) - len(failed)}/{len(rows)} backward MACs equal torch's counter's")
    if failed:
        print("backward differs: " + ", ".join(failed))
    return 1 if failed else 0


def backward_table(rows: list[dict[str, Any]]) -> str:
    table = [
        [
            r["model"], r["size"], f"{r['forward_macs']:,}", f"{r['backward_macs']:,}",
            f"{r['torch_corrected']:,}", f"{r['torch_raw']:,}", r["grouped"],
            f"{r['backward_macs'] / r['forward_macs']:.4f}",
            ", ".join(f"{k} ×{v}" for k, v in r["backward_unsupported"].items()) or "none",
            "yes" if r["backward_ok"] else "NO",
        ]
        for r in rows
    ]  # fmt: skip
    headers = ["model", "input", "forward MACs", "flopcount backward MACs",
               "torch backward MACs (groups-corrected)", "torch backward MACs (raw)",
               "grouped convs", "backward ÷ forward", "unsupported", "exact"]  # fmt: skip
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


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


def build(name: str, weights: Any, device: str, image_size: int | None = None) -> torch.nn.Module:
    """The architecture of ``name`` as the default weights configure it, without weights
    (a ViT for ``image_size``, default the crop: its position embeddings depend on it)."""
    kwargs: dict[str, Any] = {}
    if name.startswith("regnet_"):
        _block_params_on_cpu()
    if name.startswith("vit_"):
        kwargs["image_size"] = image_size or crop_size(weights)
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
    parser.add_argument(
        "--no-backward", action="store_true", help="skip the backward column (CPU training step)"
    )
    options = parser.parse_args(argv)
    if torchvision is None:
        return backward_without_torchvision()
    names = models.list_models(module=models)
    if options.models:
        names = [n for n in names if n in options.models.split(",")]
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"flopcount {flopcount.__version__}; {len(names)} models, batch 1",
        flush=True,
    )
    rows = [measure(name) for name in names]
    if not options.no_backward:
        for row in rows:
            row.update(measure_backward(row["model"]))
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
    if not options.no_backward:
        print("\nBackward (CPU, random weights, eval mode), against torch's dispatch counter:")
        print(backward_table(rows))
        exact = sum(r["backward_ok"] for r in rows)
        grouped = sum(r["grouped"] > 0 for r in rows)
        print(
            f"{exact}/{len(rows)} backward MACs equal torch's counter's ({grouped} models with "
            f"grouped convolutions compared with its groups-corrected weight gradient)"
        )
    failed = [r["model"] for r in rows if not r["ok"]]
    failed += [f"{r['model']} (backward)" for r in rows if not r.get("backward_ok", True)]
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
