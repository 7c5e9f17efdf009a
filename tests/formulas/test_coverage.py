"""Every computational module class in torch.nn is covered: a formula, or a deliberate
composite whose children do the work. This test fails when a torch upgrade adds one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import flopcount
from flopcount import Count
from tests.tally import module_count

PURE_CONTAINERS = {
    nn.Module,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    nn.ParameterList,
    nn.ParameterDict,
    nn.Container,
    nn.DataParallel,
    nn.RNNBase,
    nn.RNNCellBase,
}


def torch_nn_classes() -> list[type]:
    return sorted(
        {
            obj
            for obj in vars(nn).values()
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj not in PURE_CONTAINERS
        },
        key=lambda cls: cls.__name__,
    )


def test_every_torch_nn_module_class_is_covered() -> None:
    registry = flopcount.default_registry()
    missing = [cls.__name__ for cls in torch_nn_classes() if not registry.covers(cls)]
    assert missing == [], f"torch {torch.__version__}: no formula for {missing}"
    assert len(torch_nn_classes()) > 120


def test_lazy_variants_inherit_their_formula() -> None:
    registry = flopcount.default_registry()
    lazy = [cls for cls in torch_nn_classes() if cls.__name__.startswith("Lazy")]
    assert lazy, "torch.nn has Lazy* modules"
    for cls in lazy:
        assert registry.lookup(cls) is not None, cls.__name__


def test_a_composite_declaration_does_not_hide_children() -> None:
    registry = flopcount.Registry()

    class Stack(nn.Sequential):
        pass

    registry.register_composite(Stack)
    registry.register(nn.ReLU)(lambda module, inputs, output: inputs[0].numel())
    assert registry.covers(Stack) and registry.lookup(Stack) is None
    report = flopcount.count(
        Stack(nn.ReLU(), nn.ReLU()), torch.randn(3), registry=registry, strict=True
    )
    assert report.total == 2 * 3


def test_every_registered_module_type_has_a_docs_section() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "formulas.md").read_text()

    def documented(name: str) -> bool:
        # "ZeroPad (1d/2d/3d)" documents ZeroPad2d; LazyBatchNorm1d is a BatchNorm1d
        family = re.sub(r"[123]d$", "", name.removeprefix("Lazy"))
        return name in text or name.removeprefix("Lazy") in text or family in text

    undocumented = sorted(
        cls.__name__
        for cls in flopcount.registered_types()
        if cls.__module__.startswith("torch.") and not documented(cls.__name__)
    )
    assert undocumented == []


def test_the_names_this_torch_lacks_are_known_and_documented() -> None:
    """Formulas for names newer than the floor are registered where torch has them; where
    it does not, flopcount knows (``_compat.missing()``) and the docs still describe them."""
    import importlib
    from pathlib import Path

    from flopcount import _compat

    text = (Path(__file__).resolve().parents[2] / "docs" / "formulas.md").read_text()
    for path in _compat.optional_names():
        owner_path, _, attr = path.rpartition(".")
        owner: object = importlib.import_module("torch")
        for part in owner_path.split(".")[1:]:  # torch.ops.aten is no importable module
            owner = getattr(owner, part)
        present = hasattr(owner, attr)
        assert present == (path not in _compat.missing()), path
        assert attr in text, f"{path} has no section in docs/formulas.md"
        if present:
            assert flopcount.explain(path).line > 0


# -- torch's own subclasses of registered types -------------------------------------------
# A subclass that overrides forward does not inherit its base's formula (design rule 5).
# torch.ao's fused QAT modules do: a convolution or linear layer followed by BatchNorm
# and/or ReLU is more than their base's math, so they are counted by what they run.
COUNTED_BY_WHAT_THEY_RUN = {
    f"torch.ao.nn.intrinsic.qat.{name}"
    for name in (
        *(f"Conv{kind}{n}d" for kind in ("Bn", "BnReLU", "ReLU") for n in (1, 2, 3)),
        "LinearBn1d",
        "LinearReLU",
    )
}


def torch_module_classes() -> set[type]:
    """Every nn.Module subclass torch defines in torch.nn and torch.ao.nn (all imported)."""
    import importlib
    import pkgutil

    for root in ("torch.nn", "torch.ao.nn"):
        package = importlib.import_module(root)
        for info in pkgutil.walk_packages(package.__path__, root + "."):
            try:
                importlib.import_module(info.name)
            except Exception:  # optional backends (distributed, cuDNN...) absent on this build
                continue
    found, todo = set(), [nn.Module]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return {cls for cls in found if cls.__module__.startswith(("torch.nn.", "torch.ao.nn."))}


def _public(cls: type) -> str:
    """``torch.ao.nn.intrinsic.qat.ConvReLU2d`` for a class defined in ``….modules.conv_fused``."""
    package = cls.__module__.split(".modules.")[0]
    return f"{package}.{cls.__qualname__}"


def test_torch_subclasses_that_override_forward_keep_their_count() -> None:
    """No torch class loses the formula of the base it subclasses by overriding forward,
    unless it computes more than that base (listed above): where the forward is the same
    math (QAT weights, quantized kernels, reference quantize-dequantize), the subclass is
    registered with its base's formula in its concept's file."""
    registry = flopcount.default_registry()
    lost = sorted(
        _public(cls) for cls in torch_module_classes() if registry.overridden_base(cls) is not None
    )
    assert lost == sorted(COUNTED_BY_WHAT_THEY_RUN), f"torch {torch.__version__}"


def _quantized(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.quantize_per_tensor(torch.randn(shape), 0.1, 10, torch.quint8)


def test_qat_and_reference_modules_count_as_their_float_math() -> None:
    qat = pytest.importorskip("torch.ao.nn.qat")
    reference = pytest.importorskip("torch.ao.nn.quantized.reference")
    from torch.ao.quantization import (
        float_qparams_weight_only_qconfig,
        get_default_qat_qconfig,
    )

    qconfig = get_default_qat_qconfig("fbgemm")
    b, fan_in, fan_out = 4, 8, 3
    x = torch.randn(b, fan_in)
    linear = Count(b * fan_out * 2 * fan_in, b * fan_in * fan_out)  # with bias
    for module in (qat.Linear(fan_in, fan_out, qconfig=qconfig), reference.Linear(fan_in, fan_out)):
        assert module_count(module, x) == linear, type(module)

    n, c, k, size, kernel = 2, 3, 4, 6, 3
    image = torch.randn(n, c, size, size)
    out = size - kernel + 1
    conv = Count(
        n * k * out * out * 2 * c * kernel * kernel, n * k * out * out * c * kernel * kernel
    )
    for module in (qat.Conv2d(c, k, kernel, qconfig=qconfig), reference.Conv2d(c, k, kernel)):
        assert module_count(module, image) == conv, type(module)
    assert module_count(reference.ConvTranspose2d(c, k, kernel), image) == module_count(
        nn.ConvTranspose2d(c, k, kernel), image
    )

    vocab, dim = 10, 4
    ids = torch.randint(0, vocab, (b, 3))
    weights = float_qparams_weight_only_qconfig
    assert module_count(qat.Embedding(vocab, dim, qconfig=weights), ids) == Count(0)
    assert module_count(qat.EmbeddingBag(vocab, dim, qconfig=weights), ids) == module_count(
        nn.EmbeddingBag(vocab, dim), ids
    )


def test_quantized_modules_count_as_their_float_math() -> None:
    quantizable = pytest.importorskip("torch.ao.nn.quantizable")
    quantized = pytest.importorskip("torch.ao.nn.quantized")

    shape = (2, 4, 5, 5)
    elements = 2 * 4 * 5 * 5
    q = _quantized(shape)
    assert module_count(quantized.ReLU6(), q) == Count(2 * elements)  # min, max: a ReLU6
    assert module_count(quantized.Dropout().train(), q) == Count(0)  # returns its input
    for module, float_module in (
        (quantized.LeakyReLU(0.1, 10), nn.LeakyReLU()),
        (quantized.ELU(0.1, 10), nn.ELU()),
        (quantized.Sigmoid(0.1, 10), nn.Sigmoid()),
        (quantized.Hardswish(0.1, 10), nn.Hardswish()),
        (quantized.Softmax(dim=1), nn.Softmax(dim=1)),
    ):
        assert module_count(module, q) == module_count(float_module, q.dequantize())

    def ones(size: int) -> nn.Parameter:
        return nn.Parameter(torch.ones(size))

    for module, float_module in (
        (quantized.LayerNorm([5], ones(5), ones(5), 0.1, 10), nn.LayerNorm([5])),
        (quantized.GroupNorm(2, 4, ones(4), ones(4), 0.1, 10), nn.GroupNorm(2, 4)),
        (quantized.InstanceNorm2d(4, ones(4), ones(4), 0.1, 10), nn.InstanceNorm2d(4, affine=True)),
    ):
        assert module_count(module, q) == module_count(float_module, q.dequantize())

    width, heads, length, batch = 8, 2, 3, 2
    q_k_v = [torch.randn(length, batch, width) for _ in range(3)]
    assert module_count(quantizable.MultiheadAttention(width, heads).eval(), *q_k_v) == (
        module_count(nn.MultiheadAttention(width, heads).eval(), *q_k_v)
    )


def test_fused_qat_modules_count_what_they_run() -> None:
    """A QAT ConvReLU2d counts its convolution and its ReLU (as a Conv2d it counted the
    convolution alone); its weight's fake quantization has no formula and is named."""
    import warnings

    fused = pytest.importorskip("torch.ao.nn.intrinsic.qat")
    from torch.ao.quantization import get_default_qat_qconfig

    n, c, k, size, kernel = 2, 3, 4, 6, 3
    out = size - kernel + 1
    module = fused.ConvReLU2d(c, k, kernel, qconfig=get_default_qat_qconfig("fbgemm"))
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        report = flopcount.count(module, torch.randn(n, c, size, size))
    conv = n * k * out * out * 2 * c * kernel * kernel
    assert report.total == conv + n * k * out * out  # + one max per output element
    assert report.unsupported and any("Report.unsupported" in str(w.message) for w in warned)
