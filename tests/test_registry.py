"""The registry's contract: one idiom, signatures checked at registration, every formula
explained with the file and line that registered it, composites priced through the
profile's own registry."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import flopcount
from flopcount import Count
from flopcount.cli import main
from flopcount.formulas.norm import layer_norm_count

PACKAGE = Path(flopcount.__file__).resolve().parent


def _all_registrations() -> list[flopcount.Registration]:
    return list(flopcount.default_registry().registrations())


# -- signatures ---------------------------------------------------------------------------
class Block(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def two_arguments(module: Any, inputs: Any) -> Count:
    return Count(1)


def four_arguments(module: Any, inputs: Any, output: Any, extra: Any) -> Count:
    return Count(1)


@pytest.mark.parametrize("formula", [two_arguments, four_arguments, lambda: Count(0)])
def test_a_formula_with_the_wrong_arity_is_refused_at_register(formula: Any) -> None:
    registry = flopcount.Registry()
    name = formula.__qualname__
    with pytest.raises(flopcount.RegistrationError, match=name.replace("<", ".").replace(">", ".")):
        registry.register(Block)(formula)
    with pytest.raises(flopcount.RegistrationError, match="Block"):
        registry.register(Block)(formula)
    with pytest.raises(flopcount.RegistrationError, match=r"\(args, kwargs, output\)"):
        registry.register_operator(torch.exp)(formula)
    assert registry.lookup(Block) is None and registry.lookup_operator(torch.exp) is None


def test_formulas_taking_three_arguments_in_any_form_are_accepted() -> None:
    registry = flopcount.Registry()

    def with_defaults(module: Any, inputs: Any, output: Any, scale: int = 2) -> Count:
        return Count(scale)

    registry.register(Block)(with_defaults)
    registry.register_operator(torch.exp)(lambda *args: Count(1))
    assert registry.lookup(Block) is with_defaults


# -- where a registration was made ---------------------------------------------------------
def test_a_registration_records_the_line_that_made_it() -> None:
    registry = flopcount.Registry()
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    registry.register(Block)(flopcount.zero_cost)
    found = registry.registration(Block)
    assert found is not None
    assert (Path(found.file).resolve(), found.line) == (Path(__file__).resolve(), line)
    assert registry.copy().registration(Block) == found


def test_every_default_registration_is_recorded_in_the_formula_file_that_made_it() -> None:
    """Helpers (``register_per_element``, the registry itself) are never the site."""
    families = PACKAGE / "formulas"
    for found in _all_registrations():
        site = Path(found.file).resolve()
        assert site.is_relative_to(families), (found.target, site)
        assert site.name not in ("primitives.py", "__init__.py"), (found.target, site)
        assert found.line > 0


# -- explain ------------------------------------------------------------------------------
def test_explain_works_for_every_registered_module_type_and_operator() -> None:
    registrations = _all_registrations()
    assert len(registrations) > 800  # every family's registrations, not an empty registry
    for found in registrations:
        page = flopcount.explain(found.target)
        text = str(page)
        assert page.formula and page.line == found.line, found.target
        site = Path(page.file).resolve()
        assert site.is_file() and page.line <= len(site.read_text().splitlines())
        assert f"{site.name}:{found.line}" in text
        if found.formula not in (flopcount.zero_cost,):
            assert page.doc, f"{page.target}: its formula {page.formula} has no docstring"


@pytest.mark.parametrize(
    ("spelling", "target"),
    [
        ("torch.exp", torch.exp),
        ("Tensor.add", torch.Tensor.add),
        ("torch.Tensor.add_", torch.Tensor.add_),
        ("F.softmax", torch.nn.functional.softmax),
        ("torch.nn.functional.scaled_dot_product_attention", None),
        ("nn.Conv2d", nn.Conv2d),
        ("torch.nn.LayerNorm", nn.LayerNorm),
        ("torch.Tensor.shape", None),
    ],
)
def test_explain_accepts_the_spellings_users_write(spelling: str, target: Any) -> None:
    page = flopcount.explain(spelling)
    assert page.target == spelling
    if target is not None:
        assert flopcount.explain(target).formula == page.formula


def test_explain_names_the_formula_its_math_and_its_file() -> None:
    page = flopcount.explain(nn.Conv2d)
    assert page.formula == "conv_module"
    assert Path(page.file).name == "conv.py"
    assert "dot products of (Cin/G)·K terms" in page.doc  # the shape-level formula's math
    assert flopcount.explain(nn.Conv2d(1, 1, 1)) == page


def test_explain_of_a_subclass_names_the_base_it_inherits_from() -> None:
    class MyLinear(nn.Linear):
        pass

    page = flopcount.explain(MyLinear)
    assert page.inherited_from == "torch.nn.modules.linear.Linear"
    assert page.formula == flopcount.explain(nn.Linear).formula


def test_explain_says_what_is_not_counted() -> None:
    with pytest.raises(LookupError, match="Block.*counted as its children"):
        flopcount.explain(Block)
    with pytest.raises(LookupError, match="torch.svd"):
        flopcount.explain(torch.svd)
    with pytest.raises(LookupError, match="no attribute 'not_a_function'"):
        flopcount.explain("torch.not_a_function")


def test_cli_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "torch.exp", "nn.Conv2d"]) == 0
    out = capsys.readouterr().out
    assert "math_functions.py:" in out and "conv.py:" in out
    assert main(["explain", "torch.svd"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch.svd" in err


# -- composites use the profile's registry ---------------------------------------------------
B, L, E = 2, 5, 8  # batch, sequence length, width
PRICE = 10**9  # a LayerNorm's price in a profile's own registry


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_transformer_layer_prices_its_norms_through_the_profiles_registry(
    fast_path: bool,
) -> None:
    """With LayerNorm priced at PRICE in a profile's own registry, the layer's two norms
    cost PRICE each in that profile (also on the fused eval path, where no child hook
    fires), and the default registry is untouched."""
    layer = nn.TransformerEncoderLayer(E, 2, 16, dropout=0.0, batch_first=True)
    layer.train(not fast_path)
    x = torch.randn(B, L, E)
    registry = flopcount.default_registry().copy()
    registry.register(nn.LayerNorm, replace=True)(lambda module, inputs, output: Count(PRICE))

    with torch.no_grad():
        default = flopcount.count(layer, x, strict=True)
        custom = flopcount.count(layer, x, strict=True, registry=registry)
    default_norm = layer_norm_count((B, L, E), 1, True, True)
    assert custom.total - default.total == 2 * (PRICE - default_norm.ops)
    assert flopcount.registered_types().count(nn.LayerNorm) == 1
    assert flopcount.default_registry().lookup(nn.LayerNorm) is not registry.lookup(nn.LayerNorm)


def test_one_registration_idiom_in_the_formula_families() -> None:
    """Formula files register through register / register_operator / register_composite
    only: no reaching into the default registry object."""
    for path in (PACKAGE / "formulas").rglob("*.py"):
        text = path.read_text()
        for idiom in (r"\bDEFAULT\.", r"default_registry\(\)", r"\.declare_"):
            assert not re.search(idiom, text), f"{path.name} uses {idiom}"


# -- a subclass that overrides forward does not inherit its base's formula -----------------
class ScaledEmbedding(nn.Embedding):
    """Gemma's embedding: the lookup, then a multiply by √hidden."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return super().forward(ids) * self.embedding_dim**0.5


