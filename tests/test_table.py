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


# -- reading big models: collapse=True, and rows never called --------------------------

LAYERS, BATCH, TOKENS = 32, 1, 8


def llama(layers: int = LAYERS, hidden: tuple[int, ...] | None = None) -> flopcount.Report:
    from tests.fixtures.llama import Llama

    model = Llama(layers, hidden)
    return flopcount.count(model, torch.zeros(BATCH, TOKENS, dtype=torch.long))


def block_macs(hidden: int) -> int:
    """One block's MACs from its dimensions: q, k, v, o projections, the SwiGLU MLP's three,
    and attention's QKᵀ and AV (heads × head size = DIM)."""
    from tests.fixtures.llama import DIM

    rows = BATCH * TOKENS
    return rows * (4 * DIM * DIM + 3 * DIM * hidden) + 2 * BATCH * TOKENS * TOKENS * DIM


def names_of(text: str) -> list[str]:
    """The module column of a table (tree indentation dropped), total row excluded."""
    lines = text.splitlines()
    width = lines[1].index("  ")  # the first column's dashes
    body = [line for line in lines[2:] if not line.startswith(("total", "×", "—"))]
    return [line[:width].strip() for line in body]


def test_collapse_folds_32_identical_blocks_into_one_row() -> None:
    from flopcount._table import table_lines
    from tests.fixtures.llama import HIDDEN

    r = llama()
    text = r.table(collapse=True)
    names = names_of(text)
    assert names.count("0–31 ×32") == 1
    assert not any(name in ("0", "1", "31") for name in names)  # no block has its own row
    assert names[: names.index("0–31 ×32") + 2] == [
        "(root)",
        "embed_tokens",
        "layers",
        "0–31 ×32",
        "input_norm",
    ]
    header = text.splitlines()[0].split()
    assert header[-5:] == ["ops", "each", "MACs", "each", "share"]
    lines = {line.path: line for line in table_lines(r, collapse=True)}
    folded = lines["layers.0–31"]
    assert (folded.fold, folded.repeats) == (LAYERS, LAYERS)
    assert folded.row.macs == block_macs(HIDDEN)
    assert folded.count("macs") == LAYERS * block_macs(HIDDEN) == r.modules["layers"].macs
    blocks = [r.modules[f"layers.{i}"] for i in range(LAYERS)]
    assert folded.count("ops") == sum(block.ops for block in blocks)  # sums, exactly
    assert folded.count("calls") == LAYERS
    # a row under the fold stands for 32 modules too: its counts are the sum over blocks
    q_proj = lines["layers.0–31.attn.q_proj"]
    assert q_proj.repeats == LAYERS and q_proj.fold == 1
    assert q_proj.count("macs") == LAYERS * BATCH * TOKENS * 64 * 64
    row = next(line for line in text.splitlines() if "0–31 ×32" in line).split()
    assert row[row.index("Block") + 1] == str(LAYERS)  # calls, summed
    assert "×N: N consecutive siblings" in text
    # the folded table keeps the unfolded one's total
    assert text.splitlines()[-3].split()[1:3] == r.table().splitlines()[-2].split()[1:3]


def test_collapse_with_qualified_names_depth_and_sort() -> None:
    r = llama()
    qualified = names_of(r.table(collapse=True, names="qualified", max_depth=2))
    assert qualified == ["(root)", "embed_tokens", "layers", "layers.0–31 ×32", "norm", "lm_head"]
    assert "layers.0–31.mlp.up_proj" in names_of(r.table(collapse=True, names="qualified"))
    # folding happens in the tree; sort then orders the folded rows by their summed own work
    heaviest = names_of(r.table(collapse=True, sort="ops", top=3))
    assert sorted(heaviest) == [f"layers.0–31.mlp.{p}_proj" for p in ("down", "gate", "up")]
    down = r.modules["layers.0.mlp.down_proj"]
    assert heaviest[0] == "layers.0–31.mlp.down_proj"  # 176 inputs per output beat 64
    assert all(r.modules[f"layers.{i}.mlp.down_proj"].self_ops == down.self_ops for i in range(32))
    # unfolded, the same sort lists single modules
    assert names_of(r.table(sort="ops", top=1)) == ["layers.0.mlp.down_proj"]


