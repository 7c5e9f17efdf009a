"""The profiler's contract: attribution, lifecycle, strictness, registries."""

from __future__ import annotations

import csv
import io
import warnings
from contextlib import nullcontext
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.modules import module as nn_module

import flopcount
from flopcount import Count

B, IN, HID, OUT = 4, 8, 16, 3


def linear_ops(rows: int, fan_in: int, fan_out: int) -> int:
    return rows * fan_out * 2 * fan_in  # with bias: fan_in multiplies + fan_in adds each


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(IN, HID), nn.ReLU(), nn.Linear(HID, OUT), nn.Softmax(dim=-1))


def test_counts_and_tree_aggregation() -> None:
    model = mlp()
    with flopcount.profile(model) as report:
        model(torch.randn(B, IN))
    expected = linear_ops(B, IN, HID) + B * HID + linear_ops(B, HID, OUT) + B * (4 * OUT - 1)
    assert report.total == expected
    assert report.macs == B * IN * HID + B * HID * OUT
    assert report.modules["0"].ops == linear_ops(B, IN, HID)
    assert report.modules[""].self_ops == 0
    assert report.modules[""].ops == sum(report.modules[str(i)].ops for i in range(4))
    assert [row.calls for row in report] == [1, 1, 1, 1, 1]
    assert report.unsupported == {}


def test_reused_module_accumulates_per_call() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(IN, IN)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.fc(x))

    model = Twice()
    with flopcount.profile(model) as report:
        model(torch.randn(B, IN))
    assert report.modules["fc"].calls == 2
    assert report.total == 2 * linear_ops(B, IN, IN)


def test_subclass_of_registered_type_is_counted() -> None:
    class MyLinear(nn.Linear):
        pass

    model = MyLinear(IN, OUT, bias=False)
    report = flopcount.count(model, torch.randn(B, IN), strict=True)
    assert report.total == B * OUT * (2 * IN - 1)


