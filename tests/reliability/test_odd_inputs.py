"""Guarantee 5: odd but legal models and inputs are counted, or refused clearly."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import flopcount

B, D = 3, 8
LINEAR = B * D * 2 * D  # Linear(D, D) with bias on B rows


class KeywordOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(D, D)

    def forward(self, *, x: torch.Tensor, scale: float = 1.0) -> dict[str, torch.Tensor]:
        return {"y": self.fc(x), "pair": (x, x)}  # type: ignore[dict-item]


def test_keyword_only_forward_and_dict_output() -> None:
    report = flopcount.count(KeywordOnly(), x=torch.randn(B, D), strict=True)
    assert report.total == LINEAR


class DictIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(D, D)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fc(batch["a"]), self.fc(batch["b"])


def test_dict_input_and_tuple_output() -> None:
    report = flopcount.count(
        DictIn(), {"a": torch.randn(B, D), "b": torch.randn(B, D)}, strict=True
    )
    assert report.total == 2 * LINEAR
    assert report.modules[""].input_shapes == ((B, D), (B, D))


def test_packed_sequence_input() -> None:
    lstm = nn.LSTM(D, 4)
    packed = pack_padded_sequence(torch.randn(5, B, D), [5, 3, 2], enforce_sorted=True)
    hooks_only = flopcount.count(lstm, packed, operators=False, strict=True)
    padded = flopcount.count(lstm, torch.randn(5, B, D), operators=False, strict=True)
    assert 0 < hooks_only.total < padded.total  # 10 real steps of 15
    assert hooks_only.total * 15 == padded.total * 10


def test_zero_dim_zero_size_and_mixed_dtypes() -> None:
    assert flopcount.count(nn.ReLU(), torch.tensor(1.0), strict=True).total == 1
    assert flopcount.count(nn.Linear(D, D), torch.randn(0, D), strict=True).total == 0

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, D)
            self.fc = nn.Linear(D, D).double()

        def forward(self, ids: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.embed(ids).double() + x)

    report = flopcount.count(
        Mixed(),
        torch.zeros(B, dtype=torch.long),
        torch.randn(B, D, dtype=torch.float64),
        strict=True,
    )
    assert report.total == LINEAR + B * D  # the embedding lookup is free, the add is not


class Caller(nn.Module):
    """Calls its child twice and a sibling module it does not own."""

    def __init__(self, sibling: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(D, D)
        self.__dict__["sibling"] = sibling  # referenced, not registered as a child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sibling(self.fc(self.fc(x)))


def rows_add_up(report: flopcount.Report) -> bool:
    rows = report.modules
    return all(
        row.ops == row.self_ops + sum(rows[child].ops for child in row.children)
        for row in rows.values()
    )


def test_child_called_twice_and_a_sibling_called() -> None:
    """The sibling lives at "1" (its owner calls it once); the call ``Caller`` makes counts
    in Caller's row, as the alias row "0.<1>"."""
    sibling = nn.Linear(D, D)
    model = nn.Sequential(Caller(sibling), sibling)
    report = flopcount.count(model, torch.randn(B, D), strict=True)
    assert report.modules["0.fc"].calls == 2
    assert report.modules["1"].calls == 1 and report.modules["0.<1>"].calls == 1
    assert report.modules["0"].ops == 3 * LINEAR  # fc twice, then the sibling
    assert report.total == 4 * LINEAR and rows_add_up(report)


def test_module_shared_by_two_parents_counts_in_each_callers_row() -> None:
    shared = nn.Linear(D, D)
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared))
    report = flopcount.count(model, torch.randn(B, D), strict=True)
    assert "1.0" not in report.modules  # one module, one name: its first
    assert report.modules["0.0"].calls == 1 and report.modules["1.<0.0>"].calls == 1
    assert report.modules["0"].ops == report.modules["1"].ops == LINEAR
    assert report.total == 2 * LINEAR and rows_add_up(report)


class Swapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.fc = nn.Linear(D, D)  # replaced during forward
        return self.fc(x)


def test_module_swapped_inside_forward_is_counted() -> None:
    report = flopcount.count(Swapper(), torch.randn(B, D), strict=True)
    assert report.total == LINEAR