def test_a_single_block_is_not_folded() -> None:
    r = llama(layers=1)
    text = r.table(collapse=True)
    assert text == r.table()  # nothing folds: the ordinary table, no "each" columns
    assert names_of(text)[3] == "0"


def test_blocks_that_differ_in_one_shape_do_not_fold() -> None:
    from tests.fixtures.llama import HIDDEN

    wider = 16
    widths = (HIDDEN,) * wider + (HIDDEN + 8,) + (HIDDEN,) * (LAYERS - wider - 1)
    r = llama(hidden=widths)
    names = names_of(r.table(collapse=True, max_depth=2))
    assert names[3:6] == ["0–15 ×16", "16", f"17–{LAYERS - 1} ×{LAYERS - wider - 1}"]
    # identical but not consecutive blocks stay apart: 0–15 and 17–31 are two rows
    assert names.count("16") == 1


class Expert(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


class Stage(nn.Module):
    def __init__(self, width: int, experts: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(Expert(width) for _ in range(experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for expert in self.experts:
            x = expert(x)
        return x


def test_nested_repeats_fold_at_each_level() -> None:
    from flopcount._table import table_lines

    stages, experts, rows, width = 3, 4, 5, 6
    model = nn.Sequential(*(Stage(width, experts) for _ in range(stages)))
    r = flopcount.count(model, torch.randn(rows, width))
    text = r.table(collapse=True, names="qualified")
    assert names_of(text) == [
        "(root)",
        f"0–{stages - 1} ×{stages}",
        f"0–{stages - 1}.experts",
        f"0–{stages - 1}.experts.0–{experts - 1} ×{experts}",
        f"0–{stages - 1}.experts.0–{experts - 1}.up",
        f"0–{stages - 1}.experts.0–{experts - 1}.down",
    ]
    up = {line.path: line for line in table_lines(r, collapse=True)}["0–2.experts.0–3.up"]
    assert up.repeats == stages * experts
    assert up.count("macs") == stages * experts * rows * width * 2 * width
    assert up.count("calls") == stages * experts
    # the expert's ReLU is a torch call of its own: self ops of every expert, summed
    expert = {line.path: line for line in table_lines(r, collapse=True)}["0–2.experts.0–3"]
    assert expert.count("self_ops") == stages * experts * rows * 2 * width


def test_collapse_in_html_and_cli_and_bad_values() -> None:
    r = llama(layers=4)
    page = r.to_html(collapse=True)
    assert "0–3 ×4" in page and "×N: N consecutive siblings" in page
    assert "0–3 ×4" not in r.to_html()
    for bad in ("yes", 1, None):
        try:
            r.table(collapse=bad)  # type: ignore[arg-type]
        except TypeError as error:
            assert f"collapse must be True or False, got {bad!r}" in str(error)
        else:
            raise AssertionError(f"collapse={bad!r} was accepted")


def test_rows_never_called_show_a_dash_and_the_legend_says_why() -> None:
    r = llama(layers=2)
    text = r.table()
    row = next(line for line in text.splitlines() if line.strip().startswith("layers"))
    cells = row.split()
    assert cells[1:4] == ["ModuleList", "—", "—"]  # calls and input shape
    assert r.modules["layers"].calls == 0  # the data keeps its integer
    assert "—: not called itself: a container such as ModuleList" in text
    assert "—:" not in report().table()  # no such row, no legend line

    mha = nn.Sequential(nn.MultiheadAttention(8, 2, batch_first=True))

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = mha[0]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    text = flopcount.count(SelfAttention(), torch.randn(1, 3, 8)).table()
    out_proj = next(line for line in text.splitlines() if "out_proj" in line).split()
    assert out_proj[1:3] == ["NonDynamicallyQuantizableLinear", "—"]
    assert "MultiheadAttention's out_proj" in text


def test_only_consecutive_indices_fold() -> None:
    from collections import OrderedDict

    rows, width = 2, 3
    # "0" and "2" are alike and adjacent, but a range 0–2 would claim a block 1; "a", "b"
    # are alike but have no index to make a range of
    named = OrderedDict((name, nn.Linear(width, width)) for name in ("0", "2", "a", "b"))
    r = flopcount.count(nn.Sequential(named), torch.randn(rows, width))
    assert names_of(r.table(collapse=True))[1:] == ["0", "2", "a", "b"]
