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
