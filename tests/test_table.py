"""The per-layer table: a golden rendering, depth limits, formats, no global state."""

from __future__ import annotations

from pathlib import Path

import tabulate
import torch
from torch import nn

import flopcount

GOLDEN = Path(__file__).parent / "golden"


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Sequential(nn.Linear(64, 10), nn.Softmax(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def report() -> flopcount.Report:
    model = Classifier().eval()
    return flopcount.count(model, torch.randn(8, 32))


def test_golden_table() -> None:
    r = report()
    # the golden numbers, derived: Linear(32, 64) on 8 rows = 8·64·2·32 ops, 8·32·64 MACs;
    # ReLU 8·64; Dropout in eval 0; Linear(64, 10) = 8·10·2·64; Softmax 8·(4·10 − 1).
    assert r.modules["features.0"].ops == 8 * 64 * 2 * 32 == 32768
    assert r.modules["head.1"].ops == 8 * (4 * 10 - 1) == 312
    assert r.total == 8 * 64 * 2 * 32 + 8 * 64 + 0 + 8 * 10 * 2 * 64 + 8 * (4 * 10 - 1)
    assert r.table() == (GOLDEN / "classifier_table.txt").read_text().rstrip("\n")
    assert str(r) == r.table()


def test_max_depth_keeps_inclusive_totals() -> None:
    text = report().table(max_depth=1)
    lines = text.splitlines()
    assert any(line.startswith("  features") for line in lines)
    assert not any(line.startswith("    0") for line in lines)
    assert "43.83 K" in text  # the total is unchanged by folding rows


def test_other_formats_and_no_global_state_change() -> None:
    before = dict(vars(tabulate))
    r = report()
    github = r.table(tablefmt="github")
    assert github.splitlines()[0].startswith("| module")
    assert "<table>" in r.table(tablefmt="html")
    assert dict(vars(tabulate)) == before


def test_indentation_is_preserved() -> None:
    lines = report().table().splitlines()
    assert lines[3].startswith("  features ")
    assert lines[4].startswith("    0 ")


def test_qualified_names_are_the_names_budgets_take() -> None:
    r = report()
    lines = r.table(names="qualified").splitlines()[2:-1]
    names = [line.split()[0] for line in lines]
    assert names == ["(root)", *[name for name in r.modules if name]]
    for name in names:
        assert name in r.modules  # every printed name is a key, "(root)" included


def test_sort_lists_the_heaviest_modules_by_their_own_work() -> None:
    r = report()
    lines = r.table(sort="ops", top=2).splitlines()
    rows, total = lines[2:-1], lines[-1]
    heaviest = sorted(r.modules.values(), key=lambda row: -row.self_ops)[:2]
    assert [line.split()[0] for line in rows] == [row.name for row in heaviest]
    assert heaviest[0].name == "features.0"  # Linear(32, 64): 8·64·2·32 of its own
    assert total.startswith("total") and "43.83 K" in total  # the total stays whole
    by_macs = r.table(sort="macs", top=1).splitlines()[2]
    assert by_macs.split()[0] == "features.0"


def test_self_column_shows_a_blocks_own_work() -> None:
    r = report()
    row = next(line for line in r.table().splitlines() if line.strip().startswith("features"))
    assert row.split()[-4] == "0"  # a Sequential does nothing of its own


class HandWritten(torch.nn.Module):
    """A block whose own code does the attention arithmetic: operator counting's work."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        return (h @ h.T).softmax(-1) @ h + x


def test_by_operator_and_by_type_break_the_total_down() -> None:
    rows, width = 3, 4
    r = flopcount.count(HandWritten(), torch.randn(rows, width), strict=True)
    scores = rows * rows * (2 * width - 1)  # h @ hᵀ
    mix = rows * width * (2 * rows - 1)  # weights @ h
    assert r.by_operator["torch.Tensor.matmul"] == flopcount.OperatorStats(
        scores + mix, rows * rows * width + rows * width * rows, 2
    )
    assert r.by_operator["torch.Tensor.softmax"].ops == rows * (4 * rows - 1)
    assert r.by_operator["torch.Tensor.add"] == flopcount.OperatorStats(rows * width, 0, 1)
    assert sum(s.ops for s in r.by_operator.values()) == r.modules[""].self_ops
    assert r.by_type["Linear"] == flopcount.Count(rows * width * 2 * width, rows * width * width)
    assert sum(c.ops for c in r.by_type.values()) == r.total
    again = flopcount.Report.from_json(r.to_json())
    assert again.by_operator == r.by_operator and again.by_type == r.by_type