class PlainSubclass(nn.Embedding):
    pass


def test_a_subclass_that_overrides_forward_is_counted_by_what_it_runs() -> None:
    vocab, hidden, b, length = 10, 6, 2, 3
    ids = torch.zeros(b, length, dtype=torch.long)
    report = flopcount.count(ScaledEmbedding(vocab, hidden), ids, strict=True)
    assert report.total == b * length * hidden  # the lookup is free; the multiply is not
    assert flopcount.default_registry().lookup(ScaledEmbedding) is None
    assert flopcount.default_registry().lookup(PlainSubclass) is not None
    assert flopcount.count(PlainSubclass(vocab, hidden), ids, strict=True).total == 0
    with pytest.raises(LookupError, match="ScaledEmbedding overrides forward"):
        flopcount.explain(ScaledEmbedding)


def test_registering_the_overriding_subclass_gives_it_a_formula() -> None:
    registry = flopcount.default_registry().copy()
    registry.register(ScaledEmbedding)(lambda module, inputs, output: Count(output.numel()))
    ids = torch.zeros(2, 3, dtype=torch.long)
    report = flopcount.count(ScaledEmbedding(10, 6), ids, registry=registry, strict=True)
    assert report.total == 2 * 3 * 6


def linear_ops(rows: int, fan_in: int, fan_out: int) -> int:
    return rows * fan_out * 2 * fan_in  # with bias: fan_in multiplies + fan_in adds each


