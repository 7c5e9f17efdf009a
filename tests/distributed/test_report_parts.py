"""The single-process parts of distributed support: names, markers, summing reports."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.distributed as dist
from torch import nn

import flopcount
from flopcount import Count, ModuleStats
from flopcount._distributed import CollectiveStats, _merged
from flopcount._operators import operator_name

from . import scenarios, spawn


def test_torch_ops_are_named_as_users_write_them() -> None:
    assert operator_name(torch.ops.aten.add.Tensor) == "torch.ops.aten.add.Tensor"
    assert operator_name(torch.ops.aten.add) == "torch.ops.aten.add"
    assert operator_name(torch.ops.profiler._record_function_enter_new.default) == (
        "torch.ops.profiler._record_function_enter_new"
    )
    if dist.is_available():
        functional = torch.ops._c10d_functional.all_reduce.default
        assert operator_name(functional) == "torch.ops._c10d_functional.all_reduce"
        assert operator_name(dist.distributed_c10d.all_gather) == "torch.distributed.all_gather"


class Marked(nn.Module):
    """Emits the profiler's record-function markers, as FSDP and DDP do around their hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autograd.profiler.record_function("marked"):
            return self.linear(x) * 2


def test_record_function_markers_are_known_and_cost_nothing() -> None:
    rows = 3
    report = flopcount.count(Marked(), torch.randn(rows, 4), strict=True)
    assert report.unsupported == {}
    assert report.total == rows * 4 * 2 * 4 + rows * 4  # Linear(4, 4) with bias, then × 2


def row(name: str, depth: int, ops: int, children: tuple[str, ...] = ()) -> ModuleStats:
    return ModuleStats(
        name, "Linear", depth, 1, ops, ops // 2, ops, ops // 2, ((2, 4),), True, children
    )


def test_merging_sums_every_count_field_including_ones_added_later() -> None:
    """A count field a later release adds to ModuleStats is summed too, whatever it holds
    (numbers, Counts, mappings of them); what describes the row (name, type, depth,
    shapes) is kept."""
    later = dataclasses.make_dataclass(
        "LaterStats",
        [("later", dict, dataclasses.field(default_factory=dict))],
        bases=(ModuleStats,),
    )
    a = later(*dataclasses.astuple(row("block", 1, 10, ("block.0",))), {"forward": Count(10, 5)})
    b = later(
        *dataclasses.astuple(row("block", 1, 30, ("block.1",))),
        {"forward": Count(20, 5), "backward": Count(7, 3)},
    )
    merged = _merged([a, b])
    assert (merged.name, merged.depth, merged.input_shapes) == ("block", 1, ((2, 4),))
    assert (merged.ops, merged.macs, merged.calls) == (10 + 30, 5 + 15, 2)
    assert merged.later == {"forward": Count(30, 10), "backward": Count(7, 3)}
    assert merged.children == ("block.0", "block.1")  # pipeline stages: the union
    issued = [{"x": CollectiveStats(1, 8, 32)}, {"x": CollectiveStats(2, 8, 32)}]
    assert _merged(issued) == {"x": CollectiveStats(3, 16, 64)}


@spawn.requires_gloo
def test_gather_on_one_rank_is_that_ranks_report() -> None:
    """In a process of its own (spawn.run): torch 2.6's gloo once hung in
    ``destroy_process_group()`` of an in-process one-rank group, and a hang there would
    stop the whole suite."""
    pytest.importorskip("numpy", reason="all_gather_object needs numpy")
    (checks,) = spawn.run(scenarios.one_rank_gather, 1)
    assert checks["totals"][0] == checks["totals"][1]
    assert checks["rank_macs"] == [checks["totals"][1][1]]
    assert checks["same_rows"] and checks["same_row_2"]
    assert checks["gathered_header_has_ranks"] and not checks["own_table_has_ranks"]


def test_gather_outside_a_process_group_says_what_is_missing() -> None:
    if dist.is_available() and dist.is_initialized():
        pytest.skip("a process group is initialized in this process")
    report = flopcount.count(nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        report.gather()