def test_torch_compile_is_refused_clearly() -> None:
    compiled = torch.compile(nn.Linear(D, D))
    with pytest.raises(TypeError, match="torch.compile'd module.*_orig_mod"):
        flopcount.profile(compiled)
    assert flopcount.count(compiled._orig_mod, torch.randn(B, D)).total == LINEAR


@pytest.mark.parametrize(
    "context",
    [torch.no_grad, torch.inference_mode, lambda: torch.autocast("cpu", dtype=torch.bfloat16)],
)
def test_grad_modes_and_autocast(context: object) -> None:
    model = nn.Sequential(nn.Linear(D, D), nn.ReLU())
    with context():  # type: ignore[operator]
        report = flopcount.count(model, torch.randn(B, D), strict=True)
    assert report.total == LINEAR + B * D


def test_counts_beyond_2_to_the_63_on_meta() -> None:
    width = 2**22
    with torch.device("meta"):
        model = nn.Linear(width, width, bias=False)
        x = torch.empty(2**20, width)
    report = flopcount.count(model, x, strict=True)
    assert report.macs == 2**20 * width * width == 2**64
    assert report.total == 2**20 * width * (2 * width - 1) > 2**63
    assert isinstance(report.total, int)


def test_backward_and_checkpoint_recomputation_stay_out_of_the_forward() -> None:
    from torch.utils.checkpoint import checkpoint

    class Checkpointed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(D, D)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return checkpoint(self.fc, x, use_reentrant=False)

    model = Checkpointed()
    with flopcount.profile(model, strict=True) as report:
        model(torch.randn(B, D, requires_grad=True)).sum().backward()
    assert report.modules["fc"].calls == 1
    assert report.phases["forward"].ops == LINEAR  # .sum() runs outside the model: not its work
    # non-reentrant checkpointing stops recomputing once the tensors backward needs are
    # back: the Linear's inputs are saved before its product runs, so it never re-runs
    assert set(report.phases) == {"forward", "backward"}


class _MatmulBlock(nn.Module):
    """Linear, two direct matmuls, Linear: what a hand-written attention block does."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(D, D, bias=False)
        self.b = nn.Linear(D, D, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        return self.b(h @ h.transpose(-2, -1) @ h)


class _Checkpointed(nn.Module):
    def __init__(self, block: nn.Module, reentrant: bool) -> None:
        super().__init__()
        self.block = block
        self.reentrant = reentrant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.utils.checkpoint import checkpoint

        return checkpoint(self.block, x, use_reentrant=self.reentrant)


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpoint_recomputation_never_changes_the_forward_counts(reentrant: bool) -> None:
    """Both checkpoint implementations re-run the block's forward during backward (the
    Linears and the matmuls); none of it is forward work, and no row's calls change."""
    model = _Checkpointed(_MatmulBlock(), reentrant)
    x = torch.randn(B, D, requires_grad=True)
    linears = 2 * B * D * D  # a and b, no bias
    matmuls = B * B * D + B * D * B  # (B, D) @ (D, B), then (B, B) @ (B, D)
    forward_only = flopcount.count(model, x, strict=True)
    with flopcount.profile(model, strict=True) as report:
        model(x).sum().backward()
    assert forward_only.macs == report.phases["forward"].macs == linears + matmuls
    assert report.phases["forward"] == forward_only.phases["forward"]
    assert {name: row.calls for name, row in report.modules.items()} == dict.fromkeys(
        ("", "block", "block.a", "block.b"), 1
    )


@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpoint_recomputation_is_not_counted_by_hooks_alone(reentrant: bool) -> None:
    model = _Checkpointed(nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, D)), reentrant)
    x = torch.randn(B, D, requires_grad=True)
    registry = flopcount.default_registry().copy()
    registry.register_composite(_Checkpointed)  # its own code only calls checkpoint()
    with flopcount.profile(model, operators=False, strict=True, registry=registry) as report:
        model(x).sum().backward()
    # two Linears and one ReLU, once each
    assert report.phases["forward"].ops == 2 * LINEAR + B * D
    assert report.modules["block.0"].calls == 1