class TinyLm(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.embed = ScaledEmbedding(vocab, hidden)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


def test_the_scaled_embedding_multiply_is_counted_or_named() -> None:
    """operators=True counts the √hidden multiply (B·L·D) on top of the free lookup; hooks
    alone cannot see it and say so (a formula-less leaf: unsupported) instead of a 0."""
    vocab, hidden, b, length = 10, 6, 2, 3
    ids = torch.zeros(b, length, dtype=torch.long)
    report = flopcount.count(TinyLm(vocab, hidden), ids, strict=True)
    assert report.modules["embed"].ops == b * length * hidden
    assert report.total == b * length * hidden + linear_ops(b * length, hidden, vocab)
    with pytest.raises(flopcount.UnsupportedError, match="'embed' \\(ScaledEmbedding\\)") as info:
        flopcount.count(TinyLm(vocab, hidden), ids, operators=False, strict=True)
    assert info.value.unsupported == {"embed": 1} and info.value.uncounted == {"": 1}
    with pytest.warns(flopcount.UnsupportedWarning, match="embed"):
        hooks = flopcount.count(TinyLm(vocab, hidden), ids, operators=False)
    assert hooks.total == linear_ops(b * length, hidden, vocab)  # the multiply: named, unseen


class Scaled(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2  # type: ignore[misc]


class MixedLinear(Scaled, nn.Linear):
    """Its forward comes from a mixin listed before the registered base."""


class DeeperScaled(ScaledEmbedding):
    """Inherits ScaledEmbedding's forward without overriding it."""


class DoubledEncoder(nn.TransformerEncoder):
    def forward(self, src: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(src) * 2


def test_lookup_stops_at_the_first_class_that_defines_forward() -> None:
    registry = flopcount.default_registry()
    assert registry.lookup(MixedLinear) is None and not registry.covers(MixedLinear)
    assert registry.overriding_class(MixedLinear) is Scaled
    assert registry.overridden_base(MixedLinear) is nn.Linear
    assert registry.lookup(DeeperScaled) is None
    assert registry.overriding_class(DeeperScaled) is ScaledEmbedding
    assert not registry.covers(DoubledEncoder)  # a composite declaration is not inherited
    assert registry.overridden_base(DoubledEncoder) is nn.TransformerEncoder
    assert registry.overriding_class(nn.Linear) is None and registry.overriding_class(Block) is None
    x = torch.randn(4, 8)
    report = flopcount.count(MixedLinear(8, 3), x, strict=True)
    assert report.total == linear_ops(4, 8, 3) + 4 * 3  # F.linear, then the doubling


def test_lookup_caches_follow_new_registrations() -> None:
    registry = flopcount.Registry()
    assert registry.lookup(DeeperScaled) is None and not registry.covers(DeeperScaled)
    registry.register(ScaledEmbedding)(flopcount.zero_cost)
    assert registry.lookup(DeeperScaled) is flopcount.zero_cost  # inherits the override's
    registry.register_composite(DeeperScaled)
    assert registry.lookup(DeeperScaled) is None and registry.covers(DeeperScaled)


def test_explain_says_an_override_is_why_and_how_to_keep_the_formula() -> None:
    with pytest.raises(LookupError) as info:
        flopcount.explain(DeeperScaled)
    text = str(info.value)
    assert "ScaledEmbedding overrides forward" in text
    assert "does not inherit the formula of torch.nn.modules.sparse.Embedding" in text
    advice = "flopcount.register(DeeperScaled)(flopcount.default_registry().lookup(Embedding))"
    assert advice in text
    registry = flopcount.default_registry().copy()
    embedding = registry.lookup(nn.Embedding)
    assert embedding is not None
    registry.register(DeeperScaled)(embedding)  # taking the advice
    assert flopcount.count(DeeperScaled(10, 6), torch.zeros(2, 3, dtype=torch.long),
                           registry=registry, strict=True).total == 0  # fmt: skip
    with pytest.raises(LookupError, match="flopcount.register_composite\\(DoubledEncoder\\)"):
        flopcount.explain(DoubledEncoder)
    with pytest.raises(LookupError) as plain:
        flopcount.explain(Block)  # never had a registration to inherit: no override story
    assert "overrides forward" not in str(plain.value)