def test_custom_registration_in_a_fresh_registry_leaves_default_untouched() -> None:
    class Scale(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 3

    registry = flopcount.Registry()

    @registry.register(Scale)
    def scale_ops(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        return inputs[0].numel()

    x = torch.randn(B, IN)
    report = flopcount.count(Scale(), x, registry=registry, operators=False, strict=True)
    assert report.total == B * IN
    assert Scale not in flopcount.registered_types()
    assert flopcount.default_registry().lookup(Scale) is None


def test_register_refuses_duplicates_unless_replace() -> None:
    registry = flopcount.Registry()
    registry.register(nn.ReLU)(flopcount.zero_cost)
    with pytest.raises(flopcount.RegistrationError, match="already has a formula"):
        registry.register(nn.ReLU)(flopcount.zero_cost)
    registry.register(nn.ReLU, replace=True)(lambda m, i, o: Count(7))
    assert registry.lookup(nn.ReLU)(None, (), None) == Count(7)
    with pytest.raises(flopcount.RegistrationError, match="Module subclasses"):
        registry.register(int)
    assert nn.Linear in flopcount.registered_types()


def test_formula_may_register_several_types() -> None:
    registry = flopcount.Registry()

    @registry.register(nn.ReLU, nn.GELU)
    def one(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        return 1

    assert registry.lookup(nn.GELU) is one and registry.lookup(nn.ReLU) is one


def test_strict_raises_listing_every_uncountable_module() -> None:
    class Opaque(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    model = nn.Sequential(Opaque(), nn.Linear(IN, OUT), Opaque())
    with pytest.raises(flopcount.UnsupportedError) as info:
        flopcount.count(model, torch.randn(B, IN), operators=False, strict=True)
    assert info.value.unsupported == {"0": 1, "2": 1}
    # names quoted, with the type beside them
    assert "'0' (Opaque): 1 call" in str(info.value) and "'2' (Opaque): 1 call" in str(info.value)


def test_unsupported_warns_once_and_is_listed() -> None:
    class Opaque(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    model = nn.Sequential(Opaque(), Opaque())
    with pytest.warns(flopcount.UnsupportedWarning) as warned:
        report = flopcount.count(model, torch.randn(B, IN), operators=False)
    assert len(warned) == 1
    assert report.unsupported == {"0": 1, "1": 1}


def test_unknown_operator_is_named_not_zero() -> None:
    class Spectral(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x).real

    with pytest.raises(flopcount.UnsupportedError, match="torch.fft.rfft"):
        flopcount.count(Spectral(), torch.randn(B, IN), strict=True)


def global_hook_state() -> tuple[int, ...]:
    return (
        len(nn_module._global_forward_hooks),
        len(nn_module._global_forward_pre_hooks),
        len(nn_module._global_forward_hooks_with_kwargs),
        len(nn_module._global_forward_hooks_always_called),
    )


def module_hook_state(model: nn.Module) -> list[tuple[str, int, int]]:
    return [(n, len(m._forward_hooks), len(m._forward_pre_hooks)) for n, m in model.named_modules()]


class Boom(RuntimeError):
    pass


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise Boom("leaf failed")


@pytest.mark.parametrize("operators", [True, False])
@pytest.mark.parametrize("where", ["leaf", "root"])
def test_exception_leaves_model_untouched(where: str, operators: bool) -> None:
    class Root(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(IN, IN), Exploding() if where == "leaf" else nn.ReLU()
            )
            self.norm = nn.BatchNorm1d(IN)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.body(x)
            if where == "root":
                raise Boom("root failed")
            return x

    model = Root().train()
    model.norm.eval()
    before = (module_hook_state(model), list(model.state_dict()), global_hook_state())
    flags = [m.training for m in model.modules()]
    with pytest.raises(Boom) as info:
        with flopcount.profile(model, operators=operators):
            try:
                model(torch.randn(B, IN))
            except Boom as error:
                raised = error
                raise
    assert info.value is raised
    assert (module_hook_state(model), list(model.state_dict()), global_hook_state()) == before
    assert [m.training for m in model.modules()] == flags
    assert torch.overrides._get_current_function_mode_stack() == []


def test_users_own_hooks_survive_and_fire() -> None:
    model = mlp()
    fired: list[str] = []
    model[0].register_forward_hook(lambda m, i, o: fired.append("post"))
    model[0].register_forward_pre_hook(lambda m, i: fired.append("pre"))
    for operators in (True, False):
        flopcount.count(model, torch.randn(B, IN), operators=operators)
    model(torch.randn(B, IN))
    assert fired == ["pre", "post"] * 3


def test_refuses_non_modules_script_modules_and_reentry() -> None:
    with pytest.raises(TypeError, match="expects a torch.nn.Module, got function"):
        flopcount.profile(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TorchScript"):
        flopcount.profile(torch.jit.script(nn.Linear(2, 2)))
    prof = flopcount.profile(mlp())
    with prof:
        with pytest.raises(RuntimeError, match="already active"):
            prof.__enter__()


def test_operator_counting_attributes_functional_work_to_self_ops() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(IN, IN)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.fc(x), dim=-1)

    model = nn.Sequential(Block())
    report = flopcount.count(model, torch.randn(B, IN), strict=True)
    assert report.modules["0"].self_ops == B * (4 * IN - 1)
    assert report.modules["0.fc"].ops == linear_ops(B, IN, IN)
    assert report.total == B * (4 * IN - 1) + linear_ops(B, IN, IN)
    with pytest.warns(flopcount.UnsupportedWarning, match=r"own code of '0' \(Block\)"):
        hooks_only = flopcount.count(model, torch.randn(B, IN), operators=False)
    assert hooks_only.total == linear_ops(B, IN, IN)  # the softmax in Block's own code: unseen
    assert hooks_only.uncounted == {"0": 1} and hooks_only.unsupported == {}


def test_linear_inside_a_formula_module_is_counted_once() -> None:
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(IN, IN)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x) * 2

    registry = flopcount.default_registry().copy()
    registry.register(Wrapped)(lambda m, i, o: Count(5, 1))
    for operators in (True, False):
        report = flopcount.count(
            Wrapped(), torch.randn(B, IN), registry=registry, operators=operators
        )
        assert (report.total, report.macs) == (5, 1)
        assert report.modules["inner"].calls == 0


def test_keyword_arguments_reach_the_formula() -> None:
    model = nn.Linear(IN, OUT)
    report = flopcount.count(model, input=torch.randn(B, IN), strict=True)
    assert report.total == linear_ops(B, IN, OUT)


def test_formula_error_names_module_and_shapes() -> None:
    registry = flopcount.Registry()

    def broken(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
        raise ZeroDivisionError("oops")

    registry.register(nn.ReLU)(broken)
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(flopcount.FormulaError, match=r"'0' \(ReLU\).*\[\(4, 8\)\]") as info:
        flopcount.count(model, torch.randn(B, IN), registry=registry)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert global_hook_state() == (0, 0, 0, 0)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
@pytest.mark.parametrize("operators", [True, False])
def test_a_nested_tensor_a_formula_cannot_read_is_an_error_naming_the_module(
    operators: bool,
) -> None:
    """A nested (ragged) tensor has no single shape: the engine records its number of
    components and hands it to the formula, whose failure names the module; nothing is
    left behind."""
    ragged = torch.nested.nested_tensor([torch.randn(2, IN), torch.randn(3, IN)])
    model = nn.Sequential(nn.Linear(IN, OUT))
    with pytest.raises(flopcount.FormulaError, match=r"'0' \(Linear\).*\[\(2,\)\]"):
        flopcount.count(model, ragged, operators=operators)
    assert global_hook_state() == (0, 0, 0, 0)


def test_counts_are_repeatable() -> None:
    model = mlp()
    x = torch.randn(B, IN)
    totals = {(r.total, r.macs) for r in (flopcount.count(model, x) for _ in range(5))}
    assert len(totals) == 1


def test_module_created_inside_forward_is_counted_under_its_caller() -> None:
    class Builder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.Linear(IN, OUT)(x)

    report = flopcount.count(nn.Sequential(Builder()), torch.randn(B, IN), strict=True)
    assert report.total == linear_ops(B, IN, OUT)
    assert report.modules["0"].ops == linear_ops(B, IN, OUT)
    assert report.modules["0.<Linear#0>"].calls == 1
    # Without operator counting there is no stack of running modules: the new module is
    # still counted, under the root, and its formula-less caller is named as unsupported.
    with pytest.warns(flopcount.UnsupportedWarning):
        hooks_only = flopcount.count(nn.Sequential(Builder()), torch.randn(B, IN), operators=False)
    assert hooks_only.total == linear_ops(B, IN, OUT)
    assert hooks_only.unsupported == {"0": 1}


def test_report_is_not_readable_inside_the_block() -> None:
    model = mlp()
    with flopcount.profile(model) as report:
        with pytest.raises(RuntimeError, match="after the with-block"):
            report.total  # noqa: B018


def test_garbage_collector_state_is_restored() -> None:
    import gc

    model = mlp()
    assert gc.isenabled()
    flopcount.count(model, torch.randn(B, IN))
    assert gc.isenabled()
    gc.disable()
    try:
        flopcount.count(model, torch.randn(B, IN))
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("raises", [False, True])
def test_the_profiles_registry_is_active_for_the_block(raises: bool) -> None:
    from flopcount._registry import active_registry

    registry = flopcount.default_registry().copy()
    model = nn.Sequential(nn.Linear(IN, IN), Exploding() if raises else nn.ReLU())
    seen = []
    model[0].register_forward_hook(lambda *_: seen.append(active_registry()))
    with pytest.raises(Boom) if raises else nullcontext():
        with flopcount.profile(model, registry=registry):
            model(torch.randn(B, IN))
    assert seen == [registry]
    assert active_registry() is flopcount.default_registry()


def test_rows_are_built_once_and_only_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import flopcount._profiler as profiler

    real = profiler.module_stats
    built = []

    def module_stats(root: Any, state: Any) -> dict[str, flopcount.ModuleStats]:
        built.append(root)
        return real(root, state)

    monkeypatch.setattr(profiler, "module_stats", module_stats)
    report = flopcount.count(mlp(), torch.randn(B, IN))
    assert report.total > 0
    assert built == []  # a caller of the totals pays nothing for rows
    assert report.modules[""].ops == report.total
    assert report.modules["2"].ops == linear_ops(B, HID, OUT)
    assert len(built) == 1


# -- operators=False names the blocks whose own code it cannot see --------------------------
class Attn(nn.Module):
    """The issue's reproducer: q @ kᵀ, softmax, @ v and a residual add in its own forward."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        return (q @ k.transpose(-2, -1)).softmax(-1) @ v + x


def test_hooks_only_never_undercounts_silently() -> None:
    b, length, width = 1, 4, 8
    x = torch.randn(b, length, width)
    qkv = b * length * width * 3 * width
    attention = b * length * length * width + b * length * width * length  # QKᵀ, then AV
    assert flopcount.count(Attn(), x, strict=True).macs == qkv + attention
    with pytest.raises(flopcount.UnsupportedError, match=r"operators=False\s+cannot see") as info:
        flopcount.count(Attn(), x, operators=False, strict=True)
    assert info.value.uncounted == {"": 1}
    with pytest.warns(flopcount.UnsupportedWarning, match=r"own code of \(root\) \(Attn\)"):
        report = flopcount.count(Attn(), x, operators=False)
    assert report.macs == qkv and report.uncounted == {"": 1}
    assert "own code not seen (operators=False): (root) (Attn) ×1" in report.table()
    again = flopcount.Report.from_json(report.to_json())
    assert again.uncounted == report.uncounted


def test_pure_containers_and_declared_composites_are_not_uncounted() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(IN, OUT)), nn.ReLU())
    report = flopcount.count(model, torch.randn(B, IN), operators=False, strict=True)
    assert report.uncounted == {} and report.total == linear_ops(B, IN, OUT) + B * OUT

    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(IN, OUT)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    registry = flopcount.default_registry().copy()
    registry.register_composite(Wrapper)
    report = flopcount.count(Wrapper(), torch.randn(B, IN), operators=False, strict=True,
                             registry=registry)  # fmt: skip
    assert report.uncounted == {} and report.total == linear_ops(B, IN, OUT)


class Doubler(nn.Module):
    """A formula-less leaf: hooks alone see none of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


class Gated(nn.Module):
    """A formula-less block: its children are hooked, its own residual add is not."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(IN, IN)
        self.twice = Doubler()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.twice(self.fc(x)) + x


def test_hooks_only_name_a_leaf_unsupported_and_a_block_uncounted() -> None:
    """Every formula-less module hooks cannot see into is named exactly once: a leaf (none
    of it counted) in ``unsupported`` as before, a block (its children counted) in
    ``uncounted``; one warning names both, and strict raises with both lists."""
    x = torch.randn(B, IN)
    full = flopcount.count(Gated(), x, strict=True)
    assert full.total == linear_ops(B, IN, IN) + B * IN + B * IN  # Linear, x * 2, + x
    with pytest.raises(flopcount.UnsupportedError) as info:
        flopcount.count(Gated(), x, operators=False, strict=True)
    assert info.value.unsupported == {"twice": 1} and info.value.uncounted == {"": 1}
    assert "'twice'" in str(info.value) and "(root)" in str(info.value)
    with pytest.warns(flopcount.UnsupportedWarning) as warned:
        report = flopcount.count(Gated(), x, operators=False)
    assert len(warned) == 1  # once per profile, naming both
    assert "Report.unsupported" in str(warned[0].message)
    assert "Report.uncounted" in str(warned[0].message)
    assert report.unsupported == {"twice": 1} and report.uncounted == {"": 1}
    assert report.total == linear_ops(B, IN, IN)  # what hooks alone can see
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(report.to_csv()))}
    assert [rows[name]["uncounted"] for name in ("", "fc", "twice")] == ["1", "0", "0"]
    assert "Own code not seen (operators=False)" in report.to_html()
    assert flopcount.Report.from_dict(report.to_dict()).uncounted == {"": 1}


def test_pure_containers_never_warn_with_hooks_alone() -> None:
    """nn.Sequential nested, empty or subclassed without a forward of its own; the
    ModuleList and ModuleDict a block reaches its children through; torch's registered
    composites (nn.TransformerEncoder): none is listed, so none warns."""

    class Stack(nn.Sequential):  # Sequential's own forward: still a pure container
        pass

    model = nn.Sequential(
        Stack(nn.Linear(IN, HID)), nn.Sequential(), nn.ReLU(), nn.Sequential(nn.Linear(HID, OUT))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = flopcount.count(model, torch.randn(B, IN), operators=False, strict=True)
    assert report.uncounted == {} and report.unsupported == {}
    assert report.total == linear_ops(B, IN, HID) + B * HID + linear_ops(B, HID, OUT)

    width, heads, feedforward, length = 8, 2, 16, 5
    layer = nn.TransformerEncoderLayer(width, heads, feedforward, dropout=0.0, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    src = torch.randn(B, length, width)
    hooks = flopcount.count(encoder, src, operators=False, strict=True)
    assert hooks.uncounted == {} and hooks.total == flopcount.count(encoder, src).total


class Tower(nn.Module):
    """Reaches its children through a ModuleList and a ModuleDict; no arithmetic of its own,
    which flopcount cannot know until the type is declared a composite."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(IN, IN) for _ in range(2)])
        self.heads = nn.ModuleDict({"out": nn.Linear(IN, OUT)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.heads["out"](x)


def test_a_declared_composite_is_not_uncounted_and_lists_dicts_never_are() -> None:
    x = torch.randn(B, IN)
    expected = 2 * linear_ops(B, IN, IN) + linear_ops(B, IN, OUT)
    with pytest.warns(flopcount.UnsupportedWarning, match=r"own code of \(root\) \(Tower\)"):
        report = flopcount.count(Tower(), x, operators=False)
    assert report.uncounted == {"": 1} and report.total == expected  # layers, heads: never
    registry = flopcount.default_registry().copy()
    registry.register_composite(Tower)  # the user's word: its forward does no arithmetic
    declared = flopcount.count(Tower(), x, operators=False, strict=True, registry=registry)
    assert declared.uncounted == {} and declared.total == expected


def test_a_container_subclass_with_its_own_forward_is_uncounted() -> None:
    class Residual(nn.Sequential):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + super().forward(x)

    model = nn.Sequential(Residual(nn.Linear(IN, IN)))
    x = torch.randn(B, IN)
    assert flopcount.count(model, x, strict=True).total == linear_ops(B, IN, IN) + B * IN
    with pytest.raises(flopcount.UnsupportedError) as info:
        flopcount.count(model, x, operators=False, strict=True)
    assert info.value.uncounted == {"0": 1} and info.value.unsupported == {}


def test_modules_made_during_forward_are_named_like_the_others() -> None:
    """A Sequential made inside forward is a pure container (not listed); a formula-less
    leaf made there is unsupported, a formula-less block uncounted, as in the tree."""

    class Maker(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(IN, IN)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = nn.Sequential(nn.ReLU())(self.fc(x))
            x = Doubler()(x)
            return Gated()(x)

    # under no_grad: a profile that can train pushes every module to bracket its autograd
    # nodes, and a module made during forward then gets its true caller as parent
    with pytest.raises(flopcount.UnsupportedError) as info, torch.no_grad():
        flopcount.count(Maker(), torch.randn(B, IN), operators=False, strict=True)
    unsupported, uncounted = info.value.unsupported, info.value.uncounted
    assert sorted(unsupported) == ["<Doubler#2>", "<Doubler#4>"]  # Maker's and Gated's
    assert sorted(uncounted) == ["", "<Gated#5>"]  # hooks run on return: children first
